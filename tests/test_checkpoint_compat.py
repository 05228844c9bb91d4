"""The table from the flat options of the earlier layout to the option groups."""

import dataclasses

import pytest

from dmtl.checkpoint_compat import ADDED_LATER, DROPPED, FLAT_OPTIONS, grouped_hparams, is_flat
from dmtl.config import GROUPS
from dmtl.errors import ConfigError

# groups added after the flat layout: they have no flat names
NEWER_GROUPS = {"xtc", "consistency", "jtr", "teacher", "mean_teacher"}


def test_every_group_field_has_exactly_one_flat_name():
    targets = list(FLAT_OPTIONS.values())
    assert len(targets) == len(set(targets))
    groups = {g: cls for g, cls in GROUPS.items() if g not in NEWER_GROUPS}
    fields = {(g, f.name) for g, cls in groups.items() for f in dataclasses.fields(cls)}
    fields -= ADDED_LATER  # no flat checkpoint has them
    assert set(targets) == fields
    assert len(FLAT_OPTIONS) + len(DROPPED) == 44  # the 46 flat options less dataset and tasks


def test_flat_hyper_parameters_become_groups():
    flat = {"dataset": "nyuv2", "tasks": ["semseg"], "diffusion": "prediction", "denoiser": "unet",
            "denoiser_width": 8, "lr": 0.01, "panel_samples": 4, "_instantiator": "x"}  # fmt: skip
    assert is_flat(flat)
    assert grouped_hparams(flat) == {
        "dataset": "nyuv2",
        "tasks": ["semseg"],
        "diffusion": {"space": "prediction"},
        "denoiser": {"kind": "unet", "width": 8},
        "optim": {"lr": 0.01},
    }


def test_grouped_hyper_parameters_stay():
    grouped = {"dataset": "synthetic", "diffusion": {"space": "feature"}, "optim": {"lr": 0.1}}
    assert not is_flat(grouped) and grouped_hparams(grouped) == grouped
    with pytest.raises(ConfigError, match="unknown hyper-parameters speedy"):
        grouped_hparams({**grouped, "speedy": {}})
