"""The dataset registry is the one place that keys facts by dataset name.

A dataset name written as a string in ``src/dmtl`` keys something when it is a dict key, an
operand of a comparison (``==``, ``in``, ...), a subscript, an element of a tuple, list or set
literal, or a ``case`` pattern. Naming a dataset as a value (a default such as
``dataset: str = "synthetic"``, an argument of ``dataset_info("nyud")``) reads the registry and is
fine. The check reads the syntax tree, so layout and quoting do not fool it, and a failure names
the file, the line, the name and the form.
"""

from __future__ import annotations

import ast
from pathlib import Path

from dmtl.data.datasets import DATASETS
from support import REPO

SRC = REPO / "src" / "dmtl"
# where dataset names may key things: the registry, and the renderer of the synthetic datasets
# (its variants' cache versions and seed streams are its own); the readers read the registry
ALLOWED = ("data/datasets/", "data/synthetic/")
# files of other branches not yet moved onto the registry -> what is left to do there
NOT_YET: dict[str, str] = {}


def _names_in(node: ast.AST, names: set[str]) -> list[ast.Constant]:
    if isinstance(node, ast.Constant) and node.value in names:
        return [node]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [e for e in node.elts if isinstance(e, ast.Constant) and e.value in names]
    return []


def keyed_names(source: str, names: set[str]) -> list[tuple[int, str, str]]:
    """(line, name, form) of every dataset name of ``names`` that keys something in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Dict):
            hits = [
                (c, "dict key") for k in node.keys if k is not None for c in _names_in(k, names)
            ]
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            hits = [(c, "comparison") for o in operands for c in _names_in(o, names)]
        elif isinstance(node, ast.Subscript):
            hits = [(c, "subscript") for c in _names_in(node.slice, names)]
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            hits = [(c, "collection") for c in _names_in(node, names)]
        elif isinstance(node, ast.MatchValue):
            hits = [(c, "case") for c in _names_in(node.value, names)]
        else:
            hits = []
        found += [(c.lineno, c.value, form) for c, form in hits]
    return sorted(set(found))


def test_the_check_finds_every_form_and_lets_values_pass() -> None:
    source = """
TABLE = {"nyuv2": 1}
PICK = ("cityscapes", "other")
def f(dataset: str = "synthetic", x=None):
    g(dataset="nyud")
    if dataset == "folder" or dataset in ("pascal_context",):
        return x["nyud"]
    match dataset:
        case "cityscapes19":
            pass
"""
    found = keyed_names(source, set(DATASETS))
    assert found == [
        (2, "nyuv2", "dict key"),
        (3, "cityscapes", "collection"),
        (6, "folder", "comparison"),
        (6, "pascal_context", "collection"),
        (6, "pascal_context", "comparison"),
        (7, "nyud", "subscript"),
        (9, "cityscapes19", "case"),
    ]


def test_no_module_outside_the_registry_keys_a_dataset_name() -> None:
    names = set(DATASETS)
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative.startswith(ALLOWED):
            continue
        hits = keyed_names(path.read_text(), names)
        if hits:
            found[relative] = [
                f"src/dmtl/{relative}:{n}: {name!r} ({how})" for n, name, how in hits
            ]
    outside = [line for file, lines in found.items() if file not in NOT_YET for line in lines]
    assert outside == [], "dataset names keyed outside dmtl.data.datasets:\n" + "\n".join(outside)
    assert sorted(found) == sorted(NOT_YET), "NOT_YET lists a file that is done: remove it"


def test_the_allowed_folders_exist() -> None:
    assert all((SRC / folder).is_dir() for folder in ALLOWED)
    assert all(Path(SRC / file).is_file() for file in NOT_YET)
