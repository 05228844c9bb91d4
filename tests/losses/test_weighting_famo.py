"""FAMO against a plain loop over tasks (both updates: the batch re-evaluated after the step, the
reference's, and the previous step's batch), and its absent-task mask."""

import math

import pytest
import torch

from dmtl.losses.weighting import FAMOWeighting
from support.weighting import NAMES, loss_steps


# ----------------------------------------------------------------------- famo
def _adam_step(state, before, after, lr=0.025, wd=1e-3):
    """One step of FAMO's logits by loops: δ over the tasks measured before and after."""
    xi, m, v, k = state
    both = [t for t in range(len(xi)) if before[t] is not None and after[t] is not None]
    if not both:
        return
    ex = {t: math.exp(xi[t]) for t in both}
    z = {t: ex[t] / sum(ex.values()) for t in both}
    delta = {t: before[t] - after[t] for t in both}
    mean = sum(z[t] * delta[t] for t in both)
    for t in both:
        g = z[t] * (delta[t] - mean) + wd * xi[t]
        k[t] += 1
        m[t] = 0.9 * m[t] + 0.1 * g
        v[t] = 0.999 * v[t] + 0.001 * g * g
        xi[t] -= lr * (m[t] / (1 - 0.9 ** k[t])) / (math.sqrt(v[t] / (1 - 0.999 ** k[t])) + 1e-8)


def _logs(losses, counts, eps=1e-8):
    return [math.log(losses[t] + eps) if counts[t] > 0 else None for t in range(len(losses))]


def _famo_oracle(steps, eps=1e-8):
    """FAMO's totals, d total / d L_t and logits by plain loops over tasks (per-task Adam), its
    logits stepped from the previous step's batch before each loss."""
    n = len(NAMES)
    state = ([0.0] * n, [0.0] * n, [0.0] * n, [0] * n)
    xi = state[0]
    previous, totals, grads = [None] * n, [], []
    for losses, counts in steps:
        logs = _logs(losses, counts, eps)
        _adam_step(state, previous, logs)
        previous = logs
        present = [t for t in range(n) if counts[t] > 0]
        ex = {t: math.exp(xi[t]) for t in present}
        z = {t: ex[t] / sum(ex.values()) for t in present}
        c = sum(z[t] / (losses[t] + eps) for t in present)
        totals.append(sum(z[t] * math.log(losses[t] + eps) for t in present) / c)
        grads.append([z[t] / (c * (losses[t] + eps)) if t in z else 0.0 for t in range(n)])
    return totals, grads, xi


def test_famo_equals_the_loop_oracle_with_absent_tasks():
    steps = loss_steps()
    w = FAMOWeighting(NAMES, update="previous_batch")
    assert not w.reevaluates
    totals, grads = [], []
    for losses, counts in steps:
        x = torch.tensor(losses, requires_grad=True)
        out = w.combine(x, torch.tensor(counts))
        out.total.backward()
        totals.append(out.total.item())
        grads.append(x.grad.tolist())
    expected, expected_grads, xi = _famo_oracle(steps)
    assert totals == pytest.approx(expected, rel=1e-4, abs=1e-6)
    for got, want in zip(grads, expected_grads, strict=True):
        assert got == pytest.approx(want, rel=1e-4, abs=1e-7)
    assert w.logits.tolist() == pytest.approx(xi, rel=1e-4, abs=1e-7)
    assert max(xi) != min(xi)  # the logits moved apart


def test_famo_same_batch_steps_from_the_batch_before_and_after_the_optimiser_step():
    """The reference: δ = log L_t(batch, before) − log L_t(same batch, after); the loss itself
    moves nothing, and ``after_step`` moves the logits once."""
    steps = loss_steps()
    w = FAMOWeighting(NAMES)
    assert w.reevaluates
    n = len(NAMES)
    state = ([0.0] * n, [0.0] * n, [0.0] * n, [0] * n)
    for j, (losses, counts) in enumerate(steps):
        after = [value * (0.9 if t != j % n else 1.1) for t, value in enumerate(losses)]
        before_logits = w.logits.clone()
        w.combine(torch.tensor(losses, requires_grad=True), torch.tensor(counts))
        assert torch.equal(w.logits, before_logits)  # nothing moves before the step
        w.update(torch.tensor(after), torch.tensor(counts))
        w.update(torch.tensor(after), torch.tensor(counts))  # a second call finds nothing
        _adam_step(state, _logs(losses, counts), _logs(after, counts))
        assert w.logits.tolist() == pytest.approx(state[0], rel=1e-4, abs=1e-7)
    assert w.steps.tolist() == [float(k) for k in state[3]]
    assert max(state[0]) != min(state[0])


@pytest.mark.parametrize("update", ["same_batch", "previous_batch"])
def test_famo_never_takes_the_log_of_a_missing_loss(update):
    w = FAMOWeighting(NAMES, update=update)
    counts = torch.tensor([2.0, 0.0, 1.0])
    for step in range(6):
        x = torch.tensor([1.0 / (step + 1), 0.0, 2.0 / (step + 2)], requires_grad=True)
        out = w.combine(x, counts)
        out.total.backward()
        w.update(x.detach() * 0.5, counts)  # ignored by previous_batch
        assert torch.isfinite(out.total) and torch.isfinite(x.grad).all()
        assert x.grad[1].item() == 0.0
    assert w.logits[1].item() == 0.0 and w.steps[1].item() == 0.0  # the absent task's logit
    assert w.logits[0].item() != 0.0
    nothing = w.combine(torch.zeros(3, requires_grad=True), torch.zeros(3))
    assert nothing.total.item() == 0.0 and torch.isfinite(nothing.weights).all()
