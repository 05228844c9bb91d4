"""Every shipped config parses, composes with the default job and means what its name says."""

from pathlib import Path

import pytest

from dmtl.cli import DMTLCLI
from dmtl.data.datamodule import MultiTaskDataModule
from dmtl.module import DiffusionMTLModule

EXPERIMENTS = Path(__file__).parents[1] / "experiments"
SYNTHETIC = EXPERIMENTS / "synthetic"
DEFAULT = SYNTHETIC / "default.yaml"
METHODS = sorted((SYNTHETIC / "method").glob("*.yaml"))
SETTINGS = sorted((SYNTHETIC / "setting").glob("*.yaml"))
# method overlay -> (diffusion, condition, refine_only) it must select
METHOD_MEANS = {
    "mtl": ("none", None, None),
    "feature": ("feature", "multitask", False),
    "prediction": ("prediction", "multitask", False),
    "single_condition": ("feature", "single", False),
    "refine_only": ("feature", "multitask", True),
}


def _parse(*configs: Path) -> DMTLCLI:
    args = [a for c in configs for a in ("--config", str(c))]
    return DMTLCLI(DiffusionMTLModule, MultiTaskDataModule, args=args, run=False)


def test_default_job_is_onelabel_feature_diffusion_offline():
    cli = _parse(DEFAULT)
    assert cli.datamodule.dataset == "synthetic"
    assert cli.datamodule.hparams.label_setting == "onelabel"
    hp = cli.model.hparams
    assert (hp.diffusion, hp.condition, hp.refine_only) == ("feature", "multitask", False)
    assert hp.pretrained is False
    assert hp.tasks == cli.datamodule.hparams.tasks


def test_every_method_of_the_table_has_an_overlay():
    names = {p.stem for p in METHODS}
    assert set(METHOD_MEANS) <= names
    assert {"stl_semseg", "stl_depth", "stl_normals"} <= names


@pytest.mark.parametrize("overlay", METHODS, ids=lambda p: p.name)
def test_method_overlays_mean_what_their_names_say(overlay):
    cli = _parse(DEFAULT, overlay)
    hp, name = cli.model.hparams, overlay.stem
    if name.startswith("stl_"):
        task = name.removeprefix("stl_")
        assert cli.datamodule.tasks == [task] and hp.tasks == [task]
        assert cli.datamodule.label_tasks == ["semseg", "depth", "normals"]
        assert hp.diffusion == "none"
        return
    diffusion, condition, refine_only = METHOD_MEANS[name]
    assert hp.diffusion == diffusion
    if condition is not None:
        assert (hp.condition, hp.refine_only) == (condition, refine_only)


@pytest.mark.parametrize("overlay", SETTINGS, ids=lambda p: p.name)
def test_setting_overlays_compose_with_methods(overlay):
    cli = _parse(DEFAULT, SYNTHETIC / "method" / "prediction.yaml", overlay)
    assert cli.datamodule.hparams.label_setting == overlay.stem
    assert cli.model.hparams.diffusion == "prediction"


def test_wandb_logger_overlay_parses():
    cli = _parse(DEFAULT, EXPERIMENTS / "logger" / "wandb.yaml")
    assert type(cli.trainer.logger).__name__ == "WandbLogger"


@pytest.mark.parametrize(
    "reference",
    sorted((EXPERIMENTS / "synthetic" / "references").glob("*.yaml")),
    ids=lambda p: p.name,
)
def test_reference_files_hold_every_primary_metric(reference):
    from dmtl.metrics import load_reference
    from dmtl.tasks import resolve_tasks

    tasks = resolve_tasks("synthetic")
    values = load_reference(reference, tasks)
    assert all(values[t.name][t.primary_metric] > 0 for t in tasks)
