"""W&B: the API-key check and the resolved config (callbacks.wandb_run), the logged panel."""

import pytest

from dmtl.cli import main
from support import REPO
from support.cli import TINY_DATA

WANDB_CONFIG = REPO / "experiments" / "logger" / "wandb.yaml"


def _args(cache, out):
    return [
        "validate",
        f"--data.root={cache}",
        f"--trainer.default_root_dir={out}",
        f"--config={WANDB_CONFIG}",
        f"--trainer.logger.init_args.save_dir={out}",
        *TINY_DATA,
    ]


def test_online_without_api_key_fails_before_anything_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))  # no `wandb login` entry
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as exit_info:
        main(_args(tmp_path / "cache", tmp_path))
    assert exit_info.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("dmtl: error: the W&B logger is online but no W&B API key was found")
    assert "WANDB_MODE=offline" in line
    assert not (tmp_path / "wandb").exists()  # no run was started


def test_offline_run_holds_resolved_config_and_the_panel(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    cli = main(_args(tmp_path / "cache", tmp_path))
    experiment = cli.trainer.logger.experiment
    resolved, run_id = dict(experiment.config["cli"]), experiment.id
    experiment.finish()
    folder = tmp_path / "dmtl" / run_id  # the run's folder: save_dir/<project>/<run id>
    (run,) = (folder / "wandb").glob("offline-run-*")
    assert resolved["data"]["synthetic"]["height"] == 32
    assert resolved["trainer"]["logger"]["class_path"].endswith("WandbLogger")
    media = run / "files" / "media"
    logged = {p.relative_to(media).as_posix(): p for p in media.rglob("*.png")}
    # One key, the panel saved in the run directory (callbacks.panels), the same picture.
    panels = [path for name, path in logged.items() if name.startswith("images/val/panel_")]
    assert len(panels) == 1, sorted(logged)
    assert not [name for name in logged if not name.startswith("images/val/panel_")], sorted(logged)
    saved = np.asarray(Image.open(folder / "panels" / "val_epoch000.png"))
    assert np.array_equal(np.asarray(Image.open(panels[0])), saved)
