"""Battery: silent data problems end with one line naming the task and file, at setup."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from support.battery import fails_with_one_line
from support.cli import _args
from support.mtpsl import nyuv2_sample, write_nyuv2

HEIGHT, WIDTH = 32, 40  # at least the backbone's coarsest stride


@pytest.fixture()
def root(tmp_path):
    return write_nyuv2(tmp_path / "nyuv2", {"train": 4, "val": 2}, HEIGHT, WIDTH)


def _fail(root, tmp_path, capsys, *extra):
    args = _args("fit", root, tmp_path / "out", "--data.dataset=nyuv2", *extra)
    return fails_with_one_line(args, tmp_path / "out" / "run" / "fit", capsys)


def test_all_nan_depth_is_an_error_naming_the_task_and_files(root, tmp_path, capsys):
    for path in (root / "train" / "depth").glob("*.npy"):
        np.save(path, np.full((HEIGHT, WIDTH, 1), np.nan, dtype=np.float32))
    line = _fail(root, tmp_path, capsys)
    assert "task 'depth'" in line and "hold no valid pixel" in line
    assert str(root / "train" / "depth" / "0.npy") in line


def test_non_unit_normals_name_the_file(root, tmp_path, capsys):
    path = root / "train" / "normal" / "0.npy"
    np.save(path, np.load(path) * 3.0)
    line = _fail(root, tmp_path, capsys)
    assert str(path) in line and "not of unit length" in line


def test_an_all_zero_split_file_is_an_error(root, tmp_path, capsys):
    split = tmp_path / "nothing.pth"
    torch.save({"labels_weights": torch.zeros(4, 3)}, split)
    line = _fail(root, tmp_path, capsys, f"--data.split_file={split}")
    assert str(split) in line and "labels no (sample, task) pair" in line


@pytest.mark.parametrize("augment", ["true", "false"])
def test_a_sample_of_another_size_names_the_file_and_both_sizes(root, tmp_path, capsys, augment):
    sample = nyuv2_sample(2, HEIGHT, WIDTH + 8)
    sample.pop("edge")
    from dmtl.data.readers.nyuv2 import write_nyuv2_sample

    write_nyuv2_sample(root, "train", 2, sample)
    line = _fail(root, tmp_path, capsys, f"--data.augment={augment}")
    image = root / "train" / "image"
    assert f"{image / '2.npy'} has shape (32, 48, 3), {image / '0.npy'} has (32, 40, 3)" in line


def test_a_label_of_another_size_is_found_at_setup(root, tmp_path, capsys):
    path = root / "train" / "depth" / "1.npy"  # a sample the content check does not load
    np.save(path, np.ones((HEIGHT, WIDTH + 1, 1), dtype=np.float32))
    line = _fail(root, tmp_path, capsys)
    assert f"{path} has shape (32, 41, 1) but its image" in line and "is 32×40" in line


def test_a_bad_file_of_the_last_sample_is_found_at_setup(root, tmp_path, capsys):
    path = root / "val" / "label" / "1.npy"
    np.save(path, np.full((HEIGHT, WIDTH), 99, dtype=np.float32))
    line = _fail(root, tmp_path, capsys)
    assert str(path) in line and "label value 99" in line
