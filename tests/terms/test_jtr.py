"""JTR's term: its auto-encoder, its gradient routing, and its loss against a per-sample loop."""

import pytest
import torch
import torch.nn.functional as F

import dmtl.terms.jtr as jtr_module
from dmtl.config import JTRConfig
from dmtl.errors import ConfigError
from dmtl.models.joint_autoencoder import JointTaskAE, max_unpool
from dmtl.terms.jtr import JTRTerm
from support.view_terms import (
    ONE_LABEL,
    PASCAL_SPECS,
    SPECS,
    Toy,
    batch,
    inputs,
    pascal_batch,
)

SMALL = (8, 8, 16, 16, 16)


def _term(**options):
    options = {"enabled": True, "widths": SMALL, **options}
    torch.manual_seed(0)
    return JTRTerm(SPECS, JTRConfig(**options))


def _grads(module):
    return [p.grad for p in module.parameters()]


def _zero(grads):
    return all(g is None or g.abs().sum() == 0 for g in grads)


def test_the_auto_encoder_has_jtrs_size_and_shapes():
    ae = JointTaskAE(17)  # on the CPU: a first meta-device build costs seconds
    assert round(sum(p.numel() for p in ae.parameters()) / 1e6, 2) == 24.99  # FIELD §2.1
    ae = JointTaskAE(17, SMALL)
    latent, logits = ae(torch.randn(2, 17, 32, 40))
    assert latent.shape == (2, 16, 1, 1) and logits.shape == (2, 17, 32, 40)


def test_maps_too_small_for_the_five_pools_are_a_one_line_error():
    # PASCAL's input_stride 2 on a 32×32 crop leaves 16×16 maps: the fifth pool would empty them
    ae = JointTaskAE(3, widths=(4, 4, 4, 4, 4))
    with pytest.raises(ConfigError, match="at least 32 pixels a side, got 16×40: lower model.jtr"):
        ae(torch.zeros(2, 3, 16, 40))
    latent, logits = ae(torch.zeros(2, 3, 32, 40))  # the smallest that fits: a 1×1 latent
    assert latent.shape == (2, 4, 1, 1) and logits.shape == (2, 3, 32, 40)


def test_per_sample_normalisation_is_the_batch_of_one_of_the_released_code():
    torch.manual_seed(0)
    ae = JointTaskAE(5, SMALL, per_sample=True).double()  # float64: 13 normalisations deep
    x = torch.randn(3, 5, 64, 64, dtype=torch.float64)
    batched = ae(x)[1]
    for layer in ae.modules():  # the same weights, real batch norm on one sample at a time
        if hasattr(layer, "per_sample"):
            layer.per_sample = False
    alone = torch.cat([ae(x[k : k + 1])[1] for k in range(3)])
    torch.testing.assert_close(batched, alone, rtol=1e-9, atol=1e-9)


def test_the_distance_trains_only_unlabelled_heads_and_never_the_auto_encoder():
    """α·L_dist1 alone (λ = 0): semseg labelled everywhere gets no gradient, nor does g."""
    labelled = torch.tensor([[1, 0, 0], [1, 0, 0], [1, 0, 1], [1, 1, 0]], dtype=torch.bool)
    net, term = Toy(), _term(recon_weight=0.0)
    term(inputs(net, batch(labelled))).total.backward()
    assert _zero(_grads(net.heads["semseg"])) and _zero(_grads(term.ae))
    assert not _zero(_grads(net.heads["depth"])) and not _zero(_grads(net.heads["normals"]))


def test_the_reconstruction_and_second_distance_train_only_the_auto_encoder():
    net, term = Toy(), _term()
    data = batch(ONE_LABEL)
    term(inputs(net, data, seed=3)).total.backward()
    full = [g.clone() for g in _grads(net)]
    assert not _zero(_grads(term.ae))
    # the network's gradient is α times that of L_dist1 alone: L_dist2 and L_rec add none
    net.zero_grad()
    alone = JTRTerm(SPECS, JTRConfig(enabled=True, widths=SMALL, alpha=1.0, recon_weight=0.0))
    alone.ae.load_state_dict(term.ae.state_dict())
    alone(inputs(net, data, seed=3)).total.backward()
    for g, a in zip(full, _grads(net), strict=True):
        torch.testing.assert_close(g, 4.0 * a, rtol=1e-4, atol=1e-7)
    # and with α = 0 the network gets nothing at all
    net.zero_grad()
    _term(alpha=0.0)(inputs(net, data)).total.backward()
    assert _zero(_grads(net))


def test_with_every_task_labelled_the_network_gets_no_jtr_gradient():
    net, term = Toy(), _term()
    out = term(inputs(net, batch(torch.ones(4, 3, dtype=torch.bool))))
    out.total.backward()
    assert out.total > 0 and _zero(_grads(net)) and not _zero(_grads(term.ae))


def _phi(d):
    return torch.distributions.Normal(0.0, 1.0).cdf((d - 2.3618) / 1.5876)


def _crop(x, box, size, mode):
    i, j, h, w = box
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(x[None, :, i : i + h, j : j + w], size=size, mode=mode, **kwargs)[0]


def _oracle_sample(net, ae, data, k, boxes, noise, alpha=4.0, lam=2.0):
    """One sample's α(L_dist1 + λ L_dist2) + λ L_rec from the equations of FIELD §2.3."""
    size = tuple(data["image"].shape[-2:])
    lab = data["labelled"][k]
    parts = {}
    for v, bx in zip((1, 2), boxes, strict=True):
        s = bx.scale[k].item()
        box = [int(t[k]) for t in (bx.top, bx.left, bx.height, bx.width)]
        img = _crop(data["image"][k], box, size, "bilinear")
        seg = _crop(data["targets"]["semseg"][k][None].float(), box, size, "nearest")[0].long()
        dep = _crop(data["targets"]["depth"][k], box, size, "nearest") / s
        nor = _crop(data["targets"]["normals"][k], box, size, "nearest")
        pred = {n: p[0] for n, p in net(img[None]).predictions.items()}
        pred = {n: p.detach() if lab[t] else p for t, (n, p) in enumerate(pred.items())}
        m = torch.ones(1, *size)
        m = m * (seg != 255).float() if lab[0] else m
        m = m * (dep > 0).float() if lab[1] else m
        m = m * (nor.abs().sum(0, keepdim=True) > 0).float() if lab[2] else m

        def hard(logits, g):
            soft = (logits + g).softmax(0)
            one = F.one_hot(soft.argmax(0), 13).permute(2, 0, 1).float()
            return one - soft.detach() + soft

        g_hat, g_lab = noise[(v, "hat", "semseg")][k], noise[(v, "label", "semseg")][k]
        seg_hat = (pred["semseg"].softmax(0) if v == 2 else hard(pred["semseg"], g_hat)) * m
        gt_seg = F.one_hot(seg.clamp(max=12), 13).permute(2, 0, 1).float() * (seg != 255)
        unit = F.normalize(pred["normals"], dim=0)
        y = torch.cat([
            gt_seg if lab[0] else hard(pred["semseg"], g_lab) * m,
            _phi(dep) if lab[1] else _phi(pred["depth"] * m),
            (nor + 1) / 2 if lab[2] else (unit * m + 1) / 2,
        ])  # fmt: skip
        hat = torch.cat([seg_hat, _phi(pred["depth"] * m), (unit * m + 1) / 2])
        parts[v] = (y, hat, m, pred, gt_seg, dep, nor, hard(pred["semseg"], g_hat) * m)

    def dist(a, b):
        return 1 - F.cosine_similarity(a, b, dim=1, eps=1e-12).mean()

    frozen = [ae.encode(x[None])[0] for x in parts[1][:2]]
    d1 = dist(*frozen)
    y, hat, m, pred, gt_seg, dep, nor, hard_hat = parts[2]
    (ly, ry), (lh, rh) = ae(y.detach()[None]), ae(hat.detach()[None])
    d2 = dist(ly, lh)
    unit = F.normalize(pred["normals"], dim=0)
    targets = {  # branch -> (seg, raw depth, normals) targets
        "label": (y[:13], dep if lab[1] else pred["depth"] * m, nor if lab[2] else unit * m),
        "hat": (hard_hat, _phi(pred["depth"] * m), (unit * m + 1) / 2),
    }
    rec = 0.0
    for r, branch in ((ry[0], "label"), (rh[0], "hat")):
        seg_t, dep_t, nor_t = (t.detach() for t in targets[branch])
        bce = F.binary_cross_entropy_with_logits(r[:13], seg_t, reduction="none") * m
        rec = rec + bce.sum() / (seg_t != 0).sum()
        value = (torch.sigmoid(r[13:14]) - 0.5) * (1 - 1e-5) + 0.5
        rec = rec + ((value - _phi(dep_t)).abs() * m).sum() / (dep_t != 0).sum()
        rec = rec + 1 - (F.normalize(r[14:], dim=0) * nor_t * m).sum() / (nor_t != 0).sum()
    return alpha * (d1 + lam * d2) + lam * rec


def test_the_loss_equals_a_per_sample_loop_of_the_equations(monkeypatch):
    """Batched term (per-sample normalisation) == the released code's loop over samples."""
    drawn, noise = [], {}
    real_boxes = jtr_module.draw_boxes
    monkeypatch.setattr(
        jtr_module, "draw_boxes", lambda *a: drawn.append(real_boxes(*a)) or drawn[-1]
    )
    net, term = Toy(), _term(per_sample_ae=True, randaugment=False)
    real_noise = term.draw_gumbel
    monkeypatch.setattr(term, "draw_gumbel", lambda *a: noise.update(real_noise(*a)) or noise)
    data = batch(ONE_LABEL, h=64, w=32)  # a 2 x 1 latent: batch-1 norm needs 2 values
    got = term(inputs(net, data)).total
    ae = JointTaskAE(17, SMALL)
    ae.load_state_dict(term.ae.state_dict())
    expected = torch.stack([_oracle_sample(net, ae, data, k, drawn, noise) for k in range(4)])
    torch.testing.assert_close(got, expected.mean(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"alpha": -1}, "alpha"),
        ({"widths": [8, 8]}, "widths"),
        ({"scales": [0.9]}, "scales"),
        ({"input_stride": 0}, "input_stride"),
        ({"predictions": "both"}, "predictions"),
    ],  # fmt: skip
)
def test_bad_options_are_one_line_config_errors(options, key):
    with pytest.raises(ConfigError, match=f"model.jtr.{key}"):
        JTRConfig(**options)


def test_on_pascal_context_the_five_tasks_share_the_auto_encoder():
    """Protocol-A extension: 21 + 7 + 2 + 3 + 1 = 34 channels; edges and saliency take part."""
    labelled = torch.eye(5, dtype=torch.bool)[[0, 1, 2, 3, 4, 0]]
    net = Toy(PASCAL_SPECS)
    torch.manual_seed(0)
    term = JTRTerm(PASCAL_SPECS, JTRConfig(enabled=True, widths=SMALL, input_stride=2))
    assert term.ae.head[-1].out_channels == 34 and term.ae.encoder[0][0][0].in_channels == 34
    out = term(inputs(net, pascal_batch(labelled, h=64, w=64)))
    assert torch.isfinite(out.total) and set(out.logs) == {"dist1", "dist2", "rec"}
    out.total.backward()
    assert all(not _zero(_grads(net.heads[s.name])) for s in PASCAL_SPECS)


def test_the_auto_encoders_unpooling_equals_max_unpool_and_runs_deterministically():
    was = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(False)  # the reference needs it off (a run may leave it on)
    try:
        _unpooling_against_max_unpool()
    finally:
        torch.use_deterministic_algorithms(was)


def _unpooling_against_max_unpool():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 6, 10, generator=g, dtype=torch.float64)
    pooled, indices = torch.nn.functional.max_pool2d(x, 2, 2, return_indices=True)
    pooled.requires_grad_(True)
    reference = torch.nn.functional.max_unpool2d(pooled, indices, 2, 2, output_size=(6, 10))
    ours = max_unpool(pooled, indices, torch.Size((6, 10)))
    torch.testing.assert_close(ours, reference, rtol=0, atol=0)
    weights = torch.randn(2, 3, 6, 10, generator=g, dtype=torch.float64)
    (expected,) = torch.autograd.grad((reference * weights).sum(), pooled)
    (got,) = torch.autograd.grad((ours * weights).sum(), pooled)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    torch.use_deterministic_algorithms(True)
    try:  # max_unpool2d refuses to run here; the scatter does not
        max_unpool(pooled, indices, torch.Size((6, 10)))
    finally:
        torch.use_deterministic_algorithms(False)
