"""The geometric steps' table: what each does to every kind of target, and the refusal of others."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest

import dmtl  # noqa: F401  (sets NO_ALBUMENTATIONS_UPDATE before albumentations is imported)
from dmtl.data.augment.fused import FusedSampleTransform
from dmtl.data.augment.geometry import STEPS, Correction, Effect, effect_of
from dmtl.data.augment.normalisation import IMAGENET_MEAN, IMAGENET_STD, normalize
from dmtl.data.augment.step_by_step import SampleTransform
from dmtl.data.augment.steps import RandomScaleCrop
from dmtl.errors import ConfigError
from dmtl.tasks.kinds import KINDS, DepthKind, NormalsKind

SCALE = 1.5
ZOOMS = {RandomScaleCrop, A.RandomScale}
MIRRORS = {A.HorizontalFlip}


def _map(kind, rng) -> np.ndarray:
    """A map of ``kind`` as the loader prepares it: normals unit vectors, depth positive."""
    if isinstance(kind, NormalsKind):
        normals = rng.normal(size=(6, 7, 3))
        return kind.prepare_array(normals / np.linalg.norm(normals, axis=2, keepdims=True), "n")
    if isinstance(kind, DepthKind):
        return kind.prepare_array(rng.uniform(0.5, 9.0, (6, 7)), "d")
    return kind.prepare_array(rng.integers(0, 2, (6, 7)), "m")


def _by_hand(kind, array: np.ndarray, zoom: bool, mirror: bool, inverse: bool) -> np.ndarray:
    """The geometry module's table, read by hand: zoom by s divides metric depth (inverse depth
    times s), a horizontal mirror negates normals' x, nothing else changes a value."""
    out = array.copy()
    if zoom and isinstance(kind, DepthKind):
        out = out * np.float32(SCALE) if inverse else out / np.float32(SCALE)
    if mirror and isinstance(kind, NormalsKind):
        out[..., 0] = -out[..., 0]
    return out


@pytest.mark.parametrize("step", list(STEPS), ids=lambda step: step.__name__)
def test_each_step_does_what_the_table_says_to_every_kind(step) -> None:
    assert STEPS[step] == Effect(zoom=step in ZOOMS, mirror=step in MIRRORS)
    rng = np.random.default_rng(0)
    for kind in KINDS.values():
        for inverse in (False, True):
            correction = Correction()
            correction.add(STEPS[step], {"scale": SCALE})
            array = _map(kind, rng)
            expected = _by_hand(kind, array, step in ZOOMS, step in MIRRORS, inverse)
            got = correction.apply(kind, array, inverse)
            np.testing.assert_array_equal(got, expected, err_msg=f"{step.__name__} {kind.name}")


def test_two_mirrors_undo_each_other_and_zooms_compose() -> None:
    correction = Correction()
    for _ in range(2):
        correction.add(STEPS[A.HorizontalFlip], {})
        correction.add(STEPS[A.RandomScale], {"scale": 2.0})
    assert (correction.flipped, correction.scale) == (False, 4.0)


@pytest.mark.parametrize(
    "step",
    [A.VerticalFlip(p=1.0), A.Rotate(limit=10), A.Transpose(), A.Affine(rotate=5)],
    ids=lambda step: type(step).__name__,
)
def test_a_geometric_step_not_in_the_table_is_refused_by_name(step) -> None:
    steps = [step, normalize(IMAGENET_MEAN, IMAGENET_STD)]
    for executor in (SampleTransform, FusedSampleTransform):
        with pytest.raises(ConfigError, match=type(step).__name__) as raised:
            executor(steps, seed=0, track_padding=True)
        assert "\n" not in str(raised.value) and "geometry.STEPS" in str(raised.value)


def test_image_only_steps_need_no_row() -> None:
    assert effect_of(A.GaussianBlur()) is None and effect_of(A.ColorJitter()) is None
    assert effect_of(normalize(IMAGENET_MEAN, IMAGENET_STD)) is None
    assert effect_of(RandomScaleCrop(8, 8)) == Effect(zoom=True)
