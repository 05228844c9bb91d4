"""Tests of the NYUv2 ``.npy`` reader: values round-trip; bad layouts and files name the path."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest

import dmtl  # noqa: F401  (sets NO_ALBUMENTATIONS_UPDATE before anything imports albumentations)
from dmtl.data.readers.nyuv2 import NYUv2Dataset, validate_layout, write_nyuv2_sample
from dmtl.errors import ConfigError, DataError, MissingDataError
from dmtl.tasks import IGNORE_INDEX
from support.mtpsl import NYU_HEIGHT as HEIGHT
from support.mtpsl import NYU_WIDTH as WIDTH
from support.mtpsl import nyuv2_sample as make_sample

NUM_SAMPLES = 4
ALL_TASKS = ["semseg", "depth", "normals", "edge"]


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    data = tmp_path / "nyuv2"
    for index in range(NUM_SAMPLES):
        write_nyuv2_sample(data, "train", index, make_sample(index))
    return data


def test_writer_uses_the_file_format(root: Path) -> None:
    label = np.load(root / "train" / "label" / "0.npy")
    depth = np.load(root / "train" / "depth" / "0.npy")
    assert label.dtype == np.float32 and label.shape == (HEIGHT, WIDTH)
    assert (label[0] == -1).all()  # the file marks unlabelled pixels with -1, not 255
    assert depth.shape == (HEIGHT, WIDTH, 1)
    assert sorted(p.name for p in (root / "train").iterdir()) == [
        "depth",
        "edge",
        "image",
        "label",
        "normal",
    ]


def test_round_trip_values(root: Path) -> None:
    dataset = NYUv2Dataset(root, "train", ALL_TASKS)
    assert len(dataset) == NUM_SAMPLES
    for index in range(NUM_SAMPLES):
        expected = make_sample(index)
        sample = dataset[index]
        assert sample["name"] == f"train/{index}"
        assert set(sample) == {"image", "name", *ALL_TASKS}
        assert sample["image"].dtype == np.float32 and sample["image"].shape == (HEIGHT, WIDTH, 3)
        np.testing.assert_array_equal(sample["image"], expected["image"])
        assert sample["semseg"].dtype == np.int64
        np.testing.assert_array_equal(sample["semseg"], expected["semseg"])  # -1 on disk -> 255
        assert (sample["semseg"][0] == IGNORE_INDEX).all()
        assert sample["depth"].dtype == np.float32 and sample["depth"].shape == (HEIGHT, WIDTH)
        np.testing.assert_array_equal(sample["depth"], expected["depth"])  # metres kept
        assert sample["depth"][1, 0] == 0.0
        np.testing.assert_array_equal(sample["normals"], expected["normals"])
        np.testing.assert_array_equal(sample["edge"], expected["edge"])
    assert dataset[-1]["name"] == f"train/{NUM_SAMPLES - 1}"
    with pytest.raises(IndexError):
        dataset[NUM_SAMPLES]


def test_non_finite_values_become_invalid(root: Path) -> None:
    label = np.zeros((HEIGHT, WIDTH), np.float64)
    label[3, 3], label[4, 4] = np.nan, -1
    depth = np.ones((HEIGHT, WIDTH, 1))
    depth[5, 5], depth[6, 6] = np.inf, np.nan
    normals = np.tile(np.array([0.0, 0.0, 1.0]), (HEIGHT, WIDTH, 1))
    normals[7, 7, 1] = np.nan  # one bad component invalidates the whole vector
    np.save(root / "train" / "label" / "0.npy", label)
    np.save(root / "train" / "depth" / "0.npy", depth)
    np.save(root / "train" / "normal" / "0.npy", normals)
    sample = NYUv2Dataset(root, "train", ["semseg", "depth", "normals"])[0]
    assert sample["semseg"][3, 3] == IGNORE_INDEX and sample["semseg"][4, 4] == IGNORE_INDEX
    assert sample["semseg"][0, 0] == 0
    assert (
        sample["depth"][5, 5] == 0.0
        and sample["depth"][6, 6] == 0.0
        and sample["depth"][0, 0] == 1.0
    )
    np.testing.assert_array_equal(sample["normals"][7, 7], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(sample["normals"][0, 0], [0.0, 0.0, 1.0])


def test_depth_without_channel_axis_is_accepted(root: Path) -> None:
    np.save(root / "train" / "depth" / "2.npy", np.full((HEIGHT, WIDTH), 2.5))
    sample = NYUv2Dataset(root, "train", ["depth"])[2]
    assert sample["depth"].shape == (HEIGHT, WIDTH) and (sample["depth"] == 2.5).all()


def test_missing_root(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(MissingDataError, match="nowhere") as info:
        NYUv2Dataset(missing, "train", ["semseg"])
    assert "image" in str(info.value) and "label" in str(info.value)  # says what layout is expected
    assert isinstance(info.value, FileNotFoundError)


def test_missing_split(root: Path) -> None:
    with pytest.raises(MissingDataError, match=re.escape(str(root / "val"))):
        NYUv2Dataset(root, "val", ["semseg"])


def test_missing_modality_folder(root: Path) -> None:
    for path in (root / "train" / "normal").iterdir():
        path.unlink()
    (root / "train" / "normal").rmdir()
    with pytest.raises(MissingDataError, match=re.escape(str(root / "train" / "normal"))):
        NYUv2Dataset(root, "train", ALL_TASKS)


def test_tasks_subset_reads_only_its_folders(root: Path) -> None:
    for path in (root / "train" / "depth").iterdir():
        path.unlink()
    (root / "train" / "depth").rmdir()
    dataset = NYUv2Dataset(root, "train", ["semseg"])
    sample = dataset[1]
    assert set(sample) == {"image", "semseg", "name"}
    np.testing.assert_array_equal(sample["semseg"], make_sample(1)["semseg"])


def test_gap_in_numbering(root: Path) -> None:
    (root / "train" / "label" / "1.npy").unlink()
    with pytest.raises(DataError, match=re.escape(f"{root / 'train' / 'label'} lacks 1.npy")):
        NYUv2Dataset(root, "train", ["semseg"])


def test_fewer_files_than_images(root: Path) -> None:
    (root / "train" / "depth" / "3.npy").unlink()
    with pytest.raises(DataError, match=re.escape(f"{root / 'train' / 'depth'} lacks 3.npy")):
        NYUv2Dataset(root, "train", ["semseg", "depth"])


def test_more_files_than_images(root: Path) -> None:
    write_nyuv2_sample(root, "train", NUM_SAMPLES, {"normals": make_sample(0)["normals"]})
    with pytest.raises(
        DataError,
        match=re.escape(f"{root / 'train' / 'normal'} has an extra file {NUM_SAMPLES}.npy"),
    ):
        NYUv2Dataset(root, "train", ["normals"])


def test_unexpected_file_in_folder(root: Path) -> None:
    (root / "train" / "image" / "notes.txt").write_text("x")
    (root / "train" / "label" / ".DS_Store").write_bytes(b"")  # hidden files are ignored
    with pytest.raises(DataError, match=r"notes\.txt"):
        NYUv2Dataset(root, "train", ["semseg"])
    (root / "train" / "image" / "notes.txt").unlink()
    for odd in ("01.npy", "\u00b2.npy"):  # a zero-padded number, a non-ASCII digit
        (root / "train" / "label" / odd).write_bytes(b"")
        with pytest.raises(DataError, match=re.escape(odd)):
            NYUv2Dataset(root, "train", ["semseg"])
        (root / "train" / "label" / odd).unlink()
    assert len(NYUv2Dataset(root, "train", ["semseg"])) == NUM_SAMPLES


def test_empty_split(tmp_path: Path) -> None:
    (tmp_path / "val" / "image").mkdir(parents=True)
    with pytest.raises(DataError, match="no samples"):
        validate_layout(tmp_path, "val", [])


def test_unknown_or_duplicated_task(root: Path) -> None:
    with pytest.raises(ConfigError, match="human_parts"):
        NYUv2Dataset(root, "train", ["human_parts"])
    with pytest.raises(ConfigError, match="string"):
        NYUv2Dataset(root, "train", "semseg")
    with pytest.raises(ConfigError, match="twice"):
        NYUv2Dataset(root, "train", ["depth", "depth"])
    with pytest.raises(ConfigError, match="split"):
        NYUv2Dataset(root, "../train", ["depth"])


def test_corrupt_file_names_the_file(root: Path) -> None:
    path = root / "train" / "normal" / "2.npy"
    path.write_bytes(np.random.default_rng(0).bytes(200))
    dataset = NYUv2Dataset(root, "train", ["normals"])  # construction only lists folders
    dataset[1]
    with pytest.raises(DataError, match=re.escape(str(path))):
        dataset[2]


@pytest.mark.parametrize(
    ("folder", "array"),
    [
        ("image", np.zeros((HEIGHT, WIDTH))),  # no channel axis
        ("image", np.zeros((HEIGHT, WIDTH, 3), np.uint8)),  # 0..255 integers, not [0, 1] floats
        ("image", np.full((HEIGHT, WIDTH, 3), 255.0)),
        ("label", np.zeros((HEIGHT, WIDTH, 2))),
        ("label", np.zeros((HEIGHT, WIDTH + 1))),  # disagrees with the image size
        ("label", np.full((HEIGHT, WIDTH), 13.0)),  # no such class
        ("label", np.full((HEIGHT, WIDTH), 2.5)),
        ("depth", np.zeros((HEIGHT, WIDTH, 3))),
        ("depth", -np.ones((HEIGHT, WIDTH, 1))),
        ("normal", np.zeros((HEIGHT, WIDTH))),
        ("edge", np.full((HEIGHT, WIDTH), 0.5)),
        ("edge", np.array(["a"] * HEIGHT * WIDTH).reshape(HEIGHT, WIDTH)),  # not numeric
    ],
)
def test_wrong_array_names_the_file(root: Path, folder: str, array: np.ndarray) -> None:
    path = root / "train" / folder / "1.npy"
    np.save(path, array)
    dataset = NYUv2Dataset(root, "train", ALL_TASKS)
    with pytest.raises(DataError, match=re.escape(str(path))):
        dataset[1]


def test_file_deleted_after_construction(root: Path) -> None:
    dataset = NYUv2Dataset(root, "train", ["edge"])
    path = root / "train" / "edge" / "0.npy"
    path.unlink()
    with pytest.raises(MissingDataError, match=re.escape(str(path))):
        dataset[0]


def _tree_state(root: Path) -> list[tuple[str, int, int]]:
    return sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*"))


def test_reading_writes_nothing(root: Path) -> None:
    before = _tree_state(root)
    dataset = NYUv2Dataset(root, "train", ALL_TASKS)
    for index in range(len(dataset)):
        dataset[index]
    assert _tree_state(root) == before


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores file permissions"
)
def test_read_only_root(root: Path) -> None:
    paths = sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True) + [root]
    modes = {p: p.stat().st_mode for p in paths}
    try:
        for path in paths:  # deepest first, so that directories stay listable until the end
            path.chmod(modes[path] & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        dataset = NYUv2Dataset(root, "train", ALL_TASKS)
        assert dataset[3]["name"] == "train/3"
        np.testing.assert_array_equal(dataset[3]["depth"], make_sample(3)["depth"])
    finally:
        for path in reversed(paths):
            path.chmod(modes[path])


def test_transform_is_applied(root: Path) -> None:
    dataset = NYUv2Dataset(
        root, "train", ["depth"], transform=lambda s: (s["name"], s["depth"].max())
    )
    name, depth_max = dataset[2]
    assert name == "train/2"
    assert depth_max == pytest.approx(9.5 + 2)
