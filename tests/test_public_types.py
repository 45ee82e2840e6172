"""The public API is typed: every function in imagemagic.__all__ and every public method of its classes
is fully annotated, and what `__getattr__` loads lazily is spelled out for type checkers."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import imagemagic


def _unannotated(function) -> list[str]:
    """The parameters (and "return") of `function` that carry no annotation."""
    hints = function.__annotations__
    names = [name for name in inspect.signature(function).parameters if name not in ("self", "cls")]
    return [name for name in [*names, "return"] if name not in hints]


def _public_functions(cls) -> dict[str, object]:
    """The functions behind the public methods and properties `cls` defines itself (with __init__)."""
    found = {}
    for name, member in vars(cls).items():
        if name.startswith("_") and name != "__init__":
            continue
        function = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
        if inspect.isfunction(function) and function.__qualname__.startswith(cls.__name__ + "."):
            found[f"{cls.__name__}.{name}"] = function
    return found


def test_every_public_function_and_method_is_annotated():
    missing = {}
    for name in imagemagic.__all__:
        obj = getattr(imagemagic, name)
        if inspect.isfunction(obj):
            functions = {name: obj}
        elif inspect.isclass(obj):
            functions = {
                k: v
                for c in obj.__mro__
                if c.__module__.startswith("imagemagic")
                for k, v in _public_functions(c).items()
            }
        else:
            continue
        missing.update({k: gaps for k, f in functions.items() if (gaps := _unannotated(f))})
    assert missing == {}


def test_the_lazy_exports_are_spelled_out_for_type_checkers():
    tree = ast.parse(Path(imagemagic.__file__).read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
    spelled = {
        alias.name: node.module
        for node in block.body
        if isinstance(node, ast.ImportFrom) and node.level == 1
        for alias in node.names
    }
    assert spelled == imagemagic._EXPORTS
