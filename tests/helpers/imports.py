"""The package's import graph, read from the source (AST), and the figures the structure is judged by.

Every `import` counts, at module level, inside a function or under `if TYPE_CHECKING:` (a type-only
import does not run, but it is a dependency all the same: types flow one way too). An edge goes to the
module that is imported (`from .server import app` → imagemagic.server.app; `from .request import Problem`
→ imagemagic.request), never to the parent packages Python also initialises.

    python -m tests.helpers.imports        # prints the figures: cycles, levels, deferred imports, annotations
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "imagemagic"


@dataclass(frozen=True)
class Edge:
    """One import statement of one internal module by another."""

    source: str
    target: str
    line: int
    deferred: bool  # inside a function, not at module level


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    """{dotted name: file} for every module of the package."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(tree: ast.AST):
    """(import node, deferred) for each import of the module, type-only ones included."""

    def walk(node, deferred):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, deferred
            inner = deferred or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            yield from walk(child, inner)

    yield from walk(tree, False)


def _base(name: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module a `from ... import` names."""
    if not node.level:
        return node.module or ""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def edges(package: Path = PACKAGE) -> list[Edge]:
    """Every import of one module of the package by another (or by itself)."""
    mods = modules(package)
    found = []
    for name, path in mods.items():
        for node, deferred in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = _base(name, path, node)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for target in dict.fromkeys(targets):
                if target in mods:
                    found.append(Edge(name, target, node.lineno, deferred))
    return found


def graph(all_edges: list[Edge]) -> dict[str, set[str]]:
    """{module: the modules it imports}."""
    result: dict[str, set[str]] = {}
    for e in all_edges:
        result.setdefault(e.source, set()).add(e.target)
        result.setdefault(e.target, set())
    return result


def components(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components (Tarjan), each a sorted list of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            found.append(sorted(scc))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Each import cycle as one closed path (a → b → … → a): one per component, plus every self-import."""
    found = []
    for scc in components(g):
        if len(scc) > 1:
            found.append(_shortest_loop(g, scc))
        elif scc[0] in g[scc[0]]:
            found.append([scc[0], scc[0]])
    return found


def simple_cycles(g: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Every elementary cycle, each as the tuple of its modules starting from the least name."""
    found = []
    order = sorted(g)
    for i, start in enumerate(order):
        allowed = set(order[i:])  # cycles through an earlier module were found from it
        stack = [(start, [start])]
        while stack:
            v, path = stack.pop()
            for w in sorted(g[v] & allowed):
                if w == start:
                    found.append(tuple(path))
                elif w not in path:
                    stack.append((w, [*path, w]))
    return found


def _shortest_loop(g: dict[str, set[str]], scc: list[str]) -> list[str]:
    members, start = set(scc), scc[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(g[v] & members):
            if w == start:
                return paths[v] + [start]
            if w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    raise AssertionError(f"{scc} is not a cycle")


def levels(g: dict[str, set[str]]) -> int:
    """The longest import chain, in modules (a module importing nothing internal is level 1).

    A cycle counts as one step: the chain is measured on the graph of its components."""
    owner = {m: i for i, scc in enumerate(components(g)) for m in scc}
    depth: dict[int, int] = {}

    def level(c: int, members: list[str]) -> int:
        if c not in depth:
            below = {owner[t] for m in members for t in g[m]} - {c}
            depth[c] = 1 + max((level(d, comps[d]) for d in below), default=0)
        return depth[c]

    comps = components(g)
    return max(level(i, scc) for i, scc in enumerate(comps))


def annotations(package: Path = PACKAGE) -> tuple[int, int]:
    """(fully annotated functions: the return and every parameter but self/cls, all functions) in the package."""
    annotated = total = 0
    for path in modules(package).values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                total += 1
                args = node.args
                params = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
                params = [a for a in params if a is not None and a.arg not in ("self", "cls")]
                if node.returns is not None and all(a.annotation is not None for a in params):
                    annotated += 1
    return annotated, total


def figures(package: Path = PACKAGE) -> dict[str, object]:
    """The structure's figures: modules, imports, deferred imports, cycles (strongly connected groups of
    modules, and the elementary cycles within them), levels, annotated functions."""
    all_edges = edges(package)
    g = graph(all_edges)
    annotated, total = annotations(package)
    return {
        "modules": len(modules(package)),
        "internal imports": len(all_edges),
        "deferred into functions": sum(e.deferred for e in all_edges),
        "cycles": len(cycles(g)),
        "elementary cycles": len(simple_cycles(g)),
        "levels": levels(g),
        "annotated functions": f"{annotated} of {total}",
    }


if __name__ == "__main__":
    all_edges = edges()
    for key, value in figures().items():
        print(f"{key}: {value}")
    for loop in cycles(graph(all_edges)):
        print("cycle:", " → ".join(loop))
