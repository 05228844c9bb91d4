import pytest
import torch
import torch.nn.functional as F

from dmtl.errors import ConfigError
from dmtl.losses.masked import EDGE_POS_WEIGHT, MultiTaskLoss
from dmtl.models.network import MultiTaskOutput
from dmtl.tasks import resolve_tasks

B, H, W = 5, 9, 11
TASKS = resolve_tasks("synthetic", ["semseg", "depth", "normals", "edge"])


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    preds = {
        "semseg": torch.randn(B, 13, H, W, generator=g),
        "depth": torch.rand(B, 1, H, W, generator=g) * 5,
        "normals": torch.randn(B, 3, H, W, generator=g),
        "edge": torch.randn(B, 1, H, W, generator=g),
    }
    sem = torch.randint(0, 13, (B, H, W), generator=g)
    sem[torch.rand(B, H, W, generator=g) < 0.2] = 255
    depth = torch.rand(B, 1, H, W, generator=g) * 5 + 0.5
    depth[torch.rand(B, 1, H, W, generator=g) < 0.2] = 0
    normals = F.normalize(torch.randn(B, 3, H, W, generator=g), dim=1)
    normals = normals * (torch.rand(B, 1, H, W, generator=g) > 0.2)
    edge = (torch.rand(B, 1, H, W, generator=g) < 0.1).float()
    edge[torch.rand(B, 1, H, W, generator=g) < 0.1] = 255
    targets = {"semseg": sem, "depth": depth, "normals": normals, "edge": edge}
    labelled = torch.tensor(
        [[1, 0, 0, 0], [0, 1, 1, 0], [1, 1, 1, 1], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=torch.bool
    )
    return preds, targets, labelled


def _oracle(preds, targets, labelled, initial=None, initial_weight=0.5):
    """Per-sample, per-task loop: the reference the batched loss must equal."""
    total = torch.zeros(())
    for k, spec in enumerate(TASKS):
        sample_losses = []
        for i in range(B):
            if not labelled[i, k]:
                continue
            sources = [(preds, 1.0)] + ([(initial, initial_weight)] if initial else [])
            value, count = torch.zeros(()), 0
            for source, weight in sources:
                p, t = source[spec.name][i], targets[spec.name][i]
                if spec.name == "semseg":
                    ok = t != 255
                    pix = F.cross_entropy(p.permute(1, 2, 0)[ok], t[ok], reduction="sum")
                    count = int(ok.sum())
                elif spec.name == "depth":
                    ok = t[0] > 0
                    pix = (p[0][ok] - t[0][ok]).abs().sum()
                    count = int(ok.sum())
                elif spec.name == "normals":
                    ok = t.abs().sum(0) > 0
                    u = F.normalize(p, dim=0)
                    pix = (u[:, ok] - t[:, ok]).abs().sum()
                    count = int(ok.sum())
                else:
                    ok = t[0] != 255
                    pix = F.binary_cross_entropy_with_logits(
                        p[0][ok],
                        t[0][ok],
                        pos_weight=torch.tensor(EDGE_POS_WEIGHT),
                        reduction="sum",
                    )
                    count = int(ok.sum())
                value = value + weight * pix / max(count, 1)
            if count > 0:
                sample_losses.append(value)
        if sample_losses:
            total = total + torch.stack(sample_losses).mean()
    return total


def test_batched_loss_equals_per_sample_oracle():
    preds, targets, labelled = _batch()
    loss = MultiTaskLoss(TASKS)(MultiTaskOutput(predictions=preds), targets, labelled)
    torch.testing.assert_close(loss.total, _oracle(preds, targets, labelled), rtol=1e-5, atol=1e-6)
    assert {k: int(v) for k, v in loss.counts.items()} == {
        "semseg": 2,
        "depth": 2,
        "normals": 3,
        "edge": 2,
    }


def test_initial_predictions_are_supervised_with_their_weight():
    preds, targets, labelled = _batch()
    initial, _, _ = _batch(seed=1)
    out = MultiTaskOutput(predictions=preds, initial=initial)
    loss = MultiTaskLoss(TASKS, initial_weight=0.5)(out, targets, labelled)
    expected = _oracle(preds, targets, labelled, initial=initial, initial_weight=0.5)
    torch.testing.assert_close(loss.total, expected, rtol=1e-5, atol=1e-6)


def test_gradients_match_the_oracle():
    preds, targets, labelled = _batch()
    a = {k: v.clone().requires_grad_() for k, v in preds.items()}
    b = {k: v.clone().requires_grad_() for k, v in preds.items()}
    MultiTaskLoss(TASKS)(MultiTaskOutput(predictions=a), targets, labelled).total.backward()
    _oracle(b, targets, labelled).backward()
    for name in preds:
        torch.testing.assert_close(a[name].grad, b[name].grad, rtol=1e-4, atol=1e-7)


def test_unlabelled_targets_never_change_a_gradient():
    preds, targets, labelled = _batch()
    garbage = {}
    for k, spec in enumerate(TASKS):
        t = targets[spec.name].clone()
        rows = ~labelled[:, k]
        if spec.name == "semseg":
            t[rows] = torch.randint(0, 13, t[rows].shape)
        else:
            t[rows] = float("nan") if spec.name != "edge" else 1.0
            if spec.name == "depth":
                t[rows] = 1e6
        garbage[spec.name] = t
    grads = []
    for tg in (targets, garbage):
        p = {k: v.clone().requires_grad_() for k, v in preds.items()}
        MultiTaskLoss(TASKS)(MultiTaskOutput(predictions=p), tg, labelled).total.backward()
        grads.append({k: v.grad for k, v in p.items()})
    for name in preds:
        assert torch.isfinite(grads[1][name]).all()
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=0, atol=0)
        rows = ~labelled[:, [t.name for t in TASKS].index(name)]
        assert (grads[0][name][rows] == 0).all()


def test_no_labels_in_batch_gives_zero_loss_and_zero_gradient():
    preds, targets, _ = _batch()
    p = {k: v.clone().requires_grad_() for k, v in preds.items()}
    loss = MultiTaskLoss(TASKS)(
        MultiTaskOutput(predictions=p), targets, torch.zeros(B, 4, dtype=torch.bool)
    )
    loss.total.backward()
    assert loss.total.item() == 0.0
    assert all((v.grad == 0).all() for v in p.values())


def test_task_weights_scale_the_total():
    preds, targets, labelled = _batch()
    out = MultiTaskOutput(predictions=preds)
    base = MultiTaskLoss(TASKS)(out, targets, labelled)
    weighted = MultiTaskLoss(TASKS, weights={"depth": 3.0})(out, targets, labelled)
    torch.testing.assert_close(weighted.total, base.total + 2 * base.per_task["depth"])


def test_low_resolution_predictions_are_upsampled():
    preds, targets, labelled = _batch()
    small = {k: v[..., ::2, ::2] for k, v in preds.items()}
    loss = MultiTaskLoss(TASKS)(MultiTaskOutput(predictions=small), targets, labelled)
    assert torch.isfinite(loss.total)


def test_cosine_normals_loss_is_zero_for_perfect_normals():
    preds, targets, labelled = _batch()
    preds["normals"] = targets["normals"] * 2.5  # any positive scale
    spec = resolve_tasks("synthetic", ["normals"])
    loss = MultiTaskLoss(spec, normals_loss="cosine")(
        MultiTaskOutput(predictions=preds), targets, labelled[:, 2:3]
    )
    assert loss.total.item() == pytest.approx(0.0, abs=1e-6)


def test_bad_loss_options_name_the_key():
    with pytest.raises(ConfigError, match="dpeth"):
        MultiTaskLoss(TASKS, weights={"dpeth": 1.0})
    with pytest.raises(ConfigError, match="normals_loss"):
        MultiTaskLoss(TASKS, normals_loss="l2")
