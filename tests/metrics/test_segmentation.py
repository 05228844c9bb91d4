"""Tests of SegmentationMetrics: confusion-matrix mIoU and pixel accuracy over a split."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from metric_cases import (
    BATCH,
    IGNORE,
    NUM_BATCHES,
    NUM_CLASSES,
    assert_close,
    assert_states_equal,
    concatenated,
    make_segmentation,
    run_metric,
)
from metric_references import np_segmentation
from torchmetrics.classification import MulticlassJaccardIndex
from torchmetrics.functional.classification import multiclass_confusion_matrix

from dmtl.errors import ConfigError, DataError
from dmtl.metrics import ABSENT_CLASS_RULES, SegmentationMetrics
from dmtl.metrics.multitask import build_metric
from dmtl.tasks import TASKS


def test_segmentation_matches_numpy_and_excludes_absent_class():
    batches = make_segmentation()
    result = run_metric(SegmentationMetrics(NUM_CLASSES), batches)
    assert_close(result, np_segmentation(batches, NUM_CLASSES))
    # The absent class is excluded: averaging it in as IoU 0 would give 4/5 of the value.
    present_only = np_segmentation(batches, NUM_CLASSES - 1)["miou"]
    with_absent = present_only * (NUM_CLASSES - 1) / NUM_CLASSES
    assert result["miou"] > with_absent + 1


def test_segmentation_matches_torchmetrics_jaccard():
    batches = make_segmentation()
    ours = SegmentationMetrics(NUM_CLASSES)
    reference = MulticlassJaccardIndex(NUM_CLASSES, ignore_index=IGNORE, average="macro")
    for logits, target in batches:
        ours.update(logits, target)
        reference.update(logits, target)
    # torchmetrics reduces in float32, hence the looser tolerance.
    expected = 100 * float(reference.compute())
    assert float(ours.compute()["miou"]) == pytest.approx(expected, rel=1e-5)


def test_segmentation_batches_equal_concatenation():
    batches = make_segmentation()
    split, whole = SegmentationMetrics(NUM_CLASSES), SegmentationMetrics(NUM_CLASSES)
    run_metric(split, batches)
    run_metric(whole, concatenated(batches))
    assert_states_equal(split, whole)
    assert split.confmat.sum() == sum(int((t != IGNORE).sum()) for _, t in batches)


def test_segmentation_accepts_labels_and_rejects_bad_input():
    logits, target = make_segmentation()[0]
    from_logits, from_labels = SegmentationMetrics(NUM_CLASSES), SegmentationMetrics(NUM_CLASSES)
    from_logits.update(logits, target)
    from_labels.update(logits.argmax(1), target)
    assert torch.equal(from_logits.confmat, from_labels.confmat)
    bad = target.clone()
    bad[0, 0, 0] = NUM_CLASSES
    with pytest.raises(DataError, match="outside"):
        SegmentationMetrics(NUM_CLASSES).update(logits, bad)
    with pytest.raises(DataError, match="channels"):
        SegmentationMetrics(NUM_CLASSES + 1).update(logits, target)
    with pytest.raises(DataError, match="does not match"):
        SegmentationMetrics(NUM_CLASSES).update(logits[:, :, :-1], target)
    with pytest.raises(ConfigError):
        SegmentationMetrics(NUM_CLASSES, ignore_index=0)


def test_segmentation_all_ignored_is_nan_then_recovers():
    logits, target = make_segmentation()[0]
    metric = SegmentationMetrics(NUM_CLASSES)
    metric.update(logits, torch.full_like(target, IGNORE))
    assert all(math.isnan(float(v)) for v in metric.compute().values())
    metric.update(logits, target)
    assert_close(
        {k: float(v) for k, v in metric.compute().items()},
        np_segmentation([(logits, target)], NUM_CLASSES),
    )


# ----------------------------------------------------------------------- human parts

# The human-parts batches: 7 part classes, the shape of the saliency tests' batches.
PARTS = 7
PARTS_SEED = 4321
PARTS_HEIGHT, PARTS_WIDTH = 19, 16


def make_parts(seed: int = PARTS_SEED) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of part logits (B, 7, H, W) and targets; image 0 of batch 1 shows no person
    (all background), image 2 of batch 2 is all ignore (the reader's other marking)."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for i in range(NUM_BATCHES):
        target = torch.randint(0, PARTS, (BATCH, PARTS_HEIGHT, PARTS_WIDTH), generator=gen)
        target[torch.rand(target.shape, generator=gen) < 0.5] = 0
        target[torch.rand(target.shape, generator=gen) < 0.1] = IGNORE
        if i == 1:
            target[0] = 0
        if i == 2:
            target[2] = IGNORE
        logits = torch.randn(BATCH, PARTS, PARTS_HEIGHT, PARTS_WIDTH, generator=gen)
        batches.append((logits, target))
    return batches


def np_parts_miou(batches) -> float:
    """Confusion-matrix mIoU over the images that have a labelled part pixel."""
    logits = np.concatenate([p.numpy() for p, _ in batches])
    target = np.concatenate([t.numpy() for _, t in batches])
    keep = np.array([np.any((t != IGNORE) & (t != 0)) for t in target])
    label, target = logits.argmax(axis=1)[keep], target[keep]
    valid = target != IGNORE
    ious = []
    for c in range(PARTS):
        union = np.sum(valid & ((label == c) | (target == c)))
        if union:
            ious.append(np.sum(valid & (label == c) & (target == c)) / union)
    return 100 * float(np.mean(ious))


def test_human_parts_skip_images_without_person():
    batches = make_parts()
    assert isinstance(build_metric(TASKS["human_parts"]), SegmentationMetrics)
    parts = build_metric(TASKS["human_parts"])
    assert parts.skip_background_only and not build_metric(TASKS["semseg"]).skip_background_only
    result = run_metric(parts, batches)
    assert result["miou"] == pytest.approx(np_parts_miou(batches), rel=1e-6)
    # The person-less images change nothing: dropping them gives identical counts.
    without = [
        (p[1:], t[1:]) if i == 1 else (p[:2], t[:2]) if i == 2 else (p, t)
        for i, (p, t) in enumerate(batches)
    ]
    reference = build_metric(TASKS["human_parts"])
    run_metric(reference, without)
    assert torch.equal(parts.confmat, reference.confmat)
    # Without the option, the all-background image counts (its pixels are class 0).
    plain = SegmentationMetrics(PARTS)
    run_metric(plain, batches)
    assert int(plain.confmat.sum()) > int(parts.confmat.sum())


# ------------------------------------------------------------------ building blocks, options


def test_confusion_matrix_equals_torchmetrics_confusion_matrix():
    # The hand-written count (kept for deterministic mode, see _segmentation_update) gives
    # exactly torchmetrics' confusion matrix with ignore_index.
    batches = make_segmentation()
    metric = SegmentationMetrics(NUM_CLASSES)
    run_metric(metric, batches)
    expected = sum(
        multiclass_confusion_matrix(logits, target, NUM_CLASSES, ignore_index=IGNORE)
        for logits, target in batches
    )
    assert torch.equal(metric.confmat, expected)


def _labels_metric(rule: str, target: list[int], pred: list[int]) -> dict[str, float]:
    """SegmentationMetrics(3 classes, ``rule``) over one 1-row image of labels."""
    metric = SegmentationMetrics(3, absent_class=rule)
    metric.update(torch.tensor([[pred]]), torch.tensor([[target]]))
    return {k: float(v) for k, v in metric.compute().items()}


def test_absent_class_rules_hand_computed():
    # Class 0: I = 1, U = 2; class 1: I = 2, U = 3; class 2 nowhere (absent).
    target, pred = [0, 0, 1, 1, IGNORE], [0, 1, 1, 1, 2]
    skip = _labels_metric("skip", target, pred)
    assert skip["miou"] == pytest.approx(100 * (1 / 2 + 2 / 3) / 2)
    assert _labels_metric("zero", target, pred)["miou"] == pytest.approx(100 * (1 / 2 + 2 / 3) / 3)
    assert math.isnan(_labels_metric("nan", target, pred)["miou"])
    for rule in ABSENT_CLASS_RULES:  # the rule changes the mIoU only
        assert _labels_metric(rule, target, pred)["pixel_acc"] == pytest.approx(75.0)
    # A class only predicted is not absent: IoU 0 under every rule (class 1 is absent here).
    target, pred = [0, 0], [0, 2]
    assert _labels_metric("skip", target, pred)["miou"] == pytest.approx(100 * (1 / 2 + 0) / 2)
    assert _labels_metric("zero", target, pred)["miou"] == pytest.approx(100 * (1 / 2) / 3)
    assert math.isnan(_labels_metric("nan", target, pred)["miou"])
    # Every class present: the three rules agree.
    target, pred = [0, 1, 2, 2], [0, 1, 2, 1]
    values = {rule: _labels_metric(rule, target, pred)["miou"] for rule in ABSENT_CLASS_RULES}
    assert (
        values["skip"]
        == values["zero"]
        == values["nan"]
        == pytest.approx(100 * (1 + 1 / 2 + 1 / 2) / 3)
    )


def test_absent_class_default_is_skip_and_nothing_labelled_is_nan():
    batches = make_segmentation()
    default = run_metric(SegmentationMetrics(NUM_CLASSES), batches)
    assert SegmentationMetrics(NUM_CLASSES).absent_class == "skip"
    assert default == run_metric(SegmentationMetrics(NUM_CLASSES, absent_class="skip"), batches)
    # The batches never show class ABSENT_CLASS: "zero" averages it in as 0 over 5 classes.
    zero = run_metric(SegmentationMetrics(NUM_CLASSES, absent_class="zero"), batches)
    assert zero["miou"] == pytest.approx(default["miou"] * (NUM_CLASSES - 1) / NUM_CLASSES)
    assert zero["pixel_acc"] == default["pixel_acc"]
    nan = run_metric(SegmentationMetrics(NUM_CLASSES, absent_class="nan"), batches)
    assert math.isnan(nan["miou"]) and nan["pixel_acc"] == default["pixel_acc"]
    logits, target = batches[0]
    for rule in ABSENT_CLASS_RULES:
        metric = SegmentationMetrics(NUM_CLASSES, absent_class=rule)
        metric.update(logits, torch.full_like(target, IGNORE))
        assert all(math.isnan(float(v)) for v in metric.compute().values()), rule
    with pytest.raises(ConfigError, match="absent_class"):
        SegmentationMetrics(NUM_CLASSES, absent_class="drop")  # type: ignore[arg-type]
