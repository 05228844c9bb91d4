"""XTC*'s mapping network, its joint inputs, and its place in the Lightning system."""

import pytest
import torch

from dmtl.config import DiffusionConfig, NetworkConfig, XTCConfig
from dmtl.errors import ConfigError
from dmtl.module import DiffusionMTLModule
from dmtl.tasks import IGNORE_INDEX, resolve_tasks
from dmtl.xtc.mapper import (
    CrossTaskMapper,
    joint_label,
    joint_prediction,
    num_pairs,
    pair_index,
)

SPECS = resolve_tasks("synthetic", ["semseg", "depth", "normals"])
TINY = NetworkConfig(backbone="resnet10t", embed_dim=16, neck="lateral", neck_stride=8)


def _mapper(**kwargs) -> CrossTaskMapper:
    options = {"feature_channels": 16, "levels": 2, "width": 4, "input_stride": 2, **kwargs}
    return CrossTaskMapper(SPECS, **options)


def test_pair_index_numbers_the_ordered_pairs_of_distinct_tasks():
    k = 4
    s, t = torch.meshgrid(torch.arange(k), torch.arange(k), indexing="ij")
    off = s != t
    idx = pair_index(s[off], t[off], k)
    assert sorted(idx.tolist()) == list(range(num_pairs(k)))


def test_mapper_output_has_the_feature_width_and_stride():
    mapper = _mapper()
    x = torch.randn(3, 4, 16, 20)
    out = mapper.trunk(x, torch.tensor([0, 1, 5]))
    assert out.shape == (3, 16, 4, 5)
    assert mapper.pool(torch.randn(2, 3, 32, 40)).shape == (2, 3, 16, 20)


def test_rows_are_independent_and_the_pair_conditions_them():
    """A row's trunk output alone equals its row in the batch, up to float32 rounding.

    Batched and one-row convolutions may take other kernels, which add the same products in
    another order: the outputs differ by a few ulps of their range (up to 5 measured over 40
    weight seeds, 1 or 2 threads, AVX-512 or AVX2 kernels; atol=1e-6, about 1 ulp of the range
    9, failed 4 of those seeds). atol = 16·eps·max|value| keeps a margin of 3; a row that saw its
    neighbours would differ by far more.
    """
    mapper = _mapper()
    with torch.no_grad():
        for level in mapper.levels:
            level.gamma.add_(torch.randn_like(level.gamma))
    x = torch.randn(4, 4, 16, 20)
    pairs = torch.tensor([0, 3, 5, 2])
    together = mapper.trunk(x, pairs)
    alone = torch.cat([mapper.trunk(x[i : i + 1], pairs[i : i + 1]) for i in range(4)])
    atol = 16 * torch.finfo(torch.float32).eps * alone.abs().max().item()
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=atol)
    other = mapper.trunk(x, torch.tensor([1, 3, 5, 2]))
    assert not torch.allclose(other[0], together[0]) and torch.allclose(other[1:], together[1:])


def test_joint_inputs_of_labels_and_predictions():
    semseg, depth, normals = SPECS
    ids = torch.tensor([[[0, 2], [IGNORE_INDEX, 1]]])
    hot = joint_label(semseg, ids, torch.float32)
    assert hot.shape == (1, 13, 2, 2) and hot[0, :, 1, 0].sum() == 0 and hot[0, 2, 0, 1] == 1
    d = torch.tensor([[[[2.0, 4.0], [0.0, float("nan")]]]])
    assert joint_label(depth, d, torch.float32).tolist() == [[[[0.5, 1.0], [0.0, 0.0]]]]
    n = torch.zeros(1, 3, 1, 1)
    assert joint_label(normals, n, torch.float32).flatten().tolist() == [0.5, 0.5, 0.5]
    logits = torch.randn(2, 13, 3, 3, requires_grad=True)
    hard = joint_prediction(semseg, logits)
    torch.testing.assert_close(hard.sum(dim=1), torch.ones(2, 3, 3))
    hard[:, 0].sum().backward()  # the straight-through gradient of the soft one-hot
    assert logits.grad.abs().sum() > 0
    pred = torch.tensor([[[[1.0, -3.0]]]])
    assert joint_prediction(depth, pred).flatten().tolist() == pytest.approx([1 / 3, -1.0])
    unit = joint_prediction(normals, torch.tensor([[[[0.0]], [[0.0]], [[-2.0]]]]))
    assert unit.flatten().tolist() == [0.5, 0.5, 0.0]


def test_mapper_refuses_one_task_and_an_empty_network():
    with pytest.raises(ConfigError, match="at least two tasks"):
        CrossTaskMapper(SPECS[:1], 16, 2, 4)
    with pytest.raises(ConfigError, match="xtc.width"):
        CrossTaskMapper(SPECS, 16, 0, 4)


def test_the_output_carries_the_neck_feature_the_decoders_read():
    module = _module()
    image = torch.randn(2, 3, 32, 40)
    for train in (True, False):
        module.train(train)
        with torch.no_grad():
            out = module(image)
            neck = module.net.neck(module.net.backbone(image), (32, 40))
        torch.testing.assert_close(out.shared, neck, rtol=0, atol=0)


# ------------------------------------------------------------------------ the Lightning system
def _module(**xtc) -> DiffusionMTLModule:
    return DiffusionMTLModule(
        tasks=["semseg", "depth", "normals"],
        network=TINY,
        diffusion=DiffusionConfig(space="none"),
        xtc=XTCConfig(enabled=True, **xtc),
    )


def _batch():
    g = torch.Generator().manual_seed(0)
    targets = {
        "semseg": torch.randint(0, 13, (4, 32, 40), generator=g),
        "depth": torch.rand(4, 1, 32, 40, generator=g) * 5 + 0.5,
        "normals": torch.nn.functional.normalize(torch.randn(4, 3, 32, 40, generator=g), dim=1),
    }
    labelled = torch.zeros(4, 3, dtype=torch.bool)
    labelled[torch.arange(4), torch.arange(4) % 3] = True
    return {"image": torch.randn(4, 3, 32, 40, generator=g), "targets": targets,
            "labelled": labelled}  # fmt: skip


def test_training_step_adds_the_term_and_trains_the_mapping_network():
    module = _module()
    module.train()
    batch = _batch()
    with pytest.warns(UserWarning, match="self.log"):
        total = module.training_step(batch, 0)
    out = module(batch["image"], batch["labelled"])
    plain = module.criterion(out, batch["targets"], batch["labelled"]).total
    assert total.item() > plain.item()
    total.backward()
    grads = [p.grad for p in module.xtc_net.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0
    opt_params = {id(p) for p in module.parameters()}
    assert all(id(p) in opt_params for p in module.xtc_net.parameters())


def test_evaluation_runs_nothing_of_xtc_and_the_default_has_none():
    module = _module()
    module.eval()
    calls = []
    module.xtc_net.register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        module.validation_step(_batch(), 0)
    assert calls == []  # the mapping network never runs in evaluation
    plain = DiffusionMTLModule(tasks=["semseg", "depth"], network=TINY,
                               diffusion=DiffusionConfig(space="none"))  # fmt: skip
    assert plain.xtc_net is None
    assert not any(k.startswith("xtc_net") for k in plain.state_dict())
    assert plain.hparams["xtc"]["enabled"] is False


@pytest.mark.parametrize(
    ("diffusion", "network", "xtc", "match"),
    [
        ({"space": "feature"}, {}, {}, "diffusion.space: none"),
        ({"space": "none"}, {"neck_stride": 6}, {}, "neck_stride 6"),
        ({"space": "none"}, {}, {"input_stride": 8}, "input_stride 8"),
    ],
)
def test_xtc_refuses_what_it_cannot_build(diffusion, network, xtc, match):
    with pytest.raises(ConfigError, match=match):
        DiffusionMTLModule(
            tasks=["semseg", "depth"],
            network={**vars(TINY), **network},
            diffusion=diffusion,
            xtc={"enabled": True, **xtc},
        )
