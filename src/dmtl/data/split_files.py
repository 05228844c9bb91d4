"""Split files of the partially labelled benchmarks, read safely into a label mask bool[N, K].

Three formats are in use (docs/datasets.md); the file's content decides which one it is:

* MTPSL (NYUv2, Cityscapes): a torch file ``{'labels_weights': FloatTensor[N, K]}``, row i for
  training sample i, columns in the order of the label tasks.
* PASCAL-Context lists: a ``.npy`` file holding a 0-d object array with a dict
  ``{task: [image_id, ...]}`` (the images whose label of that task may be used).
* The DiffusionMTL PASCAL variant: a torch file ``{image_id: [K ints]}``, columns in the order
  semseg, human_parts, sal, normals, edge (the label tasks' order).

No file is ever unpickled with arbitrary globals: torch files are read with ``weights_only=True``
and the object array of a ``.npy`` list with an unpickler that only rebuilds numpy arrays and
scalars. Every mismatch with the dataset (length, unknown image id, uncovered sample, unknown task)
is a ``DataError`` that names the file.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dmtl.data.labels import SPLIT_FILE_KEY, load_split_file
from dmtl.errors import DataError, MissingDataError

NPY_MAGIC = b"\x93NUMPY"
# the only globals a pickled 0-d object array of plain lists and strings needs
_SAFE_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global except numpy's array and scalar constructors."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"refused to load global {module}.{name}")
        return super().find_class(module, name)


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
        raise DataError(f"split file {path} could not be read safely: {err}") from err
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
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe pickles
        message = f"split file {path} could not be read safely: {err}".splitlines()[0]
        raise DataError(message) from err
    if isinstance(content, dict) and SPLIT_FILE_KEY in content:
        return load_split_file(path, len(sample_ids), len(label_tasks))
    if isinstance(content, dict) and content and all(isinstance(k, str) for k in content):
        return _per_image_rows(path, content, sample_ids, label_tasks)
    raise DataError(
        f"split file {path} is of no known format: expected {{'{SPLIT_FILE_KEY}': [N, K]}}, "
        "{image_id: [K ints]} or a .npy {task: [image ids]}"
    )


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
    for image_id, row in rows.items():
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
        missing = next(s for s in sample_ids if str(s) not in rows)
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
