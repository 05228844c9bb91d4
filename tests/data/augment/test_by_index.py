"""Task maps moved by one index map equal the maps moved as separate targets, bit for bit."""

from __future__ import annotations

import logging
from pathlib import Path

import albumentations as A
import torch

import dmtl  # noqa: F401  (sets NO_ALBUMENTATIONS_UPDATE before albumentations is imported)
from dmtl.data.augment import (
    build_pascal_eval_transform,
    build_pascal_train_transform,
    build_train_transform,
    step_by_step,
)
from dmtl.data.augment.by_index import moves_pixels_only
from dmtl.data.augment.normalisation import IMAGENET_MEAN, IMAGENET_STD, normalize
from dmtl.data.readers.nyuv2 import NYUv2Dataset
from dmtl.data.readers.pascal_context import TASKS, PascalContextDataset
from support.mtpsl import write_nyuv2
from support.pascal import write_pascal_context


def _by_maps(build, **kwargs):
    fast, plain = build(**kwargs), build(**kwargs)
    fast.fused = plain.fused = False  # the step-by-step path, where maps move by index
    plain.by_index = False
    assert fast.by_index
    return fast, plain


def _equal(fast, plain, sample: dict) -> None:
    got, expected = fast(dict(sample)), plain(dict(sample))
    assert torch.equal(got["image"], expected["image"])
    assert got["targets"].keys() == expected["targets"].keys()
    for task, target in expected["targets"].items():
        assert got["targets"][task].dtype == target.dtype, task
        assert torch.equal(got["targets"][task], target), task


def test_maps_moved_by_index_equal_separate_targets(tmp_path: Path) -> None:
    pascal = PascalContextDataset(write_pascal_context(tmp_path / "p"), "train", list(TASKS))
    for fast, plain in [  # small crops and a wide scale range: padding, crops and flips
        _by_maps(build_pascal_train_transform, height=40, width=36, scale_range=(0.5, 2.5), seed=1),
        _by_maps(build_pascal_eval_transform, height=32, width=40),
    ]:
        for repeat in range(24):
            _equal(fast, plain, pascal.load_sample(repeat % len(pascal)))
    nyu = NYUv2Dataset(write_nyuv2(tmp_path / "n", {"train": 3, "val": 1}, 24, 30), "train",
                       ["semseg", "depth", "normals"])  # fmt: skip
    fast, plain = _by_maps(build_train_transform, height=24, width=30, seed=2)
    for repeat in range(12):
        _equal(fast, plain, nyu.load_sample(repeat % len(nyu)))


def test_only_pixel_moving_steps_take_the_index_path() -> None:
    assert moves_pixels_only(A.HorizontalFlip(p=0.5)) and moves_pixels_only(A.ColorJitter())
    assert not moves_pixels_only(A.Rotate(limit=10))
    assert not moves_pixels_only(A.RandomScale(mask_interpolation=1))  # linear
    assert not moves_pixels_only(A.PadIfNeeded(8, 8, fill_mask=255))
    assert not moves_pixels_only(A.RandomScale(area_for_downscale="image_mask"))


def test_a_step_that_does_more_than_move_map_pixels_is_told_once(caplog, monkeypatch) -> None:
    monkeypatch.setattr(step_by_step, "_TOLD", set())  # nothing told yet in this process
    steps = [A.PadIfNeeded(8, 8, fill_mask=255), normalize(IMAGENET_MEAN, IMAGENET_STD)]
    with caplog.at_level(logging.INFO, logger="dmtl"):
        transforms = [step_by_step.SampleTransform(steps, seed=0) for _ in range(2)]
    assert not any(transform.by_index for transform in transforms)
    told = [r.getMessage() for r in caplog.records]
    assert len(told) == 1 and "step PadIfNeeded does more than move" in told[0], told
