"""The batched DiffusionMTL training loss equals a per-sample loop oracle, in value and gradient.

The oracle follows docs/released.md literally: for every sample and every task it
labels, run the S-step chain on that sample alone (batch size 1), take the per-sample mean losses of
the final and the initial prediction, and combine them per sample (K / |L_i| · Σ w (ℓ_final +
0.5 ℓ_initial), averaged over the batch) or per task (mean over the task's labelled samples).
"""

import pytest
import torch
import torch.nn.functional as F

from dmtl.config import LossConfig
from dmtl.losses import build_criterion
from dmtl.losses.masked import MultiTaskLoss, per_sample_task_loss
from dmtl.models.encoding import encode_prediction
from dmtl.models.network import DiffusionMTLNet, MultiTaskOutput
from dmtl.noise import NoiseSource
from dmtl.tasks import IGNORE_INDEX, resolve_tasks

TASKS = ["semseg", "depth", "normals", "edge"]
WEIGHTS = {"semseg": 1.0, "depth": 2.0, "normals": 0.5, "edge": 3.0}
H, W = 32, 40
TINY = {"embed_dim": 16, "neck_stride": 4}


class _Given(NoiseSource):
    """A source that hands over fixed maps (the oracle's), whatever is asked."""

    def __init__(self, noises):
        super().__init__()
        object.__setattr__(self, "noises", noises)

    def draw(self, like, steps):
        return self.noises


def _targets(specs, b):
    targets = {}
    for spec in specs:
        if spec.kind == "segmentation":
            t = torch.randint(0, spec.channels, (b, H, W))
            t[:, :3] = IGNORE_INDEX
        elif spec.kind == "boundary":
            t = (torch.rand(b, 1, H, W) > 0.8).float()
            t[:, :, -2:] = IGNORE_INDEX
        elif spec.kind == "normals":
            t = F.normalize(torch.randn(b, 3, H, W), dim=1)
            t[:, :, :4] = 0
        else:
            t = torch.rand(b, 1, H, W) * 5 + 0.5
            t[:, :, 5:9] = 0
        targets[spec.name] = t
    return targets


def _oracle_loss(net, specs, image, targets, labelled, noises, normalization):
    """Per-sample loop over (sample, labelled task), each chain at batch size 1."""
    feats, initial = net.initial(image)  # the shared trunk (batch norm sees the whole batch)
    cond = net.condition(
        {s.name: encode_prediction(s, initial[s.name].detach(), net.depth_scale) for s in specs}
    )
    d, mtd = net.mtd.process, net.mtd
    b, k_tasks = labelled.shape
    terms = torch.zeros(b, k_tasks, dtype=image.dtype)
    for i in range(b):
        for k, spec in enumerate(specs):
            if not labelled[i, k]:
                continue
            n = spec.name
            x = mtd.start(n, feats[n][i : i + 1], initial[n][i : i + 1])
            c = cond[n][i : i + 1]
            eps = [e[i : i + 1] for e in noises[n]]
            s = d.steps
            z = d.sqrt_alphas_cumprod[s - 1] * x + d.sqrt_one_minus_alphas_cumprod[s - 1] * eps[0]
            for step in range(s - 1, -1, -1):
                t = torch.tensor([step])
                out = mtd.denoiser({n: z}, {n: c}, {n: t})[n]
                if step == 0:
                    break
                x0 = mtd.to_x0(n, out)
                mean = d.posterior_mean_coef1[step] * x0 + d.posterior_mean_coef2[step] * z
                std = (0.5 * d.posterior_log_variance_clipped[step]).exp()
                z = mean + std * eps[s - step]
            final = mtd.heads[n](out) if mtd.heads is not None else out
            up = (H, W)
            final = F.interpolate(final, up, mode="bilinear", align_corners=False)
            init = F.interpolate(initial[n][i : i + 1], up, mode="bilinear", align_corners=False)
            target, use = targets[n][i : i + 1], torch.ones(1, dtype=torch.bool)
            lf, has = per_sample_task_loss(spec, final, target, use)
            li, _ = per_sample_task_loss(spec, init, target, use)
            terms[i, k] = (lf + 0.5 * li)[0] * has[0]
    w = torch.tensor([WEIGHTS[s.name] for s in specs], dtype=image.dtype)
    if normalization == "sample":
        scale = k_tasks / labelled.sum(1).clamp(min=1)
        return (terms * w).sum(1).mul(scale).sum() / b
    per_task = terms.sum(0) / labelled.sum(0).clamp(min=1)
    return (per_task * w).sum()


@pytest.mark.parametrize("normalization", ["task", "sample"])
@pytest.mark.parametrize("diffusion", ["feature", "prediction"])
def test_batched_loss_and_gradients_equal_the_per_sample_oracle(diffusion, normalization):
    torch.manual_seed(0)
    specs = resolve_tasks("synthetic", TASKS)
    net = DiffusionMTLNet(specs, network=TINY, diffusion={"space": diffusion, "steps": 3},
                          denoiser={"width": 8})  # fmt: skip
    with torch.no_grad():  # leave the zero-initialised start: every path carries signal
        for p in net.mtd.parameters():
            p.add_(0.05 * torch.randn_like(p))
    # float64 so that the two summation orders agree to ~1e-12; batch norm in eval so that both
    # sides see the same normalisation.
    net = net.double().eval()
    b = 5
    image = torch.randn(b, 3, H, W, dtype=torch.float64)
    targets = {k: v.double() if v.is_floating_point() else v for k, v in _targets(specs, b).items()}
    labelled = torch.tensor(
        [[1, 0, 0, 0], [0, 1, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 1, 1]], dtype=torch.bool
    )
    feats, initial = net.initial(image)
    like = feats if diffusion == "feature" else initial
    noises = {n: [torch.randn_like(like[n]) for _ in range(3)] for n in TASKS}
    # the batched path uses exactly the oracle's noise (the source hands it over)
    source = _Given(noises)

    criterion = MultiTaskLoss(specs, WEIGHTS, normalization=normalization)
    batched = criterion(net(image, labelled, source), targets, labelled).total
    grads = torch.autograd.grad(batched, list(net.parameters()), allow_unused=True)
    oracle = _oracle_loss(net, specs, image, targets, labelled, noises, normalization)
    expected = torch.autograd.grad(oracle, list(net.parameters()), allow_unused=True)

    torch.testing.assert_close(batched, oracle, rtol=1e-10, atol=1e-12)
    for (name, _), g, e in zip(net.named_parameters(), grads, expected):
        if e is None:
            assert g is None or g.abs().max() == 0, name
        else:
            torch.testing.assert_close(g, e, rtol=1e-8, atol=1e-11, msg=name)


def test_unlabelled_targets_cannot_change_the_diffusion_gradients():
    torch.manual_seed(1)
    specs = resolve_tasks("synthetic", ["semseg", "depth"])
    net = DiffusionMTLNet(specs, network=TINY, denoiser={"width": 8}).eval()
    image = torch.randn(2, 3, H, W)
    labelled = torch.tensor([[1, 0], [0, 1]], dtype=torch.bool)
    targets = _targets(specs, 2)
    noises = {
        n: [torch.randn(2, 16, H // 4, W // 4) for _ in range(2)] for n in ["semseg", "depth"]
    }
    source = _Given(noises)
    criterion = MultiTaskLoss(specs)

    def grads(t):
        loss = criterion(net(image, labelled, source), t, labelled).total
        return torch.autograd.grad(loss, list(net.parameters()), allow_unused=True)

    clean = grads(targets)
    garbage = {k: v.clone() for k, v in targets.items()}
    garbage["semseg"][1] = 7  # sample 1 has no semseg label
    garbage["depth"][0] = float("nan")  # sample 0 has no depth label
    for a, b_ in zip(clean, grads(garbage)):
        if a is not None:
            assert torch.equal(a, b_)


def _merged(out: MultiTaskOutput) -> MultiTaskOutput:
    """The previous layout's output: every sample, the denoised rows over the initial ones."""
    full = {}
    for name, initial in out.initial.items():
        idx = out.rows.get(name)
        pred = out.predictions.get(name)
        full[name] = initial if pred is None else initial.index_copy(0, idx, pred)
    return MultiTaskOutput(predictions=full, initial=out.initial)


@pytest.mark.parametrize("recipe", ["dmtl", "released"])
@pytest.mark.parametrize("normalization", ["task", "sample"])
def test_loss_on_the_denoised_rows_equals_the_loss_on_the_whole_batch(recipe, normalization):
    """The loss selects the rows itself: the same values and gradients as on full-batch maps."""
    torch.manual_seed(2)
    specs = resolve_tasks("synthetic", TASKS)
    net = DiffusionMTLNet(specs, network=TINY, denoiser={"width": 8})
    labelled = torch.tensor([[1, 0, 0, 1], [0, 1, 0, 1], [1, 1, 0, 0]], dtype=torch.bool)
    out = net(
        torch.randn(3, 3, H, W),
        labelled,
        NoiseSource.from_generator(torch.Generator().manual_seed(0)),
    )
    assert "normals" not in out.predictions  # no sample labels it
    targets = _targets(specs, 3)
    criterion = build_criterion(specs, LossConfig(recipe=recipe, normalization=normalization))
    rows, full = criterion(out, targets, labelled), criterion(_merged(out), targets, labelled)
    torch.testing.assert_close(rows.total, full.total, rtol=1e-6, atol=1e-7)
    for name in TASKS:
        torch.testing.assert_close(rows.per_task[name], full.per_task[name], rtol=1e-6, atol=1e-7)
        assert int(rows.counts[name]) == int(full.counts[name])
    params = [p for p in net.parameters() if p.requires_grad]
    got = torch.autograd.grad(rows.total, params, retain_graph=True, allow_unused=True)
    want = torch.autograd.grad(full.total, params, allow_unused=True)
    for g, w in zip(got, want, strict=True):
        if w is None or g is None:
            assert (g is None or not g.any()) and (w is None or not w.any())
        else:
            torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-7)
