"""The released cross-attention denoiser and the paper-exact network options, on analytic checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dmtl.config import DenoiserConfig, DiffusionConfig
from dmtl.errors import ConfigError
from dmtl.models.denoisers.crossattn import CrossAttention, CrossAttnDenoiser
from dmtl.models.mtdnet import MTDNet
from dmtl.models.necks import build_neck
from dmtl.models.network import DiffusionMTLNet
from dmtl.noise import NoiseSource
from dmtl.released.neck import ReleasedNeck
from dmtl.tasks import resolve_tasks

WIDTH = 16


def test_cross_attention_matches_a_numpy_per_head_softmax():
    torch.manual_seed(0)
    attn = CrossAttention(WIDTH, heads=4)
    query, context = torch.randn(2, 3, WIDTH), torch.randn(2, 5, WIDTH)
    got = attn(query, context).detach().numpy()
    wq, wkv = attn.q.weight.detach().numpy(), attn.kv.weight.detach().numpy()
    wp, bp = attn.proj.weight.detach().numpy(), attn.proj.bias.detach().numpy()
    d = WIDTH // 4
    for n in range(2):
        q = query[n].numpy() @ wq.T
        kv = context[n].numpy() @ wkv.T
        k, v = kv[:, :WIDTH], kv[:, WIDTH:]  # keys first, then values
        heads = []
        for h in range(4):
            s = q[:, h * d : (h + 1) * d] @ k[:, h * d : (h + 1) * d].T / math.sqrt(d)
            p = np.exp(s - s.max(1, keepdims=True))
            heads.append((p / p.sum(1, keepdims=True)) @ v[:, h * d : (h + 1) * d])
        np.testing.assert_allclose(got[n], np.concatenate(heads, 1) @ wp.T + bp, atol=1e-5)


def test_denoiser_pairs_do_not_depend_on_their_batch_neighbours():
    torch.manual_seed(0)
    den = CrossAttnDenoiser({"a": WIDTH, "b": 3}, WIDTH, blocks=2, heads=4).eval()
    x = {"a": torch.randn(3, WIDTH, 8, 8), "b": torch.randn(2, 3, 8, 8)}
    c = {"a": torch.randn(3, WIDTH, 8, 8), "b": torch.randn(2, WIDTH, 8, 8)}
    t = {"a": torch.tensor([0, 1, 1]), "b": torch.tensor([1, 0])}
    together = den(x, c, t)
    assert together["b"].shape == (2, 3, 8, 8)  # a narrower task gets an output conv
    for name in x:
        for i in range(x[name].shape[0]):
            alone = den({name: x[name][i : i + 1]}, {name: c[name][i : i + 1]},
                        {name: t[name][i : i + 1]})  # fmt: skip
            torch.testing.assert_close(alone[name][0], together[name][i], atol=1e-5, rtol=1e-5)


def test_released_initialisation():
    den = CrossAttnDenoiser({"a": 32}, 32, blocks=1, heads=4)
    block = den.blocks[0]
    bound = math.sqrt(6 / (32 + 128))  # xavier-uniform of fc1 (32 -> 4 × 32)
    fc1 = block.mlp.fc1.weight
    assert fc1.abs().max() <= bound and fc1.abs().max() > 0.9 * bound
    assert all(m.bias.abs().sum() == 0 for m in (block.mlp.fc1, block.mlp_kv.fc2, block.attn.proj))
    assert all((n.weight == 1).all() and (n.bias == 0).all() for n in (block.norm1, block.norm2_kv))
    time_weights = torch.cat([den.time_mlp[0].weight.flatten(), den.time_mlp[2].weight.flatten()])
    assert abs(time_weights.std().item() - 0.02) < 0.002


def test_released_neck_resizes_to_half_the_stride4_map_and_has_no_norm():
    torch.manual_seed(0)
    neck = ReleasedNeck([4, 6, 8, 10], [4, 8, 16, 32], 5, 8)
    assert sum(p.numel() for p in neck.parameters()) == 5 * 28 * 9 + 5  # conv weight + bias
    shapes = [(25, 18), (13, 9), (7, 5), (4, 3)]  # ResNet maps of a 100×70 image
    feats = [torch.randn(1, c, *hw) for c, hw in zip([4, 6, 8, 10], shapes)]
    out = neck(feats, (100, 70))
    size = (12, 9)  # half the stride-4 map, floored; the default neck gives ceil(100/8) = 13
    assert out.shape == (1, 5, *size)
    resized = [F.interpolate(f, size, mode="bilinear", align_corners=False) for f in feats]
    expected = F.conv2d(torch.cat(resized, 1), neck.proj.weight, neck.proj.bias, padding=1)
    torch.testing.assert_close(out, expected)
    with pytest.raises(ConfigError, match="unknown neck"):
        build_neck("bn", [4], [4], 5, 8)


def _net(**diffusion) -> DiffusionMTLNet:
    torch.manual_seed(0)
    tasks = resolve_tasks("pascal_context", ["semseg", "normals", "edge"])
    return DiffusionMTLNet(tasks, network={"embed_dim": WIDTH, "neck": "conv"},
                           diffusion=diffusion, denoiser={"kind": "crossattn", "attn_blocks": 1},
                           ).eval()  # fmt: skip


def test_raw_condition_input_feeds_the_initial_predictions_unchanged():
    net, seen = _net(condition_input="raw"), []
    net.condition.fuse.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    image = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        net(image)
        _, initial = net.initial(image)
    torch.testing.assert_close(seen[0], torch.cat([initial[n] for n in net.task_names], 1))


def test_zero_inference_noise_makes_evaluation_seed_free():
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        quiet = [_net(inference_noise=False, inference_seed=s)(image).predictions for s in (0, 1)]
        noisy = [_net(inference_seed=s)(image).predictions for s in (0, 1)]
    torch.testing.assert_close(quiet[0], quiet[1])
    assert not torch.allclose(noisy[0]["semseg"], noisy[1]["semseg"])


def test_unknown_denoiser_and_condition_input_are_config_errors():
    with pytest.raises(ConfigError, match="unknown denoiser"):
        MTDNet(resolve_tasks("synthetic"), feature_channels=8, cond_channels=8,
               diffusion=DiffusionConfig(), denoiser=DenoiserConfig(kind="unknown"))  # fmt: skip
    with pytest.raises(ConfigError, match="condition_input"):
        _net(condition_input="logits")


def test_training_chain_sends_gradients_to_every_parameter():
    net = _net(condition_input="raw").train()
    image = torch.randn(2, 3, 64, 64)
    labelled = torch.ones(2, 3, dtype=torch.bool)
    out = net(image, labelled, NoiseSource.from_generator(torch.Generator().manual_seed(0)))
    maps = [*out.predictions.values(), *out.initial.values()]  # as the loss: final + initial
    sum((p**2).mean() for p in maps).backward()
    # (timm starts each ResNet block's last BN at zero, so inside the backbone's residual branches
    # the first gradient is zero by design; everything after the backbone must get one)
    dead = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert [n for n in dead if not n.startswith("backbone.")] == []
    assert all(net.backbone.model.get_parameter(n.removeprefix("backbone.model.")).grad is not None
               for n in dead)  # fmt: skip
