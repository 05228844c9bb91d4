"""The pseudo-label loss L_p against a per-sample loop written from HiTTs' equations."""

import math

import pytest
import torch
import torch.nn.functional as F

from dmtl.errors import ConfigError
from dmtl.models.output import MultiTaskOutput
from dmtl.tasks import TASKS
from dmtl.tasks.kinds.boundary import EDGE_POS_WEIGHT
from dmtl.terms.pseudo_labels import (
    every_sample,
    pseudo_label_loss,
    resolve_thresholds,
)

NAMES = ["semseg", "sal", "edge", "depth", "normals"]
SPECS = [TASKS[n] for n in NAMES]
CHANNELS = {"semseg": 13, "sal": 2, "edge": 1, "depth": 1, "normals": 3}
THRESHOLDS = {"semseg": 0.3, "sal": 0.7, "edge": 0.6, "depth": 0.5, "normals": 0.5}
WEIGHTS = {"semseg": 1.0, "sal": 5.0, "edge": 50.0, "depth": 0.6, "normals": 10.0}
B, H, W = 4, 6, 7


def _maps(seed, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    out = {n: torch.randn(B, c, H, W, generator=g) * scale for n, c in CHANNELS.items()}
    out["depth"] = out["depth"].abs() + 0.5
    return out


LABELLED = torch.tensor(
    [[1, 0, 0, 1, 0], [0, 1, 1, 0, 0], [0, 0, 0, 0, 0], [1, 1, 0, 1, 1]], dtype=torch.bool
)


def _oracle_pair(name, p, t, flipped=None, sigma=0.1):
    """ℓ^PL of one sample (C, H, W) and one task, pixel by pixel from the equations."""
    theta = THRESHOLDS[name]
    if name in ("semseg", "sal"):
        prob = t.softmax(0)
        c, y = prob.max(0)
        ce = -p.log_softmax(0).gather(0, y[None])[0]
        return ((c > theta).float() * ce).mean() * 1.0
    if name == "edge":
        s = t.sigmoid()[0]
        c, y = (s - 0.5).abs() * 2, (s > 0.5).float()
        x = p[0]
        bce = -(EDGE_POS_WEIGHT * y * F.logsigmoid(x) + (1 - y) * F.logsigmoid(-x))
        return ((c > theta).float() * bce).mean() * 0.05
    if name == "depth":
        c = torch.ones(H, W) if flipped is None else torch.exp(
            -(t[0] - flipped[0].flip(-1)).abs() / sigma)  # fmt: skip
        return ((c > theta).float() * c * (p[0] - t[0]).abs()).mean()
    # normals: Σ_c |unit(P) − unit(T)|
    u, v = F.normalize(p, dim=0), F.normalize(t, dim=0)
    if flipped is None:
        c = torch.ones(H, W)
    else:
        back = flipped.flip(-1)
        back = F.normalize(torch.cat([-back[:1], back[1:]]), dim=0)
        c = torch.exp(-(v - back).abs().sum(0) / sigma)
    return ((c > theta).float() * c * (u - v).abs().sum(0)).mean()


def _oracle(student, teacher, labelled, flipped=None, sigma=0.1):
    total = 0.0
    for i in range(B):
        for k, name in enumerate(NAMES):
            if labelled[i, k]:
                continue
            f = None if flipped is None else flipped[name][i]
            pair = _oracle_pair(name, student[name][i], teacher[name][i], f, sigma)
            total += WEIGHTS[name] * pair * len(NAMES) / B
    return total


def test_pseudo_label_loss_matches_a_per_sample_loop():
    student, teacher = _maps(0), _maps(1)
    loss, logs = pseudo_label_loss(SPECS, student, teacher, LABELLED, THRESHOLDS, WEIGHTS)
    assert torch.allclose(loss, _oracle(student, teacher, LABELLED), rtol=1e-5, atol=1e-6)
    assert 0 < float(logs["kept/semseg"]) < 1  # the threshold masks some pixels, not all
    assert float(logs["kept/depth"]) == 1.0  # no bins: c = 1 keeps every pixel


def test_flip_confidence_matches_the_loop():
    student, teacher, flipped = _maps(0), _maps(1), _maps(2)
    g = torch.Generator().manual_seed(3)
    for name in ("depth", "normals"):  # mirrored teacher maps close to the teacher's own
        noise = torch.randn(teacher[name].shape, generator=g) * 0.05
        flipped[name] = teacher[name].flip(-1) + noise
    flipped["normals"][:, 0] = -flipped["normals"][:, 0]
    loss, logs = pseudo_label_loss(SPECS, student, teacher, LABELLED, THRESHOLDS, WEIGHTS,
                                   teacher_flipped=flipped, flip_sigma=0.1)  # fmt: skip
    expected = _oracle(student, teacher, LABELLED, flipped, sigma=0.1)
    assert torch.allclose(loss, expected, rtol=1e-5, atol=1e-6)
    assert 0 < float(logs["kept/depth"]) < 1


def test_with_every_task_labelled_the_term_is_exactly_zero_and_keeps_the_graph():
    student = {n: t.requires_grad_() for n, t in _maps(0).items()}
    loss, logs = pseudo_label_loss(
        SPECS, student, _maps(1), torch.ones(B, 5, dtype=torch.bool), THRESHOLDS, WEIGHTS
    )
    assert loss.item() == 0.0 and logs == {}
    loss.backward()  # in the graph (DDP sees every parameter used)
    assert all(t.grad is None or float(t.grad.abs().sum()) == 0.0 for t in student.values())


def test_thresholds_of_one_mask_every_pixel():
    ones = dict.fromkeys(NAMES, 1.0)
    loss, _ = pseudo_label_loss(SPECS, _maps(0), _maps(1), LABELLED, ones, WEIGHTS)
    assert loss.item() == 0.0


def test_the_teacher_gets_no_gradient():
    student = {n: t.requires_grad_() for n, t in _maps(0).items()}
    teacher = {n: t.requires_grad_() for n, t in _maps(1).items()}
    loss, _ = pseudo_label_loss(SPECS, student, teacher, LABELLED, THRESHOLDS, WEIGHTS)
    loss.backward()
    assert all(t.grad is None for t in teacher.values())
    assert any(float(t.grad.abs().sum()) > 0 for t in student.values())


def test_default_thresholds_are_hitts_per_kind_and_unknown_tasks_are_refused():
    resolved = resolve_thresholds(SPECS + [TASKS["human_parts"]], {"depth": 0.95}, "k")
    assert resolved == {"semseg": 0.9, "sal": 0.7, "edge": 0.99, "depth": 0.95,
                        "normals": 0.85, "human_parts": 0.9}  # fmt: skip
    unknown = r"^model.teacher.thresholds names unknown tasks \['dpth'\]"
    with pytest.raises(ConfigError, match=unknown):
        resolve_thresholds(SPECS, {"dpth": 0.5}, "model.teacher.thresholds")


def test_every_sample_takes_the_initial_prediction_where_only_labelled_rows_are_denoised():
    initial = {"semseg": torch.zeros(3, 2, 4, 4), "depth": torch.zeros(3, 1, 4, 4)}
    out = MultiTaskOutput(
        predictions={"semseg": torch.ones(2, 2, 4, 4), "depth": torch.ones(3, 1, 4, 4)},
        initial=initial,
        rows={"semseg": torch.tensor([0, 2]), "depth": None},
    )
    maps = every_sample(out)
    assert maps["semseg"] is initial["semseg"] and maps["depth"] is out.predictions["depth"]
    assert math.isclose(float(maps["depth"].mean()), 1.0)
