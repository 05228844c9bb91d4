"""The necks: output sizes, the lateral neck against its definition on the concatenated map, and
the registry by name."""

import pytest
import torch
import torch.nn.functional as F

from dmtl.errors import ConfigError
from dmtl.models.necks import ConvBNReLUNeck, LateralNeck, build_neck
from dmtl.models.network import MultiTaskNet
from dmtl.tasks import resolve_tasks

CHANNELS, STRIDES = [8, 16, 24, 32], [4, 8, 16, 32]


def _levels(batch: int, height: int, width: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return [
        torch.randn(batch, c, -(-height // s), -(-width // s), generator=gen)
        for c, s in zip(CHANNELS, STRIDES)
    ]


@pytest.mark.parametrize("stride", [4, 8])
def test_lateral_neck_equals_a_1x1_conv_over_the_concatenated_resized_levels(stride):
    neck = LateralNeck(CHANNELS, STRIDES, embed_dim=12, out_stride=stride)
    neck.eval()
    with torch.no_grad():
        for m in neck.modules():  # non-trivial BN statistics, so BN is checked too
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2)
                m.weight.uniform_(0.5, 1.5), m.bias.uniform_(-0.5, 0.5)
    feats = _levels(2, 64, 80)
    size = (-(-64 // stride), -(-80 // stride))
    # The definition: resize every level, concatenate, one 1x1 conv whose weight is the lateral
    # convs' weights side by side, then the rest of the projection.
    concat = torch.cat(
        [F.interpolate(f, size, mode="bilinear", align_corners=False) for f in feats], dim=1
    )
    weight = torch.cat([conv.weight for conv in neck.lateral], dim=1)
    expected = neck.proj(F.conv2d(concat, weight))
    got = neck(feats, (64, 80))
    assert got.shape == (2, 12, *size)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_lateral_neck_is_cheaper_than_the_concatenating_neck():
    wide = ConvBNReLUNeck(CHANNELS, STRIDES, 16, 4)
    lateral = LateralNeck(CHANNELS, STRIDES, 16, 4)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    # 3x3 over 80 input channels vs 1x1 over 80 plus a 3x3 over 16.
    assert count(lateral) < count(wide) / 2


def test_lateral_neck_in_the_network_predicts_at_image_size_and_trains():
    network = dict(embed_dim=16, neck_stride=4, neck="lateral", backbone="resnet10t")
    net = MultiTaskNet(resolve_tasks("synthetic", ["semseg", "depth"]), network=network)
    out = net(torch.randn(2, 3, 64, 80))
    assert out.predictions["semseg"].shape == (2, 13, 64, 80)
    out.predictions["depth"].mean().backward()
    assert all(conv.weight.grad.abs().sum() > 0 for conv in net.neck.lateral)


def test_unknown_neck_names_the_choices():
    with pytest.raises(ConfigError, match="'lateral'"):
        build_neck("fpn", CHANNELS, STRIDES, 16, 4)


@pytest.mark.parametrize("name", ["conv_bn_relu", "conv", "lateral"])
def test_every_registered_neck_fuses_the_levels_and_refuses_a_stride_finer_than_the_backbone(name):
    neck = build_neck(name, CHANNELS, STRIDES, 16, 8)
    assert neck(_levels(2, 64, 80), (64, 80)).shape == (2, 16, 8, 10)
    with pytest.raises(ValueError, match="finer than the finest backbone stride"):
        build_neck(name, CHANNELS, STRIDES, 16, 2)
