"""The fused PASCAL-Context training augmentation gives the step-by-step one's output.

The task maps are compared bit for bit (they are moved, never computed); the images within the
tolerance of their float arithmetic (``support.floats``): OpenCV's kernels may round otherwise on
another CPU or release, and did between OpenCV 5.0 and 5.1.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import albumentations as A
import numpy as np
import pytest
import torch

import dmtl  # noqa: F401  (sets NO_ALBUMENTATIONS_UPDATE before albumentations is imported)
from dmtl.data.augment import build_pascal_train_transform, step_by_step
from dmtl.data.augment.fused import FusedSampleTransform, fusable, why_not_fused
from dmtl.data.augment.normalisation import IMAGENET_STD
from dmtl.data.readers.pascal_context import TASKS, PascalContextDataset
from dmtl.data.readers.predecoded import FIELDS, expand
from dmtl.tasks.kinds.normals import NormalsKind
from support.bits import same_bits as _same
from support.floats import IMAGE_ULPS, assert_float32_close
from support.pascal import write_pascal_context

# A normalised image's error: IMAGE_ULPS of [0, 1] carried through 1/std (ImageNet's, at most 4.5).
IMAGE_SCALE = 1 / min(IMAGENET_STD)


def _compact(rng, height: int, width: int) -> dict[str, np.ndarray]:
    """Random compact fields of a PASCAL-Context sample, as the pre-decoded form stores them."""
    high = {"semseg": 60, "human_parts": 7, "sal": 2, "normals_valid": 2, "edge": 2}
    compact = {}
    for field, channels in FIELDS.items():
        shape = (height, width, channels) if channels > 1 else (height, width)
        compact[field] = rng.integers(0, high.get(field, 256), shape).astype(np.uint8)
    compact["semseg"][rng.random((height, width)) < 0.1] = 255
    return compact


def _decoded(sample: dict) -> dict:
    """``sample`` with its compact normals (uint8 codes and flags) decoded as the device does."""
    normals = sample["targets"]["normals"]
    assert normals.dtype == torch.uint8 and normals.shape[0] == 4 and normals.is_contiguous()
    widened = NormalsKind().widen(normals)
    assert widened.is_contiguous()
    return {**sample, "targets": {**sample["targets"], "normals": widened}}


def _equal_samples(got: dict, expected: dict) -> None:
    """The same maps bit for bit, the same image within its float arithmetic's tolerance."""
    image, reference = got["image"].numpy(), expected["image"].numpy()
    assert_float32_close(image, reference, IMAGE_SCALE, IMAGE_ULPS, got["name"])
    assert got["targets"].keys() == expected["targets"].keys() and got["name"] == expected["name"]
    for task, target in expected["targets"].items():
        assert got["targets"][task].is_contiguous(), task
        assert _same(got["targets"][task].numpy(), target.numpy()), task


@pytest.mark.parametrize(
    "size, kwargs",
    [((375, 500), {"seed": 0}),  # the protocol: PASCAL's size into 512², scale 0.5-2
     ((333, 500), {"seed": 1, "flip_p": 1.0}),
     ((37, 53), {"height": 40, "width": 36, "scale_range": (0.4, 2.5), "seed": 2}),
     ((30, 24), {"height": 16, "width": 20, "photometric": False, "seed": 3})],
)  # fmt: skip
def test_fused_transform_gives_the_step_by_step_output(size, kwargs) -> None:
    fused = build_pascal_train_transform(**kwargs)
    plain = build_pascal_train_transform(**kwargs, fused=False)
    plain_codes = build_pascal_train_transform(**kwargs, fused=False)  # compact normals in
    assert isinstance(fused, FusedSampleTransform) and fused.fused and not plain.fused
    rng = np.random.default_rng(5)
    tasks = list(TASKS)
    codes = functools.partial(expand, tasks=tasks, ids=np.uint8, edges=np.uint8, normal_codes=True)
    for index in range(12):  # one stream: the draws stay in step from sample to sample
        compact = _compact(rng, *size)
        name = f"2008_{index:06d}"
        expected = plain({**expand(compact, tasks), "name": name})
        if index % 3 == 0:
            got = fused.from_compact(compact, functools.partial(expand, tasks=tasks), name)
        elif index % 3 == 1:
            got = fused({**expand(compact, tasks, np.uint8), "name": name})
        else:  # the loader's way: compact normals, decoded by the transfer hook's widening
            got = _decoded(fused.from_compact(compact, codes, name))
        _equal_samples(got, expected)
        _equal_samples(_decoded(plain_codes({**codes(compact), "name": name})), expected)


def test_dataset_samples_equal_the_decoded_path(tmp_path: Path) -> None:
    from dmtl.data.prepare.predecode import predecode_tree

    root = write_pascal_context(tmp_path / "p")
    decoded = PascalContextDataset(root, "train", list(TASKS), predecoded=False)
    plain = build_pascal_train_transform(20, 28, scale_range=(0.5, 2.0), seed=7, fused=False)
    expected = [plain(decoded.load_sample(i % len(decoded))) for i in range(16)]
    predecode_tree(root, splits=("train",))
    for predecoded in (True, False):
        data = PascalContextDataset(root, "train", list(TASKS), predecoded=predecoded)
        assert (data.predecoded is not None) == predecoded
        data.transform = build_pascal_train_transform(20, 28, scale_range=(0.5, 2.0), seed=7)
        for index, sample in enumerate(expected):
            _equal_samples(_decoded(data[index % len(data)]), sample)


def test_other_steps_take_the_plain_path() -> None:
    fused = build_pascal_train_transform(16, 16, seed=0)
    steps = list(fused.compose.transforms)
    assert fusable(steps)
    assert not fusable(steps[:-1])  # no normalisation last
    assert not fusable([A.Rotate(limit=10), *steps])
    assert not fusable([steps[1], steps[0], *steps[2:]])  # padding before scaling
    assert not fusable([*steps[:4], A.ColorJitter(contrast=0.2), steps[-1]])  # uses the mean
    assert not fusable([*steps[:4], A.ColorJitter(brightness=0.2, contrast=(1.0, 1.0)), steps[-1]])
    assert not fusable([A.RandomScale(area_for_downscale="image"), *steps[1:]])
    assert not fusable([*steps[:-1], A.Normalize(p=0.5)])
    assert not fusable([*steps[:-1], A.GaussianBlur(), steps[-1]])
    assert not FusedSampleTransform(steps, seed=0).fused  # padding not tracked


def test_a_recipe_off_the_fast_path_says_once_which_step(caplog, monkeypatch) -> None:
    monkeypatch.setattr(step_by_step, "_TOLD", set())  # nothing told yet in this process
    steps = list(build_pascal_train_transform(16, 16, seed=0).compose.transforms)
    blurred = [*steps[:-1], A.GaussianBlur(p=0.5), steps[-1]]
    assert why_not_fused(blurred) == (
        "step GaussianBlur is not a photometric step the fused path computes"
    )
    assert "RandomScale comes out of" in why_not_fused([steps[1], steps[0], *steps[2:]])
    late_flip = [*steps[:2], steps[4], steps[3], *steps[5:]]
    assert "HorizontalFlip comes after" in why_not_fused(late_flip)
    with caplog.at_level(logging.INFO, logger="dmtl"):
        transforms = [FusedSampleTransform(blurred, seed=0, track_padding=True) for _ in range(3)]
        FusedSampleTransform(blurred, seed=0, track_padding=True, fused=False)  # asked: no message
    assert not any(transform.fused for transform in transforms)
    told = [r.getMessage() for r in caplog.records if "GaussianBlur" in r.getMessage()]
    assert len(told) == 1 and "\n" not in told[0] and "step by step" in told[0], told
    assert all(r.levelno < logging.WARNING for r in caplog.records)  # a message, not an error
