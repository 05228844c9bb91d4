"""The released loss recipe against a per-sample loop oracle written in NumPy."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dmtl.losses.masked import MultiTaskLoss, per_sample_task_loss
from dmtl.losses.released import RELEASED_WEIGHTS, released_task_loss
from dmtl.models.network import MultiTaskOutput
from dmtl.module import DiffusionMTLModule
from dmtl.tasks import IGNORE_INDEX, resolve_tasks

TASKS = resolve_tasks("pascal_context")  # semseg 21, human_parts 7, sal 2, normals 3, edge 1
B, H, W = 4, 6, 5
LABELLED = np.array([[1, 0, 0, 0, 0], [0, 1, 1, 0, 1], [1, 1, 1, 1, 1], [0, 0, 1, 1, 0]], bool)


def make_batch(seed: int = 0) -> tuple[dict, dict, dict]:
    """Random final and initial outputs, targets with ignored/invalid pixels."""
    rng = np.random.default_rng(seed)
    final, initial, targets = {}, {}, {}
    for spec in TASKS:
        final[spec.name] = rng.normal(size=(B, spec.channels, H, W)).astype(np.float32)
        initial[spec.name] = rng.normal(size=(B, spec.channels, H, W)).astype(np.float32)
        if spec.behaviour.class_ids:  # segmentation and saliency: class-id maps
            t = rng.integers(0, spec.channels, size=(B, H, W))
            t[rng.random((B, H, W)) < 0.2] = IGNORE_INDEX
        elif spec.kind == "normals":
            t = rng.normal(size=(B, 3, H, W))
            t /= np.linalg.norm(t, axis=1, keepdims=True)
            t[:, :, rng.random((H, W)) < 0.3] = 0.0  # invalid pixels are all-zero
        else:
            t = (rng.random((B, 1, H, W)) < 0.2).astype(np.float32)
            t[rng.random((B, 1, H, W)) < 0.2] = IGNORE_INDEX
        targets[spec.name] = t
    return final, initial, targets


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(0, keepdims=True)
    return x - np.log(np.exp(x).sum(0, keepdims=True))


def oracle_task_loss(name: str, pred: np.ndarray, target: np.ndarray) -> float:
    """ℓ_τ of one sample (pred (C, H, W)), pixel by pixel as docs/released.md says."""
    if name in ("semseg", "human_parts", "sal"):
        logp = log_softmax(pred.astype(np.float64))
        valid = [(r, c) for r in range(H) for c in range(W) if target[r, c] != IGNORE_INDEX]
        if name == "sal":
            p = sum(target[r, c] == 1 for r, c in valid) / len(valid)
            weight = {0: p, 1: 1 - p}
        else:
            weight = {k: 1.0 for k in range(pred.shape[0])}
        total = sum(-weight[int(target[r, c])] * logp[int(target[r, c]), r, c] for r, c in valid)
        return total / len(valid)
    if name == "normals":
        total, count = 0.0, 0
        for r in range(H):
            for c in range(W):
                if np.abs(target[:, r, c]).sum() == 0:
                    continue
                n = pred[:, r, c] / max(np.linalg.norm(pred[:, r, c]), 1e-12)
                total += np.abs(n - target[:, r, c]).sum()
                count += 1
        return total / count
    total, count = 0.0, 0  # edge: BCE with positives weighted 0.95/0.05, mean, × 0.05
    for r in range(H):
        for c in range(W):
            y = target[0, r, c]
            if y == IGNORE_INDEX:
                continue
            s = 1 / (1 + np.exp(-float(pred[0, r, c])))
            total += -(0.95 / 0.05 * y * np.log(s) + (1 - y) * np.log(1 - s))
            count += 1
    return 0.05 * total / count


def oracle_total(final, initial, targets) -> float:
    names = [s.name for s in TASKS]
    total = 0.0
    for i in range(B):
        labelled = [n for k, n in enumerate(names) if LABELLED[i, k]]
        loss_i = sum(
            RELEASED_WEIGHTS[n]
            * (
                oracle_task_loss(n, final[n][i], targets[n][i])
                + 0.5 * oracle_task_loss(n, initial[n][i], targets[n][i])
            )  # fmt: skip
            for n in labelled
        )
        total += len(names) / len(labelled) * loss_i
    return total / B


def _torch_targets(targets: dict) -> dict:
    out = {}
    for spec in TASKS:
        t = torch.from_numpy(np.asarray(targets[spec.name]))
        out[spec.name] = t.long() if spec.behaviour.class_ids else t.float()
    return out


def test_released_recipe_matches_the_per_sample_loop_oracle():
    final, initial, targets = make_batch()
    output = MultiTaskOutput(
        predictions={k: torch.from_numpy(v) for k, v in final.items()},
        initial={k: torch.from_numpy(v) for k, v in initial.items()},
    )
    module = DiffusionMTLModule(
        dataset="pascal_context", network={"embed_dim": 8}, loss={"recipe": "released"}
    )
    loss = module.criterion(output, _torch_targets(targets), torch.from_numpy(LABELLED))
    assert loss.total.item() == pytest.approx(oracle_total(final, initial, targets), rel=1e-5)


@pytest.mark.parametrize("task", ["sal", "edge", "normals", "human_parts"])
def test_each_released_task_loss_matches_the_oracle_per_sample(task):
    final, _, targets = make_batch(seed=1)
    spec = next(s for s in TASKS if s.name == task)
    use = torch.tensor([True, True, False, True])
    loss, has = released_task_loss(
        spec, torch.from_numpy(final[task]), _torch_targets(targets)[task], use
    )
    for i in range(B):
        expected = oracle_task_loss(task, final[task][i], targets[task][i]) if use[i] else 0.0
        assert loss[i].item() == pytest.approx(expected, rel=1e-5, abs=1e-7)
    assert has.tolist() == use.tolist()


def test_released_recipe_defaults_and_explicit_overrides():
    module = DiffusionMTLModule(
        dataset="pascal_context", network={"embed_dim": 8}, loss={"recipe": "released"}
    )
    assert module.criterion.weights == RELEASED_WEIGHTS
    assert module.criterion.normalization == "sample"
    own = DiffusionMTLModule(
        dataset="pascal_context", network={"embed_dim": 8},
        loss={"recipe": "released", "weights": {"edge": 2.0}, "normalization": "task"},
    )  # fmt: skip
    assert own.criterion.weights["edge"] == 2.0 and own.criterion.weights["sal"] == 1.0
    assert own.criterion.normalization == "task"
    plain = DiffusionMTLModule(dataset="pascal_context", network={"embed_dim": 8})
    assert plain.criterion.normalization == "task"
    assert set(plain.criterion.weights.values()) == {1.0}
    assert plain.criterion.task_loss is per_sample_task_loss


def test_dmtl_and_released_recipes_differ_only_on_saliency_and_edge():
    final, _, targets = make_batch(seed=2)
    t = _torch_targets(targets)
    labelled = torch.ones(B, len(TASKS), dtype=torch.bool)
    out = MultiTaskOutput(predictions={k: torch.from_numpy(v) for k, v in final.items()})
    ours = MultiTaskLoss(TASKS)(out, t, labelled).per_task
    released = MultiTaskLoss(TASKS, task_loss=released_task_loss)(out, t, labelled).per_task
    for name in ("semseg", "human_parts", "normals"):
        torch.testing.assert_close(ours[name], released[name])
    torch.testing.assert_close(released["edge"], 0.05 * ours["edge"])
    assert not torch.allclose(ours["sal"], released["sal"])


@pytest.mark.parametrize("interval", ["epoch", "step"])
def test_poly_schedule_steps_per_epoch_or_per_step(interval):
    module = DiffusionMTLModule(
        dataset="pascal_context",
        network={"embed_dim": 8},
        optim={"lr": 2e-5, "poly_interval": interval},
    )
    module._trainer = SimpleNamespace(max_epochs=10, estimated_stepping_batches=400)
    config = module.configure_optimizers()
    sched = config["lr_scheduler"]
    assert sched["interval"] == interval
    total = 10 if interval == "epoch" else 400
    for k in (0, 3, total - 1):
        assert sched["scheduler"].lr_lambdas[0](k) == pytest.approx((1 - k / total) ** 0.9)
