"""Saliency maxF and the human-parts protocol against independent NumPy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchmetrics.classification import BinaryPrecisionRecallCurve

from dmtl.errors import ConfigError, DataError
from dmtl.losses.masked import per_sample_task_loss
from dmtl.metrics import SaliencyMetrics
from dmtl.metrics.multitask import MultiTaskMetrics, build_metric
from dmtl.tasks import TASKS

SEED = 4321
NUM_BATCHES, BATCH, HEIGHT, WIDTH = 3, 3, 19, 16
IGNORE = 255
THRESHOLDS = [round(0.05 * k, 2) for k in range(1, 20)]


def make_saliency(seed: int = SEED) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of (logits (B, 2, H, W), target (B, H, W) in {0, 1, 255})."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(NUM_BATCHES):
        target = (torch.rand(BATCH, HEIGHT, WIDTH, generator=gen) < 0.3).long()
        logits = 1.5 * torch.randn(BATCH, 2, HEIGHT, WIDTH, generator=gen)
        logits[:, 1] += 1.2 * (2 * target - 1)
        target[torch.rand(target.shape, generator=gen) < 0.1] = IGNORE
        batches.append((logits, target))
    return batches


def np_saliency(batches, literature_sigmoid: bool, beta2: float = 0.3) -> dict[str, float]:
    """maxF from split-wide counts, written out per threshold; mIoU of the arg-max labels."""
    logits = np.concatenate([p.numpy() for p, _ in batches]).astype(np.float64)
    target = np.concatenate([t.numpy() for _, t in batches])
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    prob = exp[:, 1] / exp.sum(axis=1)
    if literature_sigmoid:
        prob = 1.0 / (1.0 + np.exp(-prob))
    valid = target != IGNORE
    gt = valid & (target == 1)
    best_f, best_t = -1.0, None
    for t in THRESHOLDS:
        pos = valid & (prob >= t)
        tp = np.sum(pos & gt)
        precision = tp / pos.sum() if pos.sum() else 0.0
        recall = tp / gt.sum()
        denom = beta2 * precision + recall
        f = (1 + beta2) * precision * recall / denom if denom > 0 else 0.0
        if f > best_f:
            best_f, best_t = f, t
    label = logits.argmax(axis=1)
    ious = []
    for c in (0, 1):
        inter = np.sum(valid & (label == c) & (target == c))
        union = np.sum(valid & ((label == c) | (target == c)))
        ious.append(inter / union)
    return {"maxf": 100 * best_f, "threshold": best_t, "miou": 100 * float(np.mean(ious))}


def run(metric, batches) -> dict[str, float]:
    for pred, target in batches:
        metric.update(pred, target)
    return {k: float(v) for k, v in metric.compute().items()}


@pytest.mark.parametrize("literature_sigmoid", [False, True])
def test_saliency_matches_numpy_reference(literature_sigmoid):
    batches = make_saliency()
    ours = run(SaliencyMetrics(literature_sigmoid=literature_sigmoid), batches)
    expected = np_saliency(batches, literature_sigmoid)
    assert ours["maxf"] == pytest.approx(expected["maxf"], rel=1e-6)
    assert ours["threshold"] == pytest.approx(expected["threshold"], rel=1e-12)
    assert ours["miou"] == pytest.approx(expected["miou"], rel=1e-6)


def test_literature_sigmoid_collapses_low_thresholds():
    # σ(p) lies in [0.5, 0.731]: thresholds ≤ 0.5 mark every labelled pixel salient, ≥ 0.75 none.
    batches = make_saliency()
    metric = SaliencyMetrics(literature_sigmoid=True)
    run(metric, batches)
    valid = sum(int((t != IGNORE).sum()) for _, t in batches)
    low = [i for i, t in enumerate(THRESHOLDS) if t <= 0.5]
    high = [i for i, t in enumerate(THRESHOLDS) if t >= 0.75]
    assert all(int(metric.pred_pos[i]) == valid for i in low)
    assert all(int(metric.tp[i]) == int(metric.actual_pos) for i in low)
    assert all(int(metric.pred_pos[i]) == 0 for i in high)


def test_saliency_counts_are_split_wide_not_per_image():
    # Image 1: perfect; image 2: one salient pixel, everything predicted salient. Per-image
    # averaging would give P = (1 + 1/N) / 2; split-wide counts give P = (n1 + 1) / (n1 + N).
    target = torch.zeros(2, 4, 4, dtype=torch.long)
    target[0, :2] = 1
    target[1, 0, 0] = 1
    logits = torch.zeros(2, 2, 4, 4)
    logits[0, 1] = torch.where(target[0] == 1, 10.0, -10.0)
    logits[1, 1] = 10.0
    metric = SaliencyMetrics(thresholds=[0.5])
    result = run(metric, [(logits, target)])
    precision, recall = 9 / 24, 1.0
    expected = 1.3 * precision * recall / (0.3 * precision + recall)
    assert result["maxf"] == pytest.approx(100 * expected, rel=1e-12)


def test_saliency_perfect_prediction_and_errors():
    target = torch.tensor([[[0, 1], [1, IGNORE]]])
    logits = torch.stack([1.0 - 2 * (target == 1).float(), 2 * (target == 1).float() - 1.0], 1)
    result = run(SaliencyMetrics(), [(logits * 20, target)])
    assert result["maxf"] == pytest.approx(100.0) and result["miou"] == pytest.approx(100.0)
    with pytest.warns(UserWarning, match="before the ``update``"):
        assert math.isnan(SaliencyMetrics().compute()["maxf"])
    with pytest.raises(DataError, match="expected 0, 1"):
        SaliencyMetrics().update(logits, torch.full_like(target, 2))
    with pytest.raises(DataError):
        SaliencyMetrics().update(logits[:, :1], target)
    with pytest.raises(ConfigError, match="beta_squared"):
        SaliencyMetrics(beta_squared=0.0)


def test_build_metric_evaluates_sal_with_maxf_and_the_loss_still_trains_it():
    spec = TASKS["sal"]
    assert spec.primary_metric == "maxf" and spec.higher_is_better
    assert isinstance(build_metric(spec), SaliencyMetrics)
    holder = MultiTaskMetrics([spec], saliency_literature_sigmoid=True)
    assert holder["sal"].literature_sigmoid
    logits, target = make_saliency()[0]
    logits.requires_grad_(True)
    use = torch.ones(BATCH, dtype=torch.bool)
    loss, has = per_sample_task_loss(spec, logits, target, use)
    valid = target != IGNORE
    ce = torch.nn.functional.cross_entropy(logits.detach(), target.clamp(max=1), reduction="none")
    expected = (ce * valid).flatten(1).sum(1) / valid.flatten(1).sum(1)
    assert torch.allclose(loss.detach(), expected, rtol=1e-6) and bool(has.all())
    loss.sum().backward()
    assert logits.grad is not None and bool(logits.grad.abs().sum() > 0)


def test_saliency_counts_equal_torchmetrics_binned_precision_recall_curve():
    # The hand-written counts (faster, see boundary.count_at_or_above) are torchmetrics' binned
    # precision-recall curve state on the salient-channel probability.
    batches = make_saliency()
    metric = SaliencyMetrics()
    run(metric, batches)
    thresholds = torch.tensor(THRESHOLDS, dtype=torch.float64)
    reference = BinaryPrecisionRecallCurve(thresholds=thresholds, ignore_index=IGNORE)
    for logits, target in batches:
        reference.update(torch.softmax(logits.double(), dim=1)[:, 1], target)
    assert torch.equal(metric.tp, reference.confmat[:, 1, 1])
    assert torch.equal(metric.pred_pos, reference.confmat[:, :, 1].sum(1))
