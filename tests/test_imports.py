"""Imports flow one way: the package's import graph, read from the source with every function-level
import included, has no cycle (`python -m tests.helpers.imports` prints the figures)."""

from __future__ import annotations

from helpers.imports import Edge, cycles, edges, figures, graph, simple_cycles

# The pure-data layer (ARCHITECTURE.md): nothing here touches disk, display, the network or the session.
PURE_DATA = {
    f"imagemagic.{name}"
    for name in (
        "_version", "params", "catalog", "errors", "imaging", "inputimage", "request",
        "sse", "expand", "usage", "endpoint", "batch_io", "edits", "sizes", "profiles", "capabilities",
    )
}  # fmt: skip


def _described(loop: tuple[str, ...], all_edges: list[Edge]) -> str:
    steps = []
    for source, target in zip(loop, (*loop[1:], loop[0])):
        where = next(e for e in all_edges if e.source == source and e.target == target)
        kind = "in a function" if where.deferred else "at module level"
        steps.append(f"{source} imports {target} ({kind}, line {where.line})")
    return "; ".join(steps)


def test_the_package_has_no_import_cycle():
    all_edges = edges()
    found = simple_cycles(graph(all_edges))
    assert not found, "import cycles:\n" + "\n".join(_described(loop, all_edges) for loop in found)


def _reached(g: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in g[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_pure_data_sits_below_everything_that_touches_disk_or_display():
    g = graph(edges())
    above = {m: sorted(_reached(g, m) - PURE_DATA) for m in sorted(PURE_DATA)}
    assert {m: reached for m, reached in above.items() if reached} == {}


def test_the_local_server_stands_on_pure_data_only():
    g = graph(edges())
    server = {m for m in g if m.startswith("imagemagic.server")}
    reached = set().union(*(_reached(g, m) for m in server))
    assert sorted(reached - server - PURE_DATA) == []


def test_a_cycle_through_a_function_level_or_type_only_import_is_found(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text("def f():\n    from .high import g\n    return g\n")
    (package / "high.py").write_text(
        "from typing import TYPE_CHECKING\n\nfrom . import low\n\nif TYPE_CHECKING:\n    from .side import T\n"
    )
    (package / "side.py").write_text("from .high import low\n")
    all_edges = edges(package)
    # a TYPE_CHECKING import does not run, but it is a dependency: it closes a cycle too
    assert simple_cycles(graph(all_edges)) == [("pkg.high", "pkg.side"), ("pkg.high", "pkg.low")]
    assert cycles(graph(all_edges)) == [["pkg.high", "pkg.low", "pkg.high"]]
    assert [e.deferred for e in all_edges if e.source == "pkg.low"] == [True]
    assert figures(package)["deferred into functions"] == 1
