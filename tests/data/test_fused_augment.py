"""The fused PASCAL-Context training augmentation gives the step-by-step one's output.

The task maps are compared bit for bit (they are moved, never computed); the images within the
tolerance of their float arithmetic (``support.floats``): OpenCV's kernels may round otherwise on
another CPU or release, and did between OpenCV 5.0 and 5.1.
"""

from __future__ import annotations

import functools
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import pytest
import torch
from albumentations.augmentations.pixel import functional as fpixel

import dmtl  # noqa: F401  (sets NO_ALBUMENTATIONS_UPDATE before albumentations is imported)
from dmtl.data import photometric as photo
from dmtl.data.fused_augment import FusedSampleTransform, fusable
from dmtl.data.map_picks import MapPicks, Window, nearest_picks
from dmtl.data.pipelines import build_pascal_train_transform
from dmtl.data.readers.pascal_context import TASKS, PascalContextDataset
from dmtl.data.readers.predecoded import FIELDS, expand
from dmtl.data.transforms import IMAGENET_STD, normalize
from dmtl.kinds.normals import NormalsKind
from support.floats import IMAGE_ULPS, assert_float32_close, float64_oracle, product_in_float32
from support.pascal import write_pascal_context

# A normalised image's error: IMAGE_ULPS of [0, 1] carried through 1/std (ImageNet's, at most 4.5).
IMAGE_SCALE = 1 / min(IMAGENET_STD)


def _bits(array: np.ndarray) -> np.ndarray:
    return array.view(np.uint32) if array.dtype == np.float32 else array


def _same(got, expected) -> bool:
    got, expected = np.asarray(got), np.asarray(expected)
    return (
        got.dtype == expected.dtype
        and got.shape == expected.shape
        and np.array_equal(_bits(got), _bits(expected))
    )


def _image(rng, height=53, width=70) -> np.ndarray:
    """A float32 image as the pipeline has it after scaling: bilinear mixtures of k / 255."""
    image = rng.integers(0, 256, (height - 7, width - 9, 3), dtype=np.uint8)
    return cv2.resize(image.astype(np.float32) / np.float32(255), (width, height))


def test_brightness_contrast_is_its_float64_expression_and_albumentations_within_ulps() -> None:
    """Exact against the float64 definition; within 2 ulps of albumentations on any OpenCV.

    The two ways to compute ``clip(x * a + b)`` differ only in the rounding of the product
    (OpenCV 5.1 rounds it to float32: at most half an ulp of ``|x * a|``) and of the result (half
    an ulp of [0, 1]), so 2 ulps of ``1 + max|x * a|`` bound the difference.
    """
    rng = np.random.default_rng(0)
    stock = A.RandomBrightnessContrast()
    image = _image(rng) * np.float32(1.2) - np.float32(0.1)  # outside [0, 1] too
    draws = [(1.0, 0.0), (1.0, 0.1), (1.0, -0.12549), (1.37, 0.0), (0.51, 0.0), (1.2, 0.05)]
    draws += [(1.0 + float(c), 0.0) for c in rng.uniform(-0.5, 0.5, 6)]
    draws += [(1.0, float(b)) for b in rng.uniform(-32 / 255, 32 / 255, 6)]
    draws += [(1.0 + float(c), float(b)) for c, b in rng.uniform(-0.12, 0.12, (6, 2))]
    rounded_apart = 0
    for alpha, beta in draws:
        got = image.copy()
        photo.brightness_contrast(got, alpha, beta)
        assert _same(got, float64_oracle(image, alpha, beta)), (alpha, beta)
        scale = 1 + abs(alpha) * float(np.abs(image).max())
        for reference in (stock.apply(image, alpha=alpha, beta=beta),
                          product_in_float32(image, alpha, beta)):  # fmt: skip
            assert_float32_close(got, reference, scale, 2, (alpha, beta))
        rounded_apart += int((product_in_float32(image, alpha, beta) != got).sum())
    assert rounded_apart > 100  # the draws hold values where the two roundings differ


def test_saturation_and_hue_give_albumentations_output_within_ulps() -> None:
    """The same OpenCV calls as albumentations, in place: within ``IMAGE_ULPS`` of [0, 1].

    OpenCV 5.1's in-place HSV conversion rounds some pixels up to 7 ulps otherwise than its
    separate-output one (its hue has ulps of 360, a sixtieth of which reach the RGB values).
    """
    rng = np.random.default_rng(1)
    image = _image(rng, 64, 512)
    for factor in [0.0, 1.0, 0.5, 1.5, *map(float, rng.uniform(0.5, 1.5, 6))]:
        got = image.copy()
        photo.saturation(got, factor)
        expected = fpixel.adjust_saturation_torchvision(image.copy(), factor)
        assert_float32_close(got, expected, 1.0, IMAGE_ULPS, factor)
    for factor in [0.0, 0.1, -0.1, 1e-9, -1e-9, *map(float, rng.uniform(-0.1, 0.1, 8))]:
        got = image.copy()
        photo.hue(got, factor)
        expected = fpixel.adjust_hue_torchvision(image.copy(), factor)
        assert_float32_close(got, expected, 1.0, IMAGE_ULPS, factor)


def _normalised(image: np.ndarray, mean, inverse_std) -> np.ndarray:
    """The float32 subtraction, then the product in the constants' dtype, rounded once (HWC)."""
    return (np.subtract(image, mean) * inverse_std).astype(np.float32)


def test_normalisation_is_its_numpy_expression_and_albumentations_within_ulps() -> None:
    """Exact against numpy's same operations; within 1 ulp of the output range of OpenCV's."""
    rng = np.random.default_rng(2)
    image = _image(rng) * np.float32(1.4) - np.float32(0.2)
    stock = A.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), max_pixel_value=1.0)
    expected = stock.apply(image).transpose(2, 0, 1)
    for step in (stock, normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))):
        mean, inverse_std = photo.normalisation_constants(step)
        out = np.full((3, 60, 80), 7.0, dtype=np.float32)  # into a window of a larger array
        photo.normalise_into(out[:, 3:56, 5:75], image, mean, inverse_std)
        assert _same(out[:, 3:56, 5:75], _normalised(image, mean, inverse_std).transpose(2, 0, 1))
        assert_float32_close(out[:, 3:56, 5:75], expected, float(np.abs(expected).max()), 1)
        assert (out[:, :3] == 7).all() and (out[:, :, 75:] == 7).all()
    wide = (np.float32(0.485), np.float32(0.456), np.float32(0.406))  # a float64 1/std
    out = np.empty((3, 53, 70), dtype=np.float32)
    inverse = 1 / np.array([0.229, 0.224, 0.225])
    photo.normalise_into(out, image, np.array(wide), inverse)
    expected = cv2.multiply(cv2.subtract(image, np.zeros_like(image) + np.array(wide)),
                            np.zeros_like(image) + inverse, dtype=cv2.CV_32F)  # fmt: skip
    assert _same(out, _normalised(image, np.array(wide), inverse).transpose(2, 0, 1))
    assert_float32_close(out, expected.transpose(2, 0, 1), float(np.abs(expected).max()), 1)


@pytest.mark.parametrize("dtype, channels", [(np.uint8, 0), (np.float32, 0), (np.float32, 3)])
def test_nearest_picks_are_what_opencv_resizes_to(dtype, channels) -> None:
    rng = np.random.default_rng(3)
    for height, width, scale in [(375, 500, 1.7), (375, 500, 0.55), (37, 53, 2.4), (24, 30, 0.5),
                                 (500, 375, 1.0001), (333, 499, 1.3333)]:  # fmt: skip
        shape = (height, width, channels) if channels else (height, width)
        array = rng.integers(0, 255, shape).astype(dtype)
        size = (int(height * scale), int(width * scale))
        expected = cv2.resize(array, size[::-1], interpolation=cv2.INTER_NEAREST)
        rows, cols = nearest_picks(height, size[0]), nearest_picks(width, size[1])
        assert _same(array[rows][:, cols], expected), (height, width, scale)


def test_window_follows_padding_crops_and_flips() -> None:
    rng = np.random.default_rng(4)
    for _ in range(50):
        height, width = (int(v) for v in rng.integers(1, 30, 2))
        scaled = np.arange(1, height * width + 1).reshape(height, width)
        window, moved = Window.whole(height, width), scaled.copy()
        for _ in range(4):
            step = rng.integers(3)
            if step == 0:
                pads = [int(v) for v in rng.integers(0, 5, 4)]
                window.pad(*pads)
                moved = np.pad(moved, ((pads[0], pads[1]), (pads[2], pads[3])))
            elif step == 1:
                y_min, x_min = (int(rng.integers(0, s)) for s in moved.shape)
                y_max = int(rng.integers(y_min + 1, moved.shape[0] + 1))
                x_max = int(rng.integers(x_min + 1, moved.shape[1] + 1))
                window.crop(x_min, y_min, x_max, y_max)
                moved = moved[y_min:y_max, x_min:x_max]
            else:
                window.flip()
                moved = moved[:, ::-1]
        assert (window.height, window.width) == moved.shape
        rebuilt = np.zeros_like(moved)
        if not window.empty:
            picked = scaled[window.source_rows(), window.source_cols()]
            rebuilt[window.inside()] = picked[:, ::-1] if window.flipped else picked
        assert np.array_equal(rebuilt, moved)


PICK_DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.int32, np.int64, np.float32, np.float64,
               np.bool_]  # fmt: skip


def _random_window(rng, height: int, width: int) -> Window:
    """A window of a (height, width) scaled map after random padding, crops and flips."""
    window = Window.whole(height, width)
    for _ in range(4):
        step = rng.integers(3)
        if step == 0:
            window.pad(*(int(v) for v in rng.integers(0, 6, 4)))
        elif step == 1:
            y_min, x_min = int(rng.integers(0, window.height)), int(rng.integers(0, window.width))
            y_max = int(rng.integers(y_min + 1, window.height + 1))
            x_max = int(rng.integers(x_min + 1, window.width + 1))
            window.crop(x_min, y_min, x_max, y_max)
        else:
            window.flip()
    return window


@pytest.mark.parametrize("dtype", PICK_DTYPES)
@pytest.mark.parametrize("channels", [0, 1, 3])
def test_map_moves_give_the_bytes_of_the_picks(dtype, channels) -> None:
    """``MapPicks.apply`` (``np.take`` into the output) equals the row-then-column picks, bytes
    and layout, with padding, crops (windows narrower than the output too) and flips."""
    rng = np.random.default_rng(6)
    for trial in range(40):
        height, width = (int(v) for v in rng.integers(2, 40, 2))
        scaled = (int(height * rng.uniform(0.5, 2)) or 1, int(width * rng.uniform(0.5, 2)) or 1)
        window = _random_window(rng, *scaled)
        rows = nearest_picks(height, scaled[0])[window.source_rows()]
        cols = nearest_picks(width, scaled[1])[window.source_cols()]
        picks = MapPicks(window, rows, cols[::-1] if window.flipped else cols)
        shape = (height, width, channels) if channels else (height, width)
        array = rng.integers(-300, 300, shape).astype(dtype)
        if np.dtype(dtype).kind == "f":
            array.flat[::7], array.flat[3::11] = np.nan, -0.0
        got, expected = picks.apply(array), picks.picked(array)
        assert got.dtype == expected.dtype and got.shape == expected.shape, trial
        assert got.strides == expected.strides, trial  # channel-first planes as before
        assert got.tobytes() == expected.tobytes(), trial
        outside = np.ones(got.shape[:2], bool)
        outside[window.inside()] = window.empty
        assert not np.any(got[outside]), trial  # padding is 0


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
    transform = FusedSampleTransform([A.Rotate(limit=10), *steps], seed=0, track_padding=True)
    assert not transform.fused
    assert not FusedSampleTransform(steps, seed=0).fused  # padding not tracked
