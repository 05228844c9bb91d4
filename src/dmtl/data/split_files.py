"""Split files of the partially labelled benchmarks, read safely into a label mask bool[N, K].

Three formats are in use (docs/datasets.md); the file's content decides which one it is:

* MTPSL (NYUv2, Cityscapes): a torch file ``{'labels_weights': FloatTensor[N, K]}``, row i for
  training sample i, columns in the order of the label tasks.
* PASCAL-Context lists: a ``.npy`` file holding a 0-d object array with a dict
  ``{task: [image_id, ...]}`` (the images whose label of that task may be used).
* The DiffusionMTL PASCAL variant: a torch file ``{image_id: [K ints]}``, columns in the order
  semseg, human_parts, sal, normals, edge (the label tasks' order).

No file is ever unpickled with arbitrary globals, and ``weights_only=False`` is never used. The
DiffusionMTL files were written from numpy, so their image ids are ``numpy.str_`` (and their rows
may be numpy integer arrays or scalars), which plain ``weights_only=True`` refuses: torch files are
read with ``weights_only=True`` plus an explicit allow-list of exactly the numpy constructors and
dtypes such files need (``torch.serialization.safe_globals``: numpy scalars, arrays and the
string, bool and integer dtypes, under their numpy 1 and numpy 2 module names). The object array
of a ``.npy`` list is read with an unpickler that only rebuilds numpy arrays and scalars. A file
that is still refused is a one-line ``DataError`` naming the file, the global it needed and the
formats tried. Every mismatch with the dataset (length, unknown image id, uncovered sample,
unknown task) is a ``DataError`` that names the file.
"""

from __future__ import annotations

import importlib
import pickle
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dmtl.data.labels import SPLIT_FILE_KEY, load_split_file
from dmtl.errors import DataError, MissingDataError

NPY_MAGIC = b"\x93NUMPY"
FORMATS_TRIED = (
    f"tried {{'{SPLIT_FILE_KEY}': [N, K]}} and {{image_id: [K ints]}} (torch files), "
    "{task: [image ids]} (.npy)"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_REFUSED_GLOBAL = re.compile(r"\bGLOBAL ([\w.]+)")
_REFUSED_TYPE = re.compile(r"but got <class '([\w.]+)'>")
# the lines of torch's weights_only message that give advice rather than the reason
_TORCH_ADVICE = (
    "Weights only load failed",
    "(1)",
    "(2)",
    "Please file an issue",
    "Check the documentation",
)


def _multiarray() -> Any:
    """numpy's ``multiarray`` module: ``numpy._core`` since numpy 2, ``numpy.core`` before."""
    try:
        return importlib.import_module("numpy._core.multiarray")
    except ImportError:  # numpy < 1.26 has no numpy._core
        return importlib.import_module("numpy.core.multiarray")


def _numpy_globals() -> dict[str, Any]:
    """The globals a pickled numpy array or scalar names, by the names numpy 1 and 2 write."""
    multiarray = _multiarray()
    names = {"numpy.ndarray": np.ndarray, "numpy.dtype": np.dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        names[f"{module}._reconstruct"] = multiarray._reconstruct
        names[f"{module}.scalar"] = multiarray.scalar
    return names


_NUMPY_GLOBALS = _numpy_globals()
# torch's unpickler also checks the type of every object whose state it restores: the dtype
# classes of string ids and of bool/integer rows (no object or float dtype is allowed)
_ROW_DTYPES = "?" + np.typecodes["AllInteger"] + "U"
TORCH_SAFE_GLOBALS: list[Any] = [(obj, name) for name, obj in _NUMPY_GLOBALS.items()] + sorted(
    {type(np.dtype(code)) for code in _ROW_DTYPES}, key=lambda cls: cls.__name__
)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global except numpy's array and scalar constructors."""

    def find_class(self, module: str, name: str) -> Any:
        if f"{module}.{name}" not in _NUMPY_GLOBALS:
            raise pickle.UnpicklingError(f"refused to load global {module}.{name}")
        return _NUMPY_GLOBALS[f"{module}.{name}"]


def read_npy_object(path: Path) -> Any:
    """The object held by a ``.npy`` file of a 0-d object array, without running pickled code.

    Raises:
        DataError: not a ``.npy`` object array, or its pickle needs anything but numpy arrays.
    """
    try:
        with open(path, "rb") as file:
            version = np.lib.format.read_magic(file)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(file)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(file)
            if dtype != np.dtype(object) or shape != ():
                raise DataError(
                    f"split file {path} holds a {dtype} array of shape {shape}; expected a 0-d "
                    "object array holding {task: [image ids]}"
                )
            array = _NumpyOnlyUnpickler(file).load()
    except DataError:
        raise
    except Exception as err:  # corrupt headers and refused globals raise many types
        raise DataError(
            f"split file {path} could not be read safely as a .npy {{task: [image ids]}}: "
            f"{_first_line(err)}"
        ) from err
    if isinstance(array, np.ndarray) and array.shape == ():
        return array.item()
    return array


def read_split_file(
    path: str | Path, sample_ids: Sequence[str], label_tasks: Sequence[str]
) -> torch.Tensor:
    """Read any of the three split-file formats as bool[N, K] over the training samples.

    Args:
        path: the split file.
        sample_ids: the training samples' ids in dataset order (N); MTPSL rows are by position.
        label_tasks: the K label tasks (column order of the matrix formats).

    Raises:
        MissingDataError: the file does not exist.
        DataError: unreadable, of no known format, or not matching the dataset.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"split file {path} does not exist")
    with open(path, "rb") as file:
        is_npy = file.read(len(NPY_MAGIC)) == NPY_MAGIC
    if is_npy:
        return _task_lists(path, read_npy_object(path), sample_ids, label_tasks)
    content = read_torch_file(path)
    if isinstance(content, dict) and SPLIT_FILE_KEY in content:
        return load_split_file(path, len(sample_ids), len(label_tasks))
    if isinstance(content, dict) and content and all(isinstance(k, str) for k in content):
        return _per_image_rows(path, content, sample_ids, label_tasks)
    raise DataError(
        f"split file {path} is of no known format: expected {{'{SPLIT_FILE_KEY}': [N, K]}}, "
        "{image_id: [K ints]} or a .npy {task: [image ids]}"
    )


def read_torch_file(path: Path) -> Any:
    """The content of a torch split file, read with ``weights_only=True`` and the numpy allow-list.

    Raises:
        DataError: refused or unreadable; one line naming the file, the reason and the formats.
    """
    try:
        with torch.serialization.safe_globals(TORCH_SAFE_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe pickles
        raise DataError(
            f"split file {path} could not be read safely: {_torch_reason(err)}; {FORMATS_TRIED}"
        ) from err


def _torch_reason(err: Exception) -> str:
    """Why ``torch.load`` refused a file, in a few words (no colour codes, no torch advice)."""
    text = _ANSI.sub("", str(err))
    refused = _REFUSED_GLOBAL.search(text)
    if refused:
        return f"it needs the global {refused.group(1)}, which is not allowed"
    refused = _REFUSED_TYPE.search(text)
    if refused:
        return f"it holds a {refused.group(1)}, which is not allowed"
    if text.startswith("Weights only load failed"):
        details = [
            line.strip().removeprefix("WeightsUnpickler error:").strip().split(" Please use")[0]
            for line in text.splitlines()
            if line.strip() and not line.strip().startswith(_TORCH_ADVICE)
        ]
        return f"the safe loader refused it ({details[0] if details else 'no details'})"
    return f"not a torch file ({type(err).__name__}: {_first_line(err)})"


def _first_line(err: Exception) -> str:
    """The first non-empty line of an error's message, without terminal colour codes."""
    lines = [line.strip() for line in _ANSI.sub("", str(err)).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def _index_of(sample_ids: Sequence[str]) -> dict[str, int]:
    return {str(sample_id): i for i, sample_id in enumerate(sample_ids)}


def _unknown_id(path: Path, image_id: Any, num: int) -> DataError:
    return DataError(
        f"split file {path} names image {image_id!r}, which is not among the {num} training "
        "samples of the dataset (a split file of another split or dataset?)"
    )


def _per_image_rows(
    path: Path, rows: Mapping[str, Any], sample_ids: Sequence[str], label_tasks: Sequence[str]
) -> torch.Tensor:
    index = _index_of(sample_ids)
    num, num_tasks = len(sample_ids), len(label_tasks)
    mask = torch.zeros(num, num_tasks, dtype=torch.bool)
    for key, row in rows.items():
        image_id = str(key)  # numpy.str_ in the DiffusionMTL files
        if image_id not in index:
            raise _unknown_id(path, image_id, num)
        values = torch.as_tensor(row).flatten()
        if values.numel() != num_tasks or not torch.isin(values, torch.tensor([0, 1])).all():
            raise DataError(
                f"split file {path}: the row of image {image_id!r} is {values.tolist()}; expected "
                f"{num_tasks} values in {{0, 1}} for {', '.join(label_tasks)}"
            )
        mask[index[image_id]] = values.bool()
    if len(rows) != num:
        missing = next(str(s) for s in sample_ids if str(s) not in rows)
        raise DataError(
            f"split file {path} has {len(rows)} rows but the dataset has N={num} training "
            f"samples (no row for image {missing!r})"
        )
    return mask


def _task_lists(
    path: Path, lists: Any, sample_ids: Sequence[str], label_tasks: Sequence[str]
) -> torch.Tensor:
    if not isinstance(lists, dict):
        raise DataError(
            f"split file {path} holds a {type(lists).__name__}; expected {{task: [image ids]}}"
        )
    unknown = sorted(str(k) for k in lists if k not in label_tasks)
    missing = [t for t in label_tasks if t not in lists]
    if unknown or missing:
        raise DataError(
            f"split file {path} has task lists {sorted(map(str, lists))}; the label tasks are "
            f"{list(label_tasks)} (unknown: {unknown}, missing: {missing})"
        )
    index = _index_of(sample_ids)
    num = len(sample_ids)
    mask = torch.zeros(num, len(label_tasks), dtype=torch.bool)
    for column, task in enumerate(label_tasks):
        for image_id in lists[task]:
            if str(image_id) not in index:
                raise _unknown_id(path, str(image_id), num)
            mask[index[str(image_id)], column] = True
    uncovered = (~mask.any(dim=1)).nonzero().flatten()
    if len(uncovered):
        raise DataError(
            f"split file {path} labels {num - len(uncovered)} of the N={num} training samples; "
            f"image {sample_ids[int(uncovered[0])]!r} is in no task list"
        )
    return mask
