"""Seeded batches and assertion helpers shared by the metric tests (one module per metric).

The batches cover the awkward cases of each metric: ignored pixels and a class that never
occurs (segmentation), invalid pixels, non-positive predictions and a batch without any valid
pixel (depth), zero-norm and exact ±target predictions (normals), ignored edge labels (boundary).
"""

from __future__ import annotations

import pytest
import torch

SEED = 1234
NUM_BATCHES = 3
BATCH, HEIGHT, WIDTH = 3, 17, 23
NUM_CLASSES = 5
ABSENT_CLASS = 4  # never in any target and never predicted
IGNORE = 255
RTOL = 1e-6
IGNORE_FRACTION = 0.1
WITHIN_DEG = (11.25, 22.5, 30.0)
EDGE_THRESHOLDS = [round(0.05 * k, 2) for k in range(1, 20)]


# ----------------------------------------------------------------------- data


def make_segmentation(seed: int = SEED) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of (logits (B, C, H, W), labels (B, H, W)), ignored pixels, one absent class."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(NUM_BATCHES):
        logits = torch.randn(BATCH, NUM_CLASSES, HEIGHT, WIDTH, generator=gen)
        logits[:, ABSENT_CLASS] = -1e4
        target = torch.randint(0, ABSENT_CLASS, (BATCH, HEIGHT, WIDTH), generator=gen)
        target[torch.rand(target.shape, generator=gen) < IGNORE_FRACTION] = IGNORE
        batches.append((logits, target))
    return batches


def make_depth(seed: int = SEED) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of depth (pred, target) (B, 1, H, W); invalid pixels, non-positive preds, and one
    batch without any valid pixel."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for i in range(NUM_BATCHES):
        target = torch.rand(BATCH, 1, HEIGHT, WIDTH, generator=gen) * 9 + 0.5
        pred = target * (0.7 + 0.6 * torch.rand(target.shape, generator=gen))
        pred[torch.rand(pred.shape, generator=gen) < 0.05] = 0.0
        pred[torch.rand(pred.shape, generator=gen) < 0.05] = -1.0
        target[torch.rand(target.shape, generator=gen) < IGNORE_FRACTION] = 0.0
        if i == 1:
            target.zero_()
        batches.append((pred, target))
    return batches


def make_normals(seed: int = SEED) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of normals (pred, target) (B, 3, H, W); non-unit and zero-norm predictions,
    all-zero (invalid) targets, and exact ±target predictions (0° and 180°)."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(NUM_BATCHES):
        target = torch.nn.functional.normalize(
            torch.randn(BATCH, 3, HEIGHT, WIDTH, generator=gen), dim=1
        )
        pred = target + 0.6 * torch.randn(target.shape, generator=gen)
        pred = pred * (0.1 + 3 * torch.rand(BATCH, 1, HEIGHT, WIDTH, generator=gen))
        pred[:, :, 0, :5] = 0.0  # zero-norm predictions
        pred[:, :, 1, :3] = target[:, :, 1, :3] * 2.0
        pred[:, :, 2, :3] = -target[:, :, 2, :3]
        invalid = torch.rand(BATCH, 1, HEIGHT, WIDTH, generator=gen) < IGNORE_FRACTION
        target = target.masked_fill(invalid, 0.0)
        batches.append((pred, target))
    return batches


def make_boundary(seed: int = SEED) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of edge (logits, target) (B, 1, H, W); target in {0, 1, 255}."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(NUM_BATCHES):
        target = (torch.rand(BATCH, 1, HEIGHT, WIDTH, generator=gen) < 0.15).float()
        logits = 2.0 * torch.randn(target.shape, generator=gen) + 1.5 * (2 * target - 1)
        target[torch.rand(target.shape, generator=gen) < IGNORE_FRACTION] = IGNORE
        batches.append((logits, target))
    return batches


# -------------------------------------------------------------------- helpers


def run_metric(metric, batches) -> dict[str, float]:
    for pred, target in batches:
        metric.update(pred, target)
    return {k: float(v) for k, v in metric.compute().items()}


def assert_close(
    actual: dict[str, float],
    expected: dict[str, float],
    rtol: float = RTOL,
    skip: tuple[str, ...] = (),
) -> None:
    assert set(actual) == set(expected)
    for key, value in expected.items():
        if key not in skip:
            assert actual[key] == pytest.approx(value, rel=rtol, abs=1e-12), key


def concatenated(batches):
    return [(torch.cat([p for p, _ in batches]), torch.cat([t for _, t in batches]))]


def assert_states_equal(a, b) -> None:
    for name in a._defaults:
        sa, sb = getattr(a, name), getattr(b, name)
        if sa.is_floating_point():
            torch.testing.assert_close(sa, sb, rtol=1e-12, atol=0)
        else:
            assert torch.equal(sa, sb), name
