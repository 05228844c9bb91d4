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


def _numpy_rows(values: str) -> dict:
    """Rows keyed as the DiffusionMTL files are: numpy.str_ ids, lists or numpy int rows."""
    rows = {IDS[0]: [1, 0, 0, 0, 0], IDS[1]: [0, 1, 0, 0, 0], IDS[2]: [0, 0, 1, 1, 0],
            IDS[3]: [0, 0, 0, 0, 1]}  # fmt: skip
    if values == "array":
        rows = {i: np.asarray(r, dtype=np.int64) for i, r in rows.items()}
    elif values == "scalars":
        rows = {i: [np.int32(v) for v in r] for i, r in rows.items()}
    return {np.str_(image_id): row for image_id, row in rows.items()}


@pytest.mark.parametrize("values", ["list", "array", "scalars"])
def test_diffusionmtl_rows_with_numpy_string_keys_load(tmp_path: Path, values: str) -> None:
    path = tmp_path / "new_randomlabels.pth"
    torch.save(_numpy_rows(values), path)
    mask = read_split_file(path, IDS, TASKS)
    assert mask[0].tolist() == [True, False, False, False, False]
    assert mask[2].tolist() == [False, False, True, True, False]
    assert mask[3, 4] and mask.sum() == 5


def test_numpy_keys_as_written_by_diffusionmtl(tmp_path: Path) -> None:
    path = tmp_path / "new_onelabel.pth"
    torch.save({np.str_("2008_000002"): [1, 0, 0, 0, 0], np.str_("2008_000003"): [0, 1, 0, 0, 0],
                np.str_("2008_000007"): [0, 0, 1, 0, 0], np.str_("2009_000011"): [0, 0, 0, 1, 0]},
               path)  # fmt: skip
    torch.testing.assert_close(read_split_file(path, IDS, TASKS)[:, :4], torch.eye(4).bool())


def test_numpy_rows_that_do_not_match_name_the_plain_id(tmp_path: Path) -> None:
    path = tmp_path / "new_onelabel.pth"
    torch.save({**_numpy_rows("array"), np.str_("2012_999999"): np.zeros(5, np.int64)}, path)
    with pytest.raises(DataError, match=r"names image '2012_999999', which is not among"):
        read_split_file(path, IDS, TASKS)


def test_refused_torch_file_is_one_plain_line(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "new_onelabel.pth"
    torch.save({**_numpy_rows("list"), np.str_(IDS[0]): [_Exploit(marker)]}, path)
    with pytest.raises(DataError) as info:
        read_split_file(path, IDS, TASKS)
    message = str(info.value)
    assert not marker.exists()
    assert len(message.splitlines()) == 1 and "\x1b" not in message
    assert str(path) in message and "could not be read safely" in message
    assert re.search(r"global (posix|os|nt)\.system", message)
    assert "labels_weights" in message and "image_id" in message and ".npy" in message
    assert "weights_only" not in message and "add_safe_globals" not in message


def test_object_arrays_stay_refused_in_torch_files(tmp_path: Path) -> None:
    path = tmp_path / "split.pth"
    torch.save({IDS[0]: np.array([1, 0, 0, 0, 0], dtype=object)}, path)
    with pytest.raises(DataError, match="read safely: it holds a .*ObjectDType") as info:
        read_split_file(path, IDS, TASKS)
    assert len(str(info.value).splitlines()) == 1 and "add_safe_globals" not in str(info.value)


def test_file_of_no_torch_format_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "notes.pth"
    path.write_text("not a split file\nsecond line\n")
    with pytest.raises(DataError, match=r"could not be read safely: .*; tried .*\.npy") as info:
        read_split_file(path, IDS, TASKS)
    assert len(str(info.value).splitlines()) == 1 and str(path) in str(info.value)
