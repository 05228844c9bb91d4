import pytest
import torch

from dmtl.models.network import MultiTaskNet
from dmtl.tasks import resolve_tasks


@pytest.mark.parametrize("neck_stride", [4, 8])
def test_predictions_at_image_size_for_every_task(neck_stride):
    tasks = resolve_tasks("synthetic", ["semseg", "depth", "normals", "edge"])
    net = MultiTaskNet(tasks, embed_dim=32, neck_stride=neck_stride)
    out = net(torch.randn(2, 3, 64, 80))
    assert {k: tuple(v.shape) for k, v in out.predictions.items()} == {
        "semseg": (2, 13, 64, 80),
        "depth": (2, 1, 64, 80),
        "normals": (2, 3, 64, 80),
        "edge": (2, 1, 64, 80),
    }
    assert out.features["depth"].shape == (2, 32, 64 // neck_stride, 80 // neck_stride)
    assert out.initial == {}


def test_every_task_head_gets_gradient_and_tasks_are_independent_heads():
    tasks = resolve_tasks("synthetic")
    net = MultiTaskNet(tasks, embed_dim=16)
    out = net(torch.randn(2, 3, 64, 64))
    out.predictions["depth"].sum().backward()
    assert net.decoders["depth"].head.weight.grad.abs().sum() > 0
    assert net.decoders["semseg"].head.weight.grad is None
    assert net.backbone.model.conv1.weight.grad.abs().sum() > 0


def test_single_task_network_has_one_decoder():
    net = MultiTaskNet(resolve_tasks("nyuv2", ["semseg"]), embed_dim=16)
    assert list(net.decoders) == ["semseg"]
    assert set(net(torch.randn(2, 3, 32, 32)).predictions) == {"semseg"}
