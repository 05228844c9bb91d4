"""Split files of every format: mapped onto the samples by id, refused safely on a mismatch."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from dmtl.data.labels import save_split_file
from dmtl.data.split_files import read_npy_object, read_split_file
from dmtl.errors import DataError, MissingDataError

IDS = ["2008_000002", "2008_000003", "2008_000007", "2009_000011"]
TASKS = ["semseg", "human_parts", "sal", "normals", "edge"]


def _save_lists(path: Path, lists: dict) -> Path:
    np.save(path, lists, allow_pickle=True)  # the PASCAL lists: a 0-d object array of a dict
    return path


def test_task_lists_map_ids_to_rows(tmp_path: Path) -> None:
    lists = {"semseg": [IDS[2], IDS[0]], "human_parts": [IDS[1]], "sal": [np.str_(IDS[3])],
             "normals": [IDS[0]], "edge": []}  # fmt: skip
    mask = read_split_file(_save_lists(tmp_path / "onelabel.npy", lists), IDS, TASKS)
    expected = torch.zeros(4, 5, dtype=torch.bool)
    expected[2, 0] = expected[0, 0] = expected[1, 1] = expected[3, 2] = expected[0, 3] = True
    torch.testing.assert_close(mask, expected)


def test_per_image_rows_follow_the_task_order(tmp_path: Path) -> None:
    rows = {IDS[3]: [0, 0, 0, 0, 1], IDS[0]: [1, 0, 0, 0, 0], IDS[1]: [0, 1, 1, 0, 0],
            IDS[2]: torch.tensor([0, 0, 0, 1, 0])}  # fmt: skip
    path = tmp_path / "new_onelabel.pth"
    torch.save(rows, path)
    mask = read_split_file(path, IDS, TASKS)
    assert mask[0].tolist() == [True, False, False, False, False]
    assert mask[1].tolist() == [False, True, True, False, False]
    assert mask[2, 3] and mask[3, 4] and mask.sum() == 5


def test_mtpsl_matrix_is_by_position(tmp_path: Path) -> None:
    path = tmp_path / "onelabel.pth"
    matrix = torch.tensor([[1, 0], [0, 1], [0, 1]], dtype=torch.bool)
    save_split_file(matrix, path)
    torch.testing.assert_close(read_split_file(path, ["0", "1", "2"], ["semseg", "depth"]), matrix)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ({IDS[0]: [1, 0, 0, 0, 0]}, r"has 1 rows but the dataset has N=4 .*'2008_000003'"),
        ({**{i: [1, 0, 0, 0, 0] for i in IDS}, "2012_999999": [1, 0, 0, 0, 0]}, "2012_999999"),
        ({i: [1, 0, 0, 0] for i in IDS}, r"expected 5 values"),
        ({i: [2, 0, 0, 0, 0] for i in IDS}, r"expected 5 values in \{0, 1\}"),
        ({"labels_weights": torch.ones(7, 5)}, r"N=7.*N=4"),
        ([1, 2, 3], "no known format"),
    ],
)
def test_torch_files_that_do_not_match_name_the_file(tmp_path, content, needle) -> None:
    path = tmp_path / "split.pth"
    torch.save(content, path)
    with pytest.raises(DataError, match=needle) as info:
        read_split_file(path, IDS, TASKS)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("lists", "needle"),
    [
        ({t: IDS[:2] for t in TASKS}, r"labels 2 of the N=4 .*'2008_000007' is in no task list"),
        ({**{t: IDS for t in TASKS}, "depth": IDS}, r"unknown: \['depth'\]"),
        ({t: IDS for t in TASKS[:4]}, r"missing: \['edge'\]"),
        ({**{t: IDS for t in TASKS}, "sal": ["2011_000001"]}, "2011_000001"),
    ],
)
def test_task_lists_that_do_not_match_name_the_file(tmp_path, lists, needle) -> None:
    path = _save_lists(tmp_path / "randomlabels.npy", lists)
    with pytest.raises(DataError, match=needle) as info:
        read_split_file(path, IDS, TASKS)
    assert str(path) in str(info.value)


class _Exploit:
    """Pickles into a call of os.system: what an unsafe loader would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_npy_with_pickled_code_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npy"
    with open(path, "wb") as file:
        np.lib.format.write_array_header_1_0(
            file, {"descr": "|O", "fortran_order": False, "shape": ()}
        )
        pickle.dump({"semseg": [_Exploit(marker)]}, file, protocol=3)
    with pytest.raises(DataError, match=re.escape(str(path)) + ".*refused.*system"):
        read_split_file(path, IDS, TASKS)
    assert not marker.exists()


def test_torch_file_with_pickled_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"labels_weights": _Exploit(marker)}, path)
    with pytest.raises(DataError, match="could not be read safely"):
        read_split_file(path, IDS, TASKS)
    assert not marker.exists()


def test_npy_of_numbers_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "numbers.npy"
    np.save(path, np.ones((4, 5)))
    with pytest.raises(DataError, match="expected a 0-d object array"):
        read_npy_object(path)
    with pytest.raises(MissingDataError, match="nowhere.npy"):
        read_split_file(tmp_path / "nowhere.npy", IDS, TASKS)
