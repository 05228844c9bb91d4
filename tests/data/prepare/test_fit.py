"""The done-when: a tree that ``dmtl prepare`` downloaded trains with the shipped NYUv2 config."""

from __future__ import annotations

import inspect

from dmtl.cli import main
from dmtl.module import DiffusionMTLModule
from support import REPO


def network_flags(**values: object) -> list[str]:
    """``--model.<name>=<value>`` for network options, grouped (``--model.network.``) once the
    module takes a ``network`` option group."""
    grouped = "network" in inspect.signature(DiffusionMTLModule.__init__).parameters
    prefix = "--model.network." if grouped else "--model."
    return [f"{prefix}{name}={str(value).lower()}" for name, value in values.items()]


def test_prepared_nyuv2_trains_with_the_benchmark_config(nyu_source, server, tmp_path, capsys):
    root = tmp_path / "data" / "nyuv2"
    main(["prepare", "nyuv2", "--root", str(root), "--url", server.url("/nyuv2.zip")])
    assert "prepared nyuv2" in capsys.readouterr().err
    out = tmp_path / "runs"
    cli = main(["fit", "--config", str(REPO / "experiments" / "nyuv2" / "base.yaml"),
          f"--data.root={root}", f"--data.split_file={root / 'splits' / 'onelabel.pth'}",
          "--data.num_workers=0", "--trainer.fast_dev_run=true", "--trainer.accelerator=cpu",
          "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
          f"--trainer.default_root_dir={out}",
          "--trainer.logger=lightning.pytorch.loggers.CSVLogger",
          f"--trainer.logger.save_dir={out}",
          *network_flags(pretrained=False)])  # fmt: skip
    assert cli.trainer.state.finished and cli.trainer.global_step == 1  # one training step
    # the prepared split file (ONELABEL_ROWS of the conftest)
    assert cli.datamodule.labelled.int().tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]]
    assert [t.name for t in cli.datamodule.task_specs] == ["semseg", "depth", "normals"]


def test_prepared_nyud_trains_with_its_config(nyud_source, server, tmp_path, capsys):
    root = tmp_path / "data" / "NYUDv2"
    main(["prepare", "nyud", "--root", str(root), "--url", server.url("/NYUDv2.tar.gz")])
    assert "prepared nyud" in capsys.readouterr().err
    out = tmp_path / "runs"
    cli = main(["fit", "--config", str(REPO / "experiments" / "nyud" / "base.yaml"),
          f"--data.root={root}", "--data.crop_size=[32, 40]", "--data.num_workers=0",
          "--trainer.fast_dev_run=true", "--trainer.accelerator=cpu",
          "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
          f"--trainer.default_root_dir={out}",
          "--trainer.logger=lightning.pytorch.loggers.CSVLogger",
          f"--trainer.logger.save_dir={out}",
          *network_flags(pretrained=False)])  # fmt: skip
    assert cli.trainer.state.finished and cli.trainer.global_step == 1  # one training step
    assert [t.name for t in cli.datamodule.task_specs] == ["semseg", "depth", "normals", "edge"]
    assert cli.datamodule.task_specs[0].channels == 40
    assert cli.datamodule.labelled.sum(1).tolist() == [1, 1, 1, 1]  # one label per image, drawn
