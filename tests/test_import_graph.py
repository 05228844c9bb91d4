"""No import circle among dmtl's modules, function-level imports included.

An import of ``dmtl.a.b`` runs ``dmtl/a/__init__.py`` too, so it counts as an edge to the package
``dmtl.a`` as well, unless the importing module lies inside ``dmtl.a`` (its packages are initialised
before it); imports under ``if TYPE_CHECKING:`` never run and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

from support import REPO

SRC = REPO / "src"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """The dmtl modules a module's (run-time) imports name, relative imports resolved."""
    found: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        stack.extend(ast.iter_child_nodes(node))
    return {name for name in found if name.startswith("dmtl.")}


def import_graph() -> dict[str, set[str]]:
    """dmtl module -> the dmtl modules (and their parent packages) it imports."""
    files = {_module_name(p): p for p in SRC.glob("dmtl/**/*.py")}
    graph = {}
    for name, path in files.items():
        edges = set()
        ancestors = {".".join(name.split(".")[:end]) for end in range(1, name.count(".") + 1)}
        for target in _imported(ast.parse(path.read_text()), name, path.name == "__init__.py"):
            parts = target.split(".")
            for end in range(2, len(parts) + 1):  # the target and every package above it
                module = ".".join(parts[:end])
                # a module's own packages are initialised before it: importing them runs nothing
                if module in files and (module == target or module not in ancestors):
                    edges.add(module)
        graph[name] = edges - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_a_module_importing_a_sibling_has_no_edge_to_its_own_package() -> None:
    graph = import_graph()
    assert "dmtl.metrics" not in graph["dmtl.metrics.boundary_ods"]
    assert "dmtl.metrics.boundary" in graph["dmtl.metrics.boundary_ods"]


def test_cycle_finder_finds_a_circle_through_a_package() -> None:
    graph = {"dmtl.a": {"dmtl.a.x"}, "dmtl.a.x": {"dmtl.b"}, "dmtl.b": {"dmtl.a"}, "dmtl.c": set()}
    assert cycles(graph) == [["dmtl.a", "dmtl.a.x", "dmtl.b"]]


def test_no_import_circle_among_dmtl_modules() -> None:
    graph = import_graph()
    assert "dmtl.tasks.kinds" in graph["dmtl.tasks.registry"]  # the graph sees the imports
    function_level = graph["dmtl.tasks.kinds.segmentation"]
    assert "dmtl.metrics.segmentation" in function_level  # function-level imports too
    assert cycles(graph) == []
