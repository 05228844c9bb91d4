"""The view terms inside the Lightning system: with DiffusionMTL they read initial or final
predictions of every sample, and an older checkpoint's options leave them off."""

import pytest
import torch

from dmtl.checkpoint_compat import grouped_hparams
from dmtl.config import ConsistencyConfig, DiffusionConfig, JTRConfig, NetworkConfig
from dmtl.module import DiffusionMTLModule
from support.view_terms import ONE_LABEL, batch

SMALL = (8, 8, 8, 8, 8)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("group", "options"),
    [
        ("consistency", {}),
        ("consistency", {"predictions": "final"}),
        ("jtr", {"widths": SMALL, "predictions": "final"}),
    ],  # fmt: skip
)
def test_on_diffusionmtl_the_term_reads_every_samples_predictions(group, options):
    torch.manual_seed(0)
    config = (ConsistencyConfig if group == "consistency" else JTRConfig)(enabled=True, **options)
    module = DiffusionMTLModule(
        network=NetworkConfig(embed_dim=16), diffusion=DiffusionConfig(space="feature"),
        **{group: config},
    )  # fmt: skip
    logged = {}
    module.log = lambda name, value, **k: logged.__setitem__(name, value)
    module.training_step(batch(ONE_LABEL), 0).backward()
    assert torch.isfinite(logged[f"train/loss/{group}"]) and logged[f"train/loss/{group}"] > 0
    assert all(torch.isfinite(p.grad).all() for p in module.parameters() if p.grad is not None)


def test_a_checkpoint_without_the_groups_builds_no_term():
    kwargs = grouped_hparams({"dataset": "synthetic", "diffusion": {"space": "none"},
                              "network": {"embed_dim": 16}})  # fmt: skip
    module = DiffusionMTLModule(**kwargs)
    assert module.jtr == JTRConfig() and module.consistency == ConsistencyConfig()
    assert len(module.terms) == 0
    assert module.hparams["jtr"]["enabled"] is False


@pytest.mark.parametrize(
    ("dataset", "given", "expected"),
    [
        ("cityscapes", None, True),  # inverse depth: a zoom multiplies it
        ("synthetic_cityscapes", None, True),
        ("nyuv2", None, False),  # metres: a zoom divides them
        ("cityscapes", False, False),  # JTR's released code divides inverse depth too
        ("synthetic", True, True),
    ],
)
def test_the_view_terms_take_the_datasets_depth_units_unless_given(dataset, given, expected):
    module = DiffusionMTLModule(
        dataset=dataset,
        network=NetworkConfig(backbone="mobilenetv3_small_050", embed_dim=16),
        diffusion=DiffusionConfig(space="none"),
        consistency=ConsistencyConfig(enabled=True, inverse_depth=given),
        jtr=JTRConfig(enabled=True, widths=(8, 8, 8, 8, 8), inverse_depth=given),
    )
    for name in ("consistency", "jtr"):
        assert module.terms[name].config.inverse_depth is expected, name
        assert module.hparams[name]["inverse_depth"] is given  # saved as given: null stays null
