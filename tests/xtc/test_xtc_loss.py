"""XTC*'s consistency loss: the batched loss equals a per-sample, per-pair Python oracle."""

import pytest
import torch
import torch.nn.functional as F

from dmtl.errors import ConfigError
from dmtl.tasks import IGNORE_INDEX, resolve_tasks
from dmtl.xtc.loss import xtc_loss, xtc_pairs
from dmtl.xtc.mapper import CrossTaskMapper, draw_gumbel

SPECS = resolve_tasks("synthetic", ["semseg", "depth", "normals"])
B, H, W, E = 5, 32, 24, 8
# sample 0 labels semseg; 1 depth and normals; 2 everything; 3 nothing; 4 normals
LABELLED = torch.tensor([[1, 0, 0], [0, 1, 1], [1, 1, 1], [0, 0, 0], [0, 0, 1]], dtype=torch.bool)


def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    preds = {
        s.name: torch.randn(B, s.channels, H, W, generator=g, dtype=torch.float64) for s in SPECS
    }
    preds["depth"] = preds["depth"].abs() * 3
    semseg = torch.randint(0, 13, (B, H, W), generator=g)
    semseg[:, :3] = IGNORE_INDEX
    depth = torch.rand(B, 1, H, W, generator=g, dtype=torch.float64) * 8
    depth[:, :, -2:] = 0  # invalid
    normals = F.normalize(torch.randn(B, 3, H, W, generator=g, dtype=torch.float64), dim=1)
    normals[:, :, :, :2] = 0  # invalid
    targets = {"semseg": semseg, "depth": depth, "normals": normals}
    feature = torch.rand(B, E, -(-H // 8), -(-W // 8), generator=g, dtype=torch.float64)
    return preds, targets, feature


def _mapper(stride: int = 2) -> CrossTaskMapper:
    torch.manual_seed(1)
    mapper = CrossTaskMapper(SPECS, E, levels=3 - stride.bit_length() + 1, width=4,
                             input_stride=stride).double()  # fmt: skip
    with torch.no_grad():  # FiLM away from its identity start, so that the pairs differ
        for level in mapper.levels:
            level.gamma.add_(0.3 * torch.randn_like(level.gamma))
            level.beta.add_(0.3 * torch.randn_like(level.beta))
    return mapper


# ------------------------------------------------------------------ the oracle, one pair at a time
def _oracle_input(spec, x, label, noise):
    """One sample (1, C, H, W) prediction or (H, W)/(C, H, W) label as the mapping input."""
    if label:
        if spec.name == "semseg":
            hot = torch.stack([(x == c) for c in range(spec.channels)]).double()
            return hot.unsqueeze(0)
        x = x.unsqueeze(0)
        if spec.name == "depth":
            return x / x.max()
        return (x + 1) / 2
    if spec.name == "semseg":
        soft = torch.softmax(x + noise, dim=1)
        hard = torch.zeros_like(soft)
        hard[0, soft[0].argmax(0), torch.arange(x.shape[2])[:, None], torch.arange(x.shape[3])] = 1
        return hard - soft.detach() + soft
    if spec.name == "depth":
        return x / x.abs().max()
    return (x / x.norm(dim=1, keepdim=True) + 1) / 2


def _oracle_map(mapper, k, x, pair):
    name = SPECS[k].name
    x = F.relu(mapper.input_norms[name](mapper.inputs[name](x)))
    for level in mapper.levels:
        y = level.conv(x)
        mean = y.mean(dim=(2, 3), keepdim=True)
        var = y.var(dim=(2, 3), keepdim=True, unbiased=False)
        y = (y - mean) / torch.sqrt(var + 1e-5)
        y = y * level.gamma[pair].view(1, -1, 1, 1) + level.beta[pair].view(1, -1, 1, 1)
        x = F.max_pool2d(F.relu(y), 2, ceil_mode=True)
    return x


def _oracle_distance(a, b, kind):
    if kind == "l1":
        return (a - b).abs().sum(dim=1).mean()
    cos = (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1)).clamp(min=1e-12)
    return 1 - cos.mean()


def _oracle(mapper, preds, targets, labelled, feature, gumbel, reg, kind, pairs):
    total, k = 0.0, len(SPECS)
    stride = mapper.input_stride
    for i in range(labelled.shape[0]):
        for s in range(k):
            for t in range(k):
                if s == t or not labelled[i, t] or (pairs == "unlabelled" and labelled[i, s]):
                    continue
                pair = [(a, b) for a in range(k) for b in range(k) if a != b].index((s, t))
                sp, tp = SPECS[s], SPECS[t]
                noise = gumbel[sp.name][i : i + 1] if sp.name in gumbel else None
                pred = F.avg_pool2d(preds[sp.name][i : i + 1], stride, ceil_mode=True)
                target = targets[tp.name][i]
                if tp.name == "semseg":
                    target = torch.where(target == IGNORE_INDEX, -1, target)
                m_s = _oracle_map(mapper, s, _oracle_input(sp, pred, False, noise), pair)
                label = F.avg_pool2d(_oracle_input(tp, target, True, None), stride, ceil_mode=True)
                m_t = _oracle_map(mapper, t, label, pair)
                f = feature[i : i + 1].detach()
                total = (
                    total
                    + _oracle_distance(m_s, m_t, kind)
                    + reg * (_oracle_distance(m_s, f, kind) + _oracle_distance(m_t, f, kind))
                )
    return total / labelled.shape[0]


@pytest.mark.parametrize(
    ("kind", "pairs", "stride"),
    [("cosine", "unlabelled", 2), ("l1", "unlabelled", 1), ("cosine", "all", 4)],
)
def test_batched_loss_equals_the_per_sample_per_pair_oracle(kind, pairs, stride):
    mapper = _mapper(stride)
    preds, targets, feature = _batch()
    gumbel = draw_gumbel(SPECS, preds, stride, torch.Generator().manual_seed(3))
    leaves = {n: p.clone().requires_grad_() for n, p in preds.items()}
    out = xtc_loss(mapper, SPECS, leaves, targets, LABELLED, feature, gumbel=gumbel,
                   reg_weight=0.5, kind=kind, pairs=pairs)  # fmt: skip
    params = list(mapper.parameters())
    grads = torch.autograd.grad(out.total, [*leaves.values(), *params], allow_unused=True)
    ref_leaves = {n: p.clone().requires_grad_() for n, p in preds.items()}
    ref = _oracle(mapper, ref_leaves, targets, LABELLED, feature, gumbel, 0.5, kind, pairs)
    ref_grads = torch.autograd.grad(ref, [*ref_leaves.values(), *params], allow_unused=True)
    assert out.total.item() == pytest.approx(ref.item(), rel=1e-10)
    for got, want in zip(grads, ref_grads):
        if want is None:
            assert got is None or torch.count_nonzero(got) == 0
        else:
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)
    expected = {"unlabelled": 2 + 2 + 0 + 0 + 2, "all": 2 + 4 + 6 + 0 + 2}[pairs]
    assert out.pairs == expected


def test_pairs_are_unlabelled_sources_and_labelled_targets_row_major():
    rows = xtc_pairs(LABELLED)
    assert rows.tolist() == [[0, 1, 0], [0, 2, 0], [1, 0, 1], [1, 0, 2], [4, 0, 2], [4, 1, 2]]
    assert xtc_pairs(torch.ones(2, 3, dtype=torch.bool)).shape == (0, 3)
    assert xtc_pairs(torch.ones(2, 3, dtype=torch.bool), "all").shape == (12, 3)
    with pytest.raises(ConfigError, match="xtc.pairs"):
        xtc_pairs(LABELLED, "some")


def test_no_pair_is_a_zero_loss_and_the_feature_gets_no_gradient():
    mapper = _mapper()
    preds, targets, feature = _batch()
    out = xtc_loss(mapper, SPECS, preds, targets, torch.ones(B, 3, dtype=torch.bool), feature)
    assert out.total.item() == 0 and out.pairs == 0
    feature.requires_grad_()
    out = xtc_loss(mapper, SPECS, preds, targets, LABELLED, feature)
    assert not out.total.requires_grad or torch.autograd.grad(
        out.total, feature, allow_unused=True
    ) == (None,)


def test_a_sample_s_loss_does_not_depend_on_the_others():
    mapper = _mapper()
    preds, targets, feature = _batch()
    whole = xtc_loss(mapper, SPECS, preds, targets, LABELLED, feature).total * B
    parts = sum(
        xtc_loss(
            mapper,
            SPECS,
            {n: p[i : i + 1] for n, p in preds.items()},
            {n: t[i : i + 1] for n, t in targets.items()},
            LABELLED[i : i + 1],
            feature[i : i + 1],
        ).total  # fmt: skip
        for i in range(B)
    )
    assert whole.item() == pytest.approx(parts.item(), rel=1e-10)


def test_unknown_distance_is_refused():
    preds, targets, feature = _batch()
    with pytest.raises(ConfigError, match="xtc.distance"):
        xtc_loss(_mapper(), SPECS, preds, targets, LABELLED, feature, kind="l2")
