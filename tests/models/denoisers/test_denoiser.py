"""The conv UNet denoiser: timestep code, residual block, shapes, batching, conditioning."""

import math

import pytest
import torch

from dmtl.config import DenoiserConfig, DiffusionConfig
from dmtl.errors import ConfigError
from dmtl.models.denoisers import build_denoiser
from dmtl.models.denoisers.embedding import timestep_embedding
from dmtl.models.denoisers.unet import ResBlock, UNetDenoiser
from dmtl.models.mtdnet import MTDNet
from dmtl.models.spaces import FeatureSpace
from dmtl.tasks import resolve_tasks

CHANNELS = {"semseg": 5, "depth": 1, "normals": 3}


def _unet(channels, cond_channels, width=8, channel_mults=(1, 2), blocks_per_scale=1):
    return UNetDenoiser(channels, cond_channels, width=width, channel_mults=channel_mults,
                        blocks_per_scale=blocks_per_scale)  # fmt: skip


def _mtd(tasks, space, feature_channels, cond_channels, steps=2, *, width=64, denoiser="unet",
         input_skip=False, **diffusion):  # fmt: skip
    """MTDNet from the previous layout's arguments (the UNet's old default width 64)."""
    return MTDNet(tasks, feature_channels=feature_channels, cond_channels=cond_channels,
                  diffusion=DiffusionConfig(space=space, steps=steps, **diffusion),
                  denoiser=DenoiserConfig(kind=denoiser, width=width, skip=input_skip))  # fmt: skip


def _perturb(module: torch.nn.Module) -> None:
    """Move every parameter off its initial value (zero-initialised convs hide paths)."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.05 * torch.randn_like(p))


def _inputs(sizes: dict[str, int], h: int = 8, w: int = 10, cond: int = 6):
    x = {n: torch.randn(k, CHANNELS[n], h, w) for n, k in sizes.items()}
    c = {n: torch.randn(k, cond, h, w) for n, k in sizes.items()}
    t = {n: torch.randint(0, 2, (k,)) for n, k in sizes.items()}
    return x, c, t


def test_timestep_embedding_values():
    emb = timestep_embedding(torch.tensor([0, 1, 3]), dim=8)
    assert emb.shape == (3, 8)
    torch.testing.assert_close(emb[0], torch.tensor([1.0] * 4 + [0.0] * 4))
    freqs = [math.exp(-math.log(10000) * i / 4) for i in range(4)]
    expected = [math.cos(3 * f) for f in freqs] + [math.sin(3 * f) for f in freqs]
    torch.testing.assert_close(emb[2], torch.tensor(expected))


def test_resblock_starts_as_identity_and_uses_embedding_and_condition():
    block = ResBlock(8, 8, emb_dim=16, cond_channels=4)
    x, emb, cond = torch.randn(2, 8, 5, 5), torch.randn(2, 16), torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(block(x, emb, cond), x)  # zero-initialised last conv
    _perturb(block)
    base = block(x, emb, cond)
    assert not torch.allclose(base, block(x, emb + 1, cond))
    # (cond + 1 would shift each channel by a constant, which the following GroupNorm removes)
    assert not torch.allclose(base, block(x, emb, cond * 2))
    assert block(x, emb, cond).shape == (2, 8, 5, 5)
    assert ResBlock(8, 12, 16)(x, emb).shape == (2, 12, 5, 5)


@pytest.mark.parametrize("mults,blocks,size", [((1,), 1, (8, 10)), ((1, 2, 2), 2, (9, 11))])
def test_shapes_for_every_task_any_depth_and_odd_sizes(mults, blocks, size):
    net = _unet(CHANNELS, cond_channels=6, width=8, channel_mults=mults, blocks_per_scale=blocks)
    x, c, t = _inputs({"semseg": 2, "depth": 3, "normals": 1}, *size)
    out = net(x, c, t)
    assert {k: tuple(v.shape) for k, v in out.items()} == {k: tuple(v.shape) for k, v in x.items()}


def test_tasks_may_be_missing():
    net = _unet(CHANNELS, cond_channels=6, width=8)
    x, c, t = _inputs({"depth": 2})
    assert set(net(x, c, t)) == {"depth"}


def test_batching_pairs_together_equals_denoising_each_pair_alone():
    torch.manual_seed(1)
    net = _unet(CHANNELS, cond_channels=6, width=8)
    _perturb(net)
    x, c, t = _inputs({"semseg": 2, "depth": 3, "normals": 2})
    together = net(x, c, t)
    for name in x:
        for i in range(x[name].shape[0]):
            alone = net({name: x[name][i : i + 1]}, {name: c[name][i : i + 1]},
                        {name: t[name][i : i + 1]})  # fmt: skip
            torch.testing.assert_close(alone[name], together[name][i : i + 1], atol=1e-5, rtol=1e-4)


def test_output_depends_on_timestep_task_and_condition():
    torch.manual_seed(2)
    net = _unet({"a": 3, "b": 3}, cond_channels=4, width=8)
    _perturb(net)
    x, c = torch.randn(1, 3, 8, 8), torch.randn(1, 4, 8, 8)
    t0, t1 = torch.tensor([0]), torch.tensor([1])
    base = net({"a": x}, {"a": c}, {"a": t0})["a"]
    assert not torch.allclose(base, net({"a": x}, {"a": c}, {"a": t1})["a"])
    assert not torch.allclose(base, net({"a": x}, {"a": c + 1}, {"a": t0})["a"])
    # Task b with task a's input projection and head: differs only by the task embedding.
    net.inputs["b"].load_state_dict(net.inputs["a"].state_dict())
    net.heads["b"].load_state_dict(net.heads["a"].state_dict())
    assert not torch.allclose(base, net({"b": x}, {"b": c}, {"b": t0})["b"])


def test_bad_configuration_is_a_config_error():
    with pytest.raises(ConfigError, match="channel_mults"):
        _unet(CHANNELS, cond_channels=4, channel_mults=())


def test_input_skip_starts_as_the_identity_and_learns_a_correction():
    # The skip is the feature space's (dmtl.models.spaces); build_denoiser zeroes the UNet's heads.
    unet = build_denoiser(DenoiserConfig(width=8, skip=True), CHANNELS, 6)
    space = FeatureSpace((), 0, DiffusionConfig(), skip=True)

    def net(x, c, t):
        return {n: space.correct(n, x[n], o) for n, o in unet(x, c, t).items()}

    x, c, t = _inputs({"semseg": 2, "depth": 1, "normals": 3})
    out = net(x, c, t)
    for name in x:  # zero-initialised heads: x̂_0 = z at the start
        torch.testing.assert_close(out[name], x[name])
    _perturb(unet)
    plain = _unet(CHANNELS, cond_channels=6, width=8)
    plain.load_state_dict(unet.state_dict())
    with_skip, without = net(x, c, t), plain(x, c, t)
    for name in x:  # the same weights: the skip adds exactly the input
        torch.testing.assert_close(with_skip[name], without[name] + x[name])


def _prediction_mtd(input_skip: bool, steps: int = 2, scale: float = 1.0):
    tasks = resolve_tasks("synthetic", ["semseg", "depth", "normals", "edge"])
    mtd = _mtd(tasks, "prediction", 16, 6, steps, refine_only=True, width=8,
               input_skip=input_skip, prediction_scale=scale)  # fmt: skip
    g = torch.Generator().manual_seed(1)
    raw = {s.name: torch.randn(3, s.channels, 8, 10, generator=g) for s in tasks}
    raw["depth"] = raw["depth"].abs() * 3
    cond = {n: torch.randn(3, 6, 8, 10, generator=g) for n in raw}
    starts = {n: mtd.start(n, torch.empty(0), r) for n, r in raw.items()}
    return mtd, raw, starts, cond


@pytest.mark.parametrize("scale", [1.0, 5.0])
def test_prediction_skip_starts_as_the_identity_on_the_initial_prediction(scale):
    mtd, raw, starts, cond = _prediction_mtd(input_skip=True, scale=scale)
    out = mtd(starts, cond, {})
    torch.testing.assert_close(out["semseg"].softmax(1), raw["semseg"].softmax(1))
    torch.testing.assert_close(out["edge"].sigmoid(), raw["edge"].sigmoid())
    torch.testing.assert_close(out["depth"], raw["depth"])
    torch.testing.assert_close(out["normals"], torch.nn.functional.normalize(raw["normals"], dim=1))


def test_prediction_skip_adds_the_correction_in_the_encoded_space():
    mtd, raw, starts, cond = _prediction_mtd(input_skip=True, steps=1)
    _perturb(mtd)
    plain, *_ = _prediction_mtd(input_skip=False, steps=1)
    plain.load_state_dict(mtd.state_dict())
    with_skip, without = mtd(starts, cond, {}), plain(starts, cond, {})
    for name, z in starts.items():  # one step: x̂₀ = z + correction, decoded once at the end
        torch.testing.assert_close(with_skip[name], mtd.space.decode(name, z + without[name]))
    # nothing is detached: even with zero heads the gradient reaches the start through the skip
    mtd, _, starts, cond = _prediction_mtd(input_skip=True, steps=1)
    leaf = {n: z.clone().requires_grad_() for n, z in starts.items()}
    sum(o.square().mean() for o in mtd(leaf, cond, {}).values()).backward()
    assert all(z.grad is not None and z.grad.any() for z in leaf.values())
    assert all(h.weight.grad.abs().sum() > 0 for h in mtd.denoiser.heads.values())


def test_input_skip_is_an_option_of_the_unet_denoiser():
    tasks = resolve_tasks("synthetic", None)
    _mtd(tasks, "feature", 16, 8, width=8, input_skip=True)
    _mtd(tasks, "prediction", 16, 8, width=8, input_skip=True)
    with pytest.raises(ConfigError, match="denoiser_skip is an option of the 'unet' denoiser"):
        _mtd(tasks, "feature", 16, 8, denoiser="crossattn", input_skip=True)


def test_prediction_scale_multiplies_the_chain_signal_and_nothing_else():
    from dmtl.models.encoding import encode_prediction

    mtd, raw, starts, cond = _prediction_mtd(input_skip=True, steps=1, scale=4.0)
    raw_output, *_ = _prediction_mtd(input_skip=False, steps=1, scale=4.0)  # x̂₀ of raw outputs
    for name, z in starts.items():
        torch.testing.assert_close(z, 4.0 * encode_prediction(mtd.specs[name], raw[name]))
        torch.testing.assert_close(raw_output.to_x0(name, raw[name]), z)
        torch.testing.assert_close(mtd.space.decode(name, z).shape, raw[name].shape)
    _perturb(mtd)
    unscaled, *_ = _prediction_mtd(input_skip=True, steps=1, scale=1.0)
    unscaled.load_state_dict(mtd.state_dict())
    # the same weights, the same raw input to decode: only the UNet's input differs by the scale
    scaled_out = mtd(starts, cond, {})
    plain_out = unscaled({n: z / 4.0 for n, z in starts.items()}, cond, {})
    for name in starts:
        skip = mtd.space.decode(name, starts[name])
        torch.testing.assert_close(skip, unscaled.space.decode(name, starts[name] / 4.0))
        assert not torch.allclose(scaled_out[name] - skip, plain_out[name] - skip)
    with pytest.raises(ConfigError, match="prediction_scale must be positive"):
        _prediction_mtd(input_skip=True, scale=0.0)
    with pytest.raises(ConfigError, match="prediction_scale is an option of prediction diffusion"):
        _mtd(resolve_tasks("synthetic", None), "feature", 16, 8, width=8, prediction_scale=5.0)
