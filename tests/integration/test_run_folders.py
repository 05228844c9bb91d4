"""One folder per run (dmtl.run_folders, report.run_dir): two runs in one save_dir stay apart,
with the CSV logger and with W&B offline; fast_dev_run leaves nothing behind."""

import os

import pytest
from lightning.pytorch.loggers import CSVLogger, WandbLogger

from dmtl.cli import main
from dmtl.run_folders import place_runs, place_wandb_run, reserve_version
from support import REPO
from support.cli import TINY_DATA

WANDB_CONFIG = REPO / "experiments" / "logger" / "wandb.yaml"
SHORT = [
    "--trainer.max_epochs=1",
    "--trainer.limit_train_batches=2",
    "--trainer.limit_val_batches=1",
]
# What each run writes into its own folder (W&B adds its wandb/ folder).
RUN_FILES = {"config.yaml", "val_metrics.json", "val_initial_metrics.json", "panels", "checkpoints"}


def _fit(cache, save_dir, *extra):
    return main(
        [
            "fit",
            f"--data.root={cache}",
            f"--trainer.default_root_dir={save_dir}",
            *TINY_DATA,
            *SHORT,
            *extra,
        ]
    )


def _names(folder):
    return {p.name for p in folder.iterdir()}


def _run_files(folder):
    """Each file of a run folder, relative to it, with its bytes."""
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_two_csv_runs_in_one_save_dir_keep_all_their_files_apart(tmp_path):
    cache, save_dir = tmp_path / "cache", tmp_path / "runs"
    csv = [
        "--trainer.logger=lightning.pytorch.loggers.CSVLogger",
        f"--trainer.logger.save_dir={save_dir}",
        "--trainer.logger.name=exp",
    ]
    _fit(cache, save_dir, *csv)
    first = save_dir / "exp" / "version_0"
    before = _run_files(first)
    _fit(cache, save_dir, *csv, "--model.optim.lr=0.01")
    second = save_dir / "exp" / "version_1"
    assert _names(save_dir) == {"exp"} and _names(save_dir / "exp") == {"version_0", "version_1"}
    for folder in (first, second):
        assert _names(folder) == RUN_FILES | {"metrics.csv", "hparams.yaml", "curves.png"}
        assert list((folder / "panels").glob("val_epoch000.png"))
        assert list((folder / "checkpoints").glob("*.ckpt"))
    assert _run_files(first) == before  # the second run changed nothing of the first
    assert "lr: 0.01" in (second / "config.yaml").read_text()
    assert "lr: 0.01" not in (first / "config.yaml").read_text()


def test_two_wandb_runs_in_one_save_dir_keep_all_their_files_apart(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb_dir"))  # the run's folder wins
    monkeypatch.delenv("WANDB_RUN_ID", raising=False)
    cache, save_dir = tmp_path / "cache", tmp_path / "runs"
    wandb = [f"--config={WANDB_CONFIG}", f"--trainer.logger.init_args.save_dir={save_dir}"]
    folders = []
    for lr in ("0.002", "0.01"):
        cli = _fit(cache, save_dir, *wandb, f"--model.optim.lr={lr}")
        experiment = cli.trainer.logger.experiment
        folders.append(save_dir / "dmtl" / experiment.id)
        experiment.finish()  # a second WandbLogger in one process would reuse a live run
    first, second = folders
    assert first != second
    assert _names(save_dir) == {"dmtl"} and _names(save_dir / "dmtl") == {first.name, second.name}
    for folder in folders:
        assert _names(folder) == RUN_FILES | {"wandb"}
        (offline,) = (folder / "wandb").glob(f"offline-run-*-{folder.name}")
        assert list(offline.glob("*.wandb"))
        assert list((folder / "panels").glob("val_epoch000.png"))
        assert list((folder / "checkpoints").glob("*.ckpt"))
    assert "lr: 0.01" in (second / "config.yaml").read_text()
    assert "lr: 0.01" not in (first / "config.yaml").read_text()
    assert not (tmp_path / "wandb_dir").exists()


def test_a_csv_version_is_reserved_so_runs_started_together_never_share_it(tmp_path):
    one, two = (CSVLogger(tmp_path, name="exp") for _ in range(2))
    two._get_next_version = lambda: 0  # it looked before the first run created version_0
    reserve_version(one)
    reserve_version(two)
    assert (one.version, two.version) == (0, 1)
    assert one.log_dir != two.log_dir and _names(tmp_path / "exp") == {"version_0", "version_1"}
    given = CSVLogger(tmp_path, name="exp", version="mine")
    reserve_version(given)
    assert given.version == "mine" and not (tmp_path / "exp" / "mine").exists()


def test_a_sweep_agents_run_id_names_the_folder_of_its_wandb_files(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_RUN_ID", "agent7")
    logger = WandbLogger(save_dir=str(tmp_path), project="proj")
    place_wandb_run(logger)
    assert logger.version == "agent7" and logger._wandb_init["id"] == "agent7"
    assert logger._wandb_init["dir"] == str(tmp_path / "proj" / "agent7")
    monkeypatch.delenv("WANDB_RUN_ID")
    others = [WandbLogger(save_dir=str(tmp_path), project="proj") for _ in range(2)]
    for other in others:
        place_wandb_run(other)
    assert len({other.version for other in others}) == 2  # new ids, one each
    given = WandbLogger(save_dir=str(tmp_path), project="proj", id="mine")
    place_wandb_run(given)
    assert given._wandb_init["dir"] == str(tmp_path / "proj" / "mine")


@pytest.mark.parametrize("variable", ["LOCAL_RANK", "SLURM_PROCID", "NODE_RANK"])
def test_other_ranks_reserve_nothing(tmp_path, monkeypatch, variable):
    monkeypatch.setenv(variable, "1")
    logger = CSVLogger(tmp_path, name="exp")
    place_runs(type("Trainer", (), {"loggers": [logger], "fast_dev_run": False})())
    assert logger._version is None and not (tmp_path / "exp").exists()


def test_fast_dev_run_leaves_nothing_behind(tmp_path, monkeypatch, capsys):
    """The default logger and the checkpoint callback of the default job, in a fresh cwd."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    default = REPO / "experiments" / "synthetic" / "default.yaml"
    args = ["fit", f"--config={default}", f"--data.root={tmp_path / 'cache'}", *TINY_DATA]
    main([*args, "--trainer.fast_dev_run=true"])
    assert "final validation metrics" in capsys.readouterr().out  # it ran and reported
    assert os.listdir(cwd) == []
