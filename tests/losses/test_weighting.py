"""The loss weightings against plain per-sample / per-task loops, and their partial-label masks."""

import math

import pytest
import torch
import torch.nn.functional as F

from dmtl.config import LossConfig, WeightingOptions
from dmtl.errors import ConfigError
from dmtl.losses.masked import MultiTaskLoss
from dmtl.losses.weighting import (
    DWAWeighting,
    FAMOWeighting,
    UncertaintyWeighting,
    build_weighting,
)
from dmtl.models.network import MultiTaskOutput
from dmtl.optim import build_optimizer
from dmtl.tasks import resolve_tasks
from support.weighting import NAMES, batch_losses, loss_steps, random_batch


# ---------------------------------------------------------------- uncertainty
def test_uncertainty_equals_the_loop_oracle_and_skips_absent_tasks():
    w = UncertaintyWeighting(NAMES, init=-0.5)
    with torch.no_grad():
        w.log_var.copy_(torch.tensor([-0.5, 0.3, 1.2]))
    per_sample, labelled = random_batch(torch.Generator().manual_seed(0), absent=(1,))
    losses, counts = batch_losses(per_sample, labelled)
    out = w.combine(losses, counts)
    s = [-0.5, 0.3, 1.2]
    expected = sum(
        float(losses[t]) / (2 * math.exp(s[t])) + s[t] / 2 for t in range(3) if counts[t] > 0
    )
    assert out.total.item() == pytest.approx(expected, rel=1e-6)
    assert out.weights.tolist() == pytest.approx([math.exp(-v) / 2 for v in s], rel=1e-6)
    out.total.backward()
    grad = w.log_var.grad.tolist()
    assert grad[1] == 0.0  # the absent task's s_t: no gradient from either term
    for t in (0, 2):
        assert grad[t] == pytest.approx(0.5 - float(losses[t]) / (2 * math.exp(s[t])), rel=1e-5)


def test_uncertainty_keeps_a_task_absent_from_every_batch_at_its_init():
    torch.manual_seed(0)
    w = UncertaintyWeighting(NAMES, init=-0.5)
    net = torch.nn.Linear(4, 3)
    opt = build_optimizer("adamw", net.parameters(), 0.1, 0.1, undecayed=w.parameters())
    before = w.combine(torch.ones(3), torch.ones(3)).weights[1].item()
    for _ in range(5):
        losses = net(torch.randn(6, 4)).pow(2).mean(dim=0)
        total = w.combine(losses, torch.tensor([2.0, 0.0, 3.0])).total
        opt.zero_grad()
        total.backward()
        opt.step()
    assert w.log_var[1].item() == -0.5  # exactly: no gradient and no decay
    assert w.log_var[0].item() != -0.5 and w.log_var[2].item() != -0.5
    assert w.combine(torch.ones(3), torch.ones(3)).weights[1].item() == before


# ------------------------------------------------------------------------ dwa
def _dwa_oracle(epochs, temperature=2.0):
    """Per-batch totals by loops: λ from the per-sample epoch means over the labelled samples."""
    means, totals, lambdas = [], [], [1.0] * len(NAMES)
    for e, batches in enumerate(epochs):
        if e >= 2:
            ratios = [
                means[-1][t] / means[-2][t]
                if means[-1][t] is not None and means[-2][t] is not None
                else 1.0
                for t in range(len(NAMES))
            ]
            ex = [math.exp(r / temperature) for r in ratios]
            lambdas = [len(NAMES) * x / sum(ex) for x in ex]
        for per_sample, labelled in batches:
            losses, counts = batch_losses(per_sample, labelled)
            totals.append(sum(lambdas[t] * float(losses[t]) for t in range(len(NAMES))))
        epoch_mean = []
        for t in range(len(NAMES)):
            values = [
                ps[i][t] for ps, lab in batches for i in range(len(ps)) if lab[i][t]
            ]  # every labelled sample of the epoch, whatever its batch
            epoch_mean.append(sum(values) / len(values) if values else None)
        means.append(epoch_mean)
    return totals, lambdas


def _dwa_epochs(seed=1):
    g = torch.Generator().manual_seed(seed)
    epochs = []
    for e in range(4):
        absent = (2,) if e == 1 else ()  # task c has no label in epoch 1: ratio 1 after it
        epochs.append([random_batch(g, b=2 + k, absent=absent) for k in range(3)])
    return epochs


def test_dwa_equals_the_loop_oracle_with_epoch_means_over_labelled_samples():
    epochs = _dwa_epochs()
    w = DWAWeighting(NAMES, temperature=2.0)
    totals = []
    for e, batches in enumerate(epochs):
        w.start_epoch(e)
        for per_sample, labelled in batches:
            totals.append(w.combine(*batch_losses(per_sample, labelled)).total.item())
    expected, lambdas = _dwa_oracle(epochs)
    assert totals == pytest.approx(expected, rel=1e-5)
    assert w.lambdas.tolist() == pytest.approx(lambdas, rel=1e-5)
    assert w.lambdas.tolist() != pytest.approx([1.0, 1.0, 1.0])


def _epoch_mean(batches, t):
    values = [ps[i][t] for ps, lab in batches for i in range(len(ps)) if lab[i][t]]
    return sum(values) / len(values)


def test_dwa_weights_are_one_for_two_epochs_and_ratio_one_without_labels():
    epochs = _dwa_epochs()
    w = DWAWeighting(NAMES, temperature=2.0)
    seen = []
    for e, batches in enumerate(epochs):
        w.start_epoch(e)
        seen.append(w.lambdas.tolist())
        for per_sample, labelled in batches:
            w.combine(*batch_losses(per_sample, labelled))
    assert seen[0] == seen[1] == [1.0, 1.0, 1.0]
    # Epoch 2 compares epochs 1 and 0; task c had no label in epoch 1: its ratio is 1, so
    # τ · log(λ_t / λ_c) = r_t − 1 for the others.
    for t in (0, 1):
        r = _epoch_mean(epochs[1], t) / _epoch_mean(epochs[0], t)
        assert 2.0 * math.log(seen[2][t] / seen[2][2]) == pytest.approx(r - 1, rel=1e-4, abs=1e-5)
    assert sum(seen[2]) == pytest.approx(3.0)


def test_dwa_does_not_count_evaluation_batches():
    w = DWAWeighting(NAMES).eval()
    w.start_epoch(0)
    w.combine(torch.ones(3), torch.ones(3))
    assert w.counts.sum().item() == 0.0


# ----------------------------------------------------- state and the config
def _run(w, steps):
    totals = []
    for losses, counts in steps:
        totals.append(w.combine(torch.tensor(losses), torch.tensor(counts)).total.item())
    return totals


@pytest.mark.parametrize("cls", [DWAWeighting, FAMOWeighting, UncertaintyWeighting])
def test_a_resumed_weighting_continues_as_the_uninterrupted_one(cls):
    steps = loss_steps(seed=3, count=12)
    epochs = [steps[:4], steps[4:8], steps[8:]]
    whole, first = cls(NAMES), cls(NAMES)
    uninterrupted, resumed = [], []
    for e, batch in enumerate(epochs):
        whole.start_epoch(e)
        uninterrupted += _run(whole, batch)
    first.start_epoch(0)
    resumed += _run(first, epochs[0])
    first.start_epoch(1)
    resumed += _run(first, epochs[1][:2])
    state = {k: v.clone() for k, v in first.state_dict().items()}
    second = cls(NAMES)
    second.load_state_dict(state)
    second.start_epoch(1)  # a mid-epoch resume: the same epoch again
    resumed += _run(second, epochs[1][2:])
    second.start_epoch(2)
    resumed += _run(second, epochs[2])
    assert resumed == uninterrupted
    for key, value in whole.state_dict().items():
        assert torch.equal(second.state_dict()[key], value), key


def test_equal_returns_the_multitask_loss_itself_and_holds_no_state():
    tasks = resolve_tasks("synthetic", ["semseg", "depth"])
    g = torch.Generator().manual_seed(4)
    preds = {"semseg": torch.randn(3, 13, 6, 7, generator=g), "depth": torch.rand(3, 1, 6, 7)}
    targets = {
        "semseg": torch.randint(0, 13, (3, 6, 7), generator=g),
        "depth": torch.rand(3, 1, 6, 7) + 0.5,
    }
    labelled = torch.tensor([[1, 0], [0, 1], [1, 1]], dtype=torch.bool)
    criterion = MultiTaskLoss(tasks, {"semseg": 2.0})
    loss = criterion(MultiTaskOutput(predictions=preds), targets, labelled)
    equal = build_weighting(["semseg", "depth"], LossConfig())
    out = equal(loss, criterion.weights)
    assert out.total is loss.total and out.weights is None
    assert not list(equal.parameters()) and not equal.state_dict()


def test_the_weightings_see_the_fixed_weighted_losses_of_the_labelled_samples():
    tasks = resolve_tasks("synthetic", ["semseg", "depth"])
    g = torch.Generator().manual_seed(5)
    preds = {"semseg": torch.randn(3, 13, 6, 7, generator=g), "depth": torch.rand(3, 1, 6, 7)}
    targets = {
        "semseg": torch.randint(0, 13, (3, 6, 7), generator=g),
        "depth": torch.rand(3, 1, 6, 7) + 0.5,
    }
    labelled = torch.tensor([[1, 0], [0, 0], [1, 0]], dtype=torch.bool)  # depth absent
    criterion = MultiTaskLoss(tasks, {"semseg": 2.0})
    loss = criterion(MultiTaskOutput(predictions=preds), targets, labelled)
    per_sample = [
        F.cross_entropy(preds["semseg"][i : i + 1], targets["semseg"][i : i + 1]).item()
        for i in (0, 2)
    ]
    w = UncertaintyWeighting(["semseg", "depth"])
    out = w(loss, criterion.weights)
    semseg = 2.0 * sum(per_sample) / 2
    assert out.total.item() == pytest.approx(semseg / (2 * math.exp(-0.5)) - 0.25, rel=1e-5)


def test_weighting_options_are_checked_and_sample_normalisation_refused():
    with pytest.raises(ConfigError, match="model.loss.normalization=task"):
        LossConfig(weighting="famo", recipe="released")
    with pytest.raises(ConfigError, match="model.loss.normalization=task"):
        LossConfig(weighting="dwa", normalization="sample")
    with pytest.raises(ConfigError, match="unknown model.loss.weighting"):
        LossConfig(weighting="gradnorm")
    with pytest.raises(ConfigError, match="dwa_temperature"):
        WeightingOptions(dwa_temperature=0.0)
    with pytest.raises(ConfigError, match="uncertainty_init"):
        WeightingOptions(uncertainty_init=float("nan"))
    config = LossConfig(weighting="famo", weighting_options={"famo_lr": 0.5})
    assert config.weighting_options == WeightingOptions(famo_lr=0.5)
    assert build_weighting(NAMES, config).lr == 0.5
    assert LossConfig(weighting="uncertainty", recipe="released", normalization="task")


@pytest.mark.parametrize("cls", [DWAWeighting, FAMOWeighting])
def test_a_non_finite_loss_leaves_the_state_finite(cls):
    w = cls(NAMES)
    w.start_epoch(0)
    for step in range(4):
        losses = torch.tensor([1.0 / (step + 1), 2.0, 0.5 + step])
        if step == 1:
            losses[0] = float("nan")  # a step the loss guard would skip
        w.combine(losses, torch.tensor([1.0, 2.0, 1.0]))
    w.start_epoch(1)
    assert all(torch.isfinite(v.float()).all() for v in w.state_dict().values())
