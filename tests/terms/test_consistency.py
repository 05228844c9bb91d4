"""The consistency term (SS) against a per-sample loop written from its equation."""

import pytest
import torch
import torch.nn.functional as F

from dmtl.config import ConsistencyConfig
from dmtl.errors import ConfigError
from dmtl.tasks import TASKS
from dmtl.terms.consistency import ConsistencyTerm
from dmtl.terms.views import MTPSL_SCALES, draw_boxes
from support.view_terms import ONE_LABEL, SPECS, Toy, batch, inputs


def _crop(x, box, size, mode="bilinear"):
    s, i, j, h, w = box
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(x[None, :, i : i + h, j : j + w], size=size, mode=mode, **kwargs)[0]


def _oracle(net, data, weights, seed=0):
    """L = (1/B) Σ_i Σ_{t ∉ L_i} w_t mean_px d_t(ŷ_t(x'_i), R(ŷ_t(x_i))), sample by sample."""
    image = data["image"]
    b, size = image.shape[0], tuple(image.shape[-2:])
    boxes = draw_boxes(b, size, MTPSL_SCALES, torch.Generator().manual_seed(seed), image.device)
    total = 0.0
    for k in range(b):
        box = [boxes.scale[k].item()] + [int(t[k]) for t in
               (boxes.top, boxes.left, boxes.height, boxes.width)]  # fmt: skip
        s = box[0]
        view = _crop(image[k], box, size)[None]
        seen = net(view).predictions
        whole = net(image[k : k + 1]).predictions
        for t, spec in enumerate(SPECS):
            if data["labelled"][k, t]:
                continue
            p, q = seen[spec.name][0], _crop(whole[spec.name][0], box, size).detach()
            if spec.name == "semseg":
                d = F.kl_div(p.log_softmax(0), q.log_softmax(0), log_target=True,
                             reduction="none").sum(0)  # fmt: skip
            elif spec.name == "depth":
                d = (p - q / s).abs()[0]
            else:
                d = 1 - F.cosine_similarity(p, q, dim=0, eps=1e-12)
            total = total + weights[spec.name] * d.mean()
    return total / b


def test_the_term_equals_the_per_sample_oracle():
    torch.manual_seed(0)
    net, data = Toy(), batch(ONE_LABEL)
    weights = {"semseg": 1.0, "depth": 2.0, "normals": 0.5}
    term = ConsistencyTerm(SPECS, ConsistencyConfig(enabled=True, weight=3.0, task_weights=weights))
    got = term(inputs(net, data)).total
    torch.testing.assert_close(got, 3.0 * _oracle(net, data, weights), rtol=1e-5, atol=1e-6)
    assert got > 0


def test_with_every_task_labelled_the_term_is_exactly_zero():
    net, data = Toy(), batch(torch.ones(4, 3, dtype=torch.bool))
    out = ConsistencyTerm(SPECS, ConsistencyConfig(enabled=True))(inputs(net, data))
    assert out.total.item() == 0.0
    assert all(v.item() == 0.0 for v in out.logs.values())


@pytest.mark.parametrize("stop", [True, False])
def test_the_stop_gradient_leaves_the_target_side_without_gradient(stop):
    """The view's predictions get gradient; the full image's only without the stop-gradient."""
    net, data = Toy(), batch(ONE_LABEL)
    step = inputs(net, data)
    whole = step.out.predictions
    for p in whole.values():
        p.retain_grad()
    config = ConsistencyConfig(enabled=True, stop_gradient=stop)
    ConsistencyTerm(SPECS, config)(step).total.backward()
    reached = [p.grad is not None and p.grad.abs().sum() > 0 for p in whole.values()]
    assert not any(reached) if stop else all(reached)
    assert all(h.weight.grad.abs().sum() > 0 for h in net.heads.values())  # the view's side


def test_the_ramp_is_linear_over_its_fraction_of_the_run():
    term = ConsistencyTerm(SPECS, ConsistencyConfig(enabled=True, rampup=0.5))
    assert [term.ramp(s, 100) for s in (0, 25, 50, 90)] == [0.0, 0.5, 1.0, 1.0]
    assert ConsistencyTerm(SPECS, ConsistencyConfig(enabled=True)).ramp(0, 100) == 1.0


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"scales": [0.5, 1.0]}, "scales"),
        ({"weight": -1}, "weight"),
        ({"rampup": 2}, "rampup"),
        ({"predictions": "last"}, "predictions"),
    ],  # fmt: skip
)
def test_bad_options_are_one_line_config_errors(options, key):
    with pytest.raises(ConfigError, match=f"model.consistency.{key}"):
        ConsistencyConfig(**options)
    with pytest.raises(ConfigError, match="unknown tasks"):
        ConsistencyTerm(SPECS, ConsistencyConfig(task_weights={"edge": 1.0}))


def test_the_edge_and_saliency_distances_are_kl_divergences():
    g = torch.Generator().manual_seed(0)
    p, q = torch.randn(2, 1, 4, 5, generator=g), torch.randn(2, 1, 4, 5, generator=g)
    big, small = torch.sigmoid(q), torch.sigmoid(p)
    expected = big * (big / small).log() + (1 - big) * ((1 - big) / (1 - small)).log()
    edge = TASKS["edge"].behaviour
    torch.testing.assert_close(edge.view_distance(p, q), expected[:, 0])
    assert edge.view_distance(q, q).abs().max() < 1e-6
    sal = TASKS["sal"].behaviour  # two classes: the categorical KL
    two_p, two_q = torch.cat([p, -p], 1), torch.cat([q, -q], 1)
    kl = F.kl_div(two_p.log_softmax(1), two_q.log_softmax(1), log_target=True, reduction="none")
    torch.testing.assert_close(sal.view_distance(two_p, two_q), kl.sum(1))
