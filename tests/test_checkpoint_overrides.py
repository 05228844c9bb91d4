"""dmtl.checkpoint_overrides: which command-line model options win over a checkpoint's."""

from pathlib import Path

import pytest
from jsonargparse import Namespace

from dmtl.checkpoint_overrides import command_line_keys, is_runtime, keep_command_line
from dmtl.errors import ConfigError

SAVED = {
    "network": {"backbone": "resnet18", "embed_dim": 64},
    "diffusion": {"space": "feature", "steps": 2, "inference_noise": True, "inference_seed": 0},
    "evaluation": {"inference_seeds": None, "boundary_metric": "dilate"},
    "optim": {"lr": 0.002},
}


def test_keys_of_both_spellings_and_no_whole_section() -> None:
    argv = ["validate", "--config", "c.yaml", "--model.diffusion.inference_noise", "false",
            "--model.evaluation.inference_seeds=[0,1]", "--model=other.yaml",
            "--data.batch_size=4", "--model.evaluation.inference_seeds=[2]"]  # fmt: skip
    assert command_line_keys(argv) == ["diffusion.inference_noise", "evaluation.inference_seeds"]


def test_runtime_options_are_the_groups_and_noise_fields() -> None:
    assert is_runtime("evaluation.boundary_metric") and is_runtime("optim")
    assert is_runtime("diffusion.inference_noise") and not is_runtime("diffusion.steps")
    assert not is_runtime("network.backbone") and not is_runtime("evaluation_extra")


def test_runtime_values_replace_the_saved_ones_and_nothing_else_changes() -> None:
    parsed = Namespace(
        diffusion=Namespace(space="feature", steps=2, inference_noise=False, inference_seed=0),
        evaluation=Namespace(inference_seeds=(0, 1), boundary_metric="ods"),
        network=Namespace(backbone="resnet10t", embed_dim=64),  # from a config file: ignored
        optim=Namespace(lr=0.1),
    )
    keys = ["diffusion.inference_noise", "evaluation.inference_seeds", "evaluation"]
    out = keep_command_line(SAVED, keys, parsed, Path("x.ckpt"))
    assert out["diffusion"] == {**SAVED["diffusion"], "inference_noise": False}
    assert out["evaluation"] == {"inference_seeds": [0, 1], "boundary_metric": "ods"}
    assert out["network"] == SAVED["network"] and out["optim"] == SAVED["optim"]
    assert SAVED["diffusion"]["inference_noise"] is True  # the input is not changed


def test_a_weight_shaping_option_must_equal_the_saved_value() -> None:
    parsed = Namespace(network=Namespace(backbone="resnet18", embed_dim=32),
                       diffusion=Namespace(steps=2))  # fmt: skip
    keep_command_line(SAVED, ["diffusion.steps", "network.backbone"], parsed, Path("x.ckpt"))
    with pytest.raises(ConfigError, match=r"--model\.network\.embed_dim=32 differs from the 64"):
        keep_command_line(SAVED, ["network.embed_dim"], parsed, Path("x.ckpt"))
