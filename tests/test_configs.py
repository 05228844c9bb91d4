"""Every shipped config parses, composes with the default job and means what its name says."""

from pathlib import Path

import pytest

from dmtl.cli import DMTLCLI
from dmtl.data.datamodule import MultiTaskDataModule
from dmtl.module import DiffusionMTLModule

EXPERIMENTS = Path(__file__).parents[1] / "experiments"
DEFAULT = EXPERIMENTS / "synthetic" / "mtl_onelabel.yaml"
OVERLAYS = sorted(p for p in (EXPERIMENTS / "synthetic").glob("*.yaml") if p != DEFAULT)


def _parse(*configs: Path) -> DMTLCLI:
    args = [a for c in configs for a in ("--config", str(c))]
    return DMTLCLI(DiffusionMTLModule, MultiTaskDataModule, args=args, run=False)


def test_default_job_is_the_onelabel_baseline_offline():
    cli = _parse(DEFAULT)
    assert cli.datamodule.dataset == "synthetic"
    assert cli.datamodule.hparams.label_setting == "onelabel"
    assert cli.model.hparams.pretrained is False
    assert cli.model.hparams.tasks == cli.datamodule.hparams.tasks


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_overlays_compose_with_the_default_job(overlay):
    cli = _parse(DEFAULT, overlay)
    name = overlay.stem
    if name.startswith("stl_"):
        task = name.removeprefix("stl_")
        assert cli.datamodule.tasks == [task] and cli.model.hparams.tasks == [task]
        assert cli.datamodule.label_tasks == ["semseg", "depth", "normals"]
    else:
        assert cli.datamodule.hparams.label_setting == name


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
