"""Logs for batch jobs: plain progress lines off a terminal (callbacks.progress), the learning
rate in the metrics (callbacks.learning_rate), the dmtl loggers' lines on stderr (dmtl.logs)."""

import csv
import logging
import re
import sys

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader

from dmtl.callbacks.learning_rate import LearningRateLog
from dmtl.callbacks.progress import BatchProgress
from dmtl.cli import main
from dmtl.errors import ConfigError
from dmtl.logs import configure_logging
from support.cli import _args

NUMBER = r"[0-9.]+(e-?[0-9]+)?"


class Line(pl.LightningModule):
    """A one-weight model whose validation logs ``val/score`` = its validation count."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        self.validations = 0

    def training_step(self, batch, batch_idx):
        return self.layer(batch).square().mean()

    def validation_step(self, batch, batch_idx):
        pass

    def on_validation_epoch_end(self):
        self.validations += 1
        self.log("val/score", float(self.validations))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _fit(tmp_path, progress, **kwargs):
    options = dict(
        accelerator="cpu",
        max_epochs=2,
        logger=CSVLogger(tmp_path, name="run", version="v"),
        callbacks=[progress, LearningRateLog()],
        enable_checkpointing=False,
        enable_progress_bar=True,
        enable_model_summary=False,
        num_sanity_val_steps=1,
        log_every_n_steps=1,
    )
    trainer = pl.Trainer(**{**options, **kwargs})
    torch.manual_seed(0)
    loader = DataLoader(torch.ones(4, 1, 1), batch_size=None)
    trainer.fit(Line(), loader, DataLoader(torch.ones(1, 1, 1), batch_size=None))
    return trainer


def test_off_a_terminal_a_line_every_n_steps_and_per_validation_and_no_bar(tmp_path, capsys):
    assert not sys.stdout.isatty()  # pytest captures stdout
    trainer = _fit(tmp_path, BatchProgress(every_n_steps=2))
    assert not trainer.progress_bar_callback.is_enabled
    lines = capsys.readouterr().out.strip().splitlines()
    step = rf"loss {NUMBER} lr 0\.01 {NUMBER} it/s"
    patterns = [
        rf"epoch 0 step 2/8 {step}",
        rf"epoch 0 step 4/8 {step}",
        rf"epoch 0 step 4/8 validation {NUMBER} s: val/score 2\.0000",  # not the sanity check
        rf"epoch 1 step 6/8 {step}",
        rf"epoch 1 step 8/8 {step}",
        rf"epoch 1 step 8/8 validation {NUMBER} s: val/score 3\.0000",
    ]
    assert len(lines) == len(patterns), lines
    for line, pattern in zip(lines, patterns, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)


def test_the_line_holds_the_mean_loss_of_the_steps_since_the_last(tmp_path, capsys):
    progress = BatchProgress(every_n_steps=1)
    _fit(tmp_path, progress, max_epochs=1, limit_val_batches=0)
    losses = [float(m.group(1)) for m in re.finditer(r"loss ([0-9.]+)", capsys.readouterr().out)]
    assert len(losses) == 4
    progress = BatchProgress(every_n_steps=4)
    _fit(tmp_path, progress, max_epochs=1, limit_val_batches=0)
    (mean,) = [float(m.group(1)) for m in re.finditer(r"loss ([0-9.]+)", capsys.readouterr().out)]
    assert mean == pytest.approx(sum(losses) / 4, abs=2e-4)  # the same seeded run


def test_on_a_terminal_nothing_is_printed_and_the_bar_stays(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    trainer = _fit(tmp_path, BatchProgress(every_n_steps=1), max_epochs=1)
    assert trainer.progress_bar_callback.is_enabled
    assert not re.search(r"^epoch \d+ step", capsys.readouterr().out, re.MULTILINE)


def test_zero_steps_turns_the_lines_off_and_negative_is_a_config_error(tmp_path, capsys):
    trainer = _fit(tmp_path, BatchProgress(every_n_steps=0), max_epochs=1)
    assert trainer.progress_bar_callback.is_enabled
    assert not re.search(r"^epoch \d+ step", capsys.readouterr().out, re.MULTILINE)
    with pytest.raises(ConfigError, match=r"progress\.every_n_steps"):
        BatchProgress(every_n_steps=-1)


def test_the_learning_rate_is_logged_and_a_run_without_a_logger_still_trains(tmp_path):
    _fit(tmp_path, BatchProgress(), max_epochs=1)
    with open(tmp_path / "run" / "v" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    logged = [float(r["lr-SGD"]) for r in rows if r.get("lr-SGD")]
    assert set(logged) == {0.01} and len(logged) >= 4  # every step (and at the epoch's start)
    trainer = _fit(tmp_path, BatchProgress(), max_epochs=1, logger=False)
    assert trainer.global_step == 4


def test_the_dmtl_loggers_print_on_stderr_once(capsys):
    configure_logging()
    configure_logging()
    logging.getLogger("dmtl.data.anything").info("hello %s", "there")
    assert capsys.readouterr().err == "dmtl: hello there\n"


def test_through_the_cli_the_renderer_speaks_and_the_lr_is_in_the_metrics(tmp_path, capsys):
    main(_args("fit", tmp_path / "cache", tmp_path, "--trainer.max_epochs=1"))
    err = capsys.readouterr().err
    assert re.search(r"^dmtl: rendering synthetic dataset .*cache", err, re.MULTILINE), err
    assert re.search(r"^dmtl: rendered synthetic dataset .* in [0-9.]+ s$", err, re.MULTILINE)
    with open(tmp_path / "run" / "fit" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r for r in rows if r.get("lr-Adam")], rows[0].keys()
