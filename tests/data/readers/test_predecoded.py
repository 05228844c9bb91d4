"""The pre-decoded PASCAL-Context form gives the decoded path's samples; stale forms are ignored."""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import dmtl  # noqa: F401  (sets NO_ALBUMENTATIONS_UPDATE before albumentations is imported)
from dmtl.data.prepare.predecode import predecode_tree
from dmtl.data.readers.pascal_context import TASKS, PascalContextDataset
from dmtl.data.readers.predecoded import INDEX_NAME, PredecodedSplit, expand_normals, split_folder
from dmtl.tasks.kinds.normals import NormalsKind
from support.pascal import TRAIN_IDS, VAL_IDS, write_pascal_context

LOGGER = "dmtl.data.readers.predecoded"


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    root = write_pascal_context(tmp_path / "PASCAL_MT")
    predecode_tree(root)
    return root


def _same(decoded: dict, fast: dict) -> None:
    assert decoded.keys() == fast.keys()
    for key, value in decoded.items():
        if key == "name":
            assert fast[key] == value
            continue
        assert fast[key].dtype == value.dtype and fast[key].shape == value.shape, key
        np.testing.assert_array_equal(fast[key], value, err_msg=key)  # bit-exact


@pytest.mark.parametrize("split", ["train", "val"])
def test_every_field_of_every_sample_is_the_decoded_one(root: Path, split: str) -> None:
    decoded = PascalContextDataset(root, split, list(TASKS), predecoded=False)
    fast = PascalContextDataset(root, split, list(TASKS))
    assert decoded.predecoded is None and isinstance(fast.predecoded, PredecodedSplit)
    assert fast.sample_ids == (TRAIN_IDS if split == "train" else VAL_IDS)
    for index in range(len(decoded)):
        _same(decoded.load_sample(index), fast.load_sample(index))
        image = fast.load_compact(index)["image"]
        jpeg = decoded.load_compact(index)["image"]
        assert image.dtype == np.uint8 and np.array_equal(image, jpeg)  # images exact as uint8


def test_a_subset_of_tasks_reads_only_its_fields(root: Path) -> None:
    fast = PascalContextDataset(root, "train", ["normals", "sal"])
    assert fast.predecoded is not None
    assert sorted(fast.predecoded.fields) == ["image", "normals", "normals_valid", "sal"]
    decoded = PascalContextDataset(root, "train", ["normals", "sal"], predecoded=False)
    _same(decoded.load_sample(2), fast.load_sample(2))


def test_pickling_leaves_the_memory_maps_behind(root: Path) -> None:
    fast = PascalContextDataset(root, "train", list(TASKS))
    fast.load_sample(0)
    copy = pickle.loads(pickle.dumps(fast))
    assert copy.predecoded._arrays is None
    _same(fast.load_sample(3), copy.load_sample(3))


def _stale(root: Path, caplog, split: str = "train") -> str:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        data = PascalContextDataset(root, split, list(TASKS))
    assert data.predecoded is None
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(lines) == 1 and "\n" not in lines[0] and "--predecode-only" in lines[0]
    _same(PascalContextDataset(root, split, list(TASKS), predecoded=False).load_sample(0),
          data.load_sample(0))  # fmt: skip
    return lines[0]


def test_a_changed_split_list_falls_back_with_one_line(root: Path, caplog) -> None:
    listing = root / "ImageSets/Context/train.txt"
    listing.write_text("\n".join(TRAIN_IDS[::-1]) + "\n")
    assert "differ from the split list" in _stale(root, caplog)


def test_an_old_version_a_missing_task_or_a_short_field_fall_back(root: Path, caplog) -> None:
    index_path = split_folder(root, "train") / INDEX_NAME
    good = json.loads(index_path.read_text())
    index_path.write_text(json.dumps({**good, "version": 0}))
    assert "format version 0" in _stale(root, caplog)
    index_path.write_text(json.dumps({**good, "tasks": ["semseg"]}))
    assert "lacks task 'human_parts'" in _stale(root, caplog)
    index_path.write_text(json.dumps(good))
    np.save(split_folder(root, "train") / "edge.npy", np.zeros(7, np.uint8))
    assert "edge.npy is uint8 (7,)" in _stale(root, caplog)
    index_path.write_text("{")
    assert "cannot be read" in _stale(root, caplog)


def test_no_form_no_warning(tmp_path: Path, caplog) -> None:
    root = write_pascal_context(tmp_path / "plain")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        data = PascalContextDataset(root, "val", list(TASKS))
    assert data.predecoded is None and not caplog.records


def test_a_sample_transform_gets_uint8_ids_and_gives_the_same_output(root: Path) -> None:
    from dmtl.data.augment import build_pascal_train_transform

    for predecoded in (True, False):
        data = PascalContextDataset(root, "train", list(TASKS), predecoded=predecoded)
        data.transform = build_pascal_train_transform(40, 36, seed=5)
        plain = build_pascal_train_transform(40, 36, seed=5)
        for index in [0, 1, 2, 3, 0, 1]:
            got, expected = data[index], plain(data.load_sample(index))
            assert torch.equal(got["image"], expected["image"]) and got["name"] == expected["name"]
            assert got["targets"]["normals"].dtype == torch.uint8  # compact: codes and flags
            got["targets"]["normals"] = NormalsKind().widen(got["targets"]["normals"])
            for task, target in expected["targets"].items():
                assert got["targets"][task].dtype == target.dtype
                assert torch.equal(got["targets"][task], target), task


@pytest.mark.parametrize("layout", ["hwc", "channel_first"])
def test_normals_by_table_are_the_arithmetic_bit_for_bit(layout: str) -> None:
    """``expand_normals`` (table look-up, bitwise clearing) equals v * 2/255 - 1 then zeroing."""
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    codes[0, :, :] = np.arange(53 * 3).reshape(53, 3) % 256  # every code appears
    codes[1, :, :] = 255 - codes[0]
    valid = (rng.random((37, 53)) > 0.3).astype(np.uint8)
    if layout == "channel_first":
        codes = np.ascontiguousarray(codes.transpose(2, 0, 1)).transpose(1, 2, 0)
    reference = codes.astype(np.float32)
    reference *= np.float32(2.0 / 255.0)
    reference -= np.float32(1.0)
    reference[valid == 0] = 0.0
    got = expand_normals(codes, valid)
    assert got.dtype == np.float32 and got.shape == codes.shape
    assert got.strides == reference.strides  # the layout is kept (``to_tensor`` relies on it)
    assert np.array_equal(got.view(np.uint32), reference.view(np.uint32))  # +0.0, not -0.0
    assert not np.signbit(got[valid == 0]).any()
