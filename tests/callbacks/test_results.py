"""End-of-run results (callbacks.results): the printed tables and the JSON files of a run."""

import json
from types import SimpleNamespace

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.trainer.states import TrainerFn
from torch.utils.data import DataLoader

from dmtl.callbacks.results import ResultsReport
from dmtl.report import format_table, run_dir


class Scored(pl.LightningModule):
    """Keeps made-up results per stage the way DiffusionMTLModule does: ``results[stage]``.

    Validation ``n`` (the sanity check is 1) scores ``miou = n``; ``initial`` adds the
    initial predictions' stage (``miou = n / 10``); ``delta`` adds ``delta_m``.
    """

    def __init__(self, initial=True, delta=True) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        self.initial, self.delta = initial, delta
        self.validations = 0
        self.results = {}

    def training_step(self, batch, batch_idx):
        return self.layer(batch).square().mean()

    def validation_step(self, batch, batch_idx):
        pass

    def test_step(self, batch, batch_idx):
        pass

    def _keep(self, stage, miou):
        extra = {"delta_m": -miou} if self.delta else {}
        self.results[stage] = ({"semseg": {"miou": miou}, "depth": {"abs_err": 0.5}}, extra)

    def on_validation_epoch_end(self):
        self.validations += 1
        self._keep("val", float(self.validations))
        if self.initial:
            self._keep("val_initial", self.validations / 10)

    def on_test_epoch_end(self):
        self._keep("test", 42.0)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _loader():
    return DataLoader(torch.ones(2, 1, 1), batch_size=None)


def _trainer(tmp_path, **kwargs):
    options = dict(
        accelerator="cpu",
        max_epochs=2,
        logger=CSVLogger(tmp_path, name="run", version="v"),
        callbacks=[ResultsReport()],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=1,
    )
    return pl.Trainer(**{**options, **kwargs})


def _json(path):
    return json.loads(path.read_text())


def test_fit_writes_and_prints_the_last_validation_and_its_initial_predictions(tmp_path, capsys):
    module = Scored()
    _trainer(tmp_path).fit(module, _loader(), _loader())
    run = tmp_path / "run" / "v"
    assert module.validations == 3  # the sanity check, then one per epoch
    final = {"semseg": {"miou": 3.0}, "depth": {"abs_err": 0.5}}
    initial = {"semseg": {"miou": 0.3}, "depth": {"abs_err": 0.5}}
    assert _json(run / "val_metrics.json") == {**final, "delta_m": -3.0}
    assert _json(run / "val_initial_metrics.json") == {**initial, "delta_m": -0.3}
    printed = capsys.readouterr().out
    table = format_table(final, "final validation metrics (per task)", {"delta_m": -3.0})
    initial_title = "initial predictions before denoising, final validation (per task)"
    initial_table = format_table(initial, initial_title, {"delta_m": -0.3})
    assert f"\n{table}\n" in printed and f"\n{initial_table}\n" in printed
    assert printed.index(table) < printed.index(initial_table)
    assert not (run / "test_metrics.json").exists()


def test_without_a_reference_or_initial_stage_only_the_tasks(tmp_path):
    _trainer(tmp_path, max_epochs=1).fit(Scored(initial=False, delta=False), _loader(), _loader())
    run = tmp_path / "run" / "v"
    assert _json(run / "val_metrics.json") == {
        "semseg": {"miou": 2.0},
        "depth": {"abs_err": 0.5},
    }
    assert not (run / "val_initial_metrics.json").exists()


def test_a_fit_whose_only_validation_is_the_sanity_check_writes_nothing(tmp_path, capsys):
    module = Scored()
    _trainer(tmp_path, max_epochs=1, check_val_every_n_epoch=2).fit(module, _loader(), _loader())
    assert module.validations == 1 and "val" in module.results  # the sanity check's
    assert not list((tmp_path / "run" / "v").glob("*.json"))
    assert "final validation" not in capsys.readouterr().out


def test_test_writes_and_prints_test_metrics(tmp_path, capsys):
    _trainer(tmp_path).test(Scored(), _loader(), verbose=False)
    run = tmp_path / "run" / "v"
    expected = {"semseg": {"miou": 42.0}, "depth": {"abs_err": 0.5}}
    assert _json(run / "test_metrics.json") == {**expected, "delta_m": -42.0}
    assert "test metrics (per task)" in capsys.readouterr().out
    assert not (run / "val_metrics.json").exists()


def test_validate_alone_writes_its_own_file_not_the_fits(tmp_path, capsys):
    _trainer(tmp_path).validate(Scored(), _loader(), verbose=False)
    files = sorted(p.name for p in (tmp_path / "run" / "v").glob("*.json"))
    assert files == ["validate_metrics.json"]  # a fit's val_metrics.json beside it stays
    assert "semseg" in json.loads((tmp_path / "run" / "v" / files[0]).read_text())
    assert capsys.readouterr().out.count("validation metrics (per task)") == 1


def test_other_ranks_print_and_write_nothing(tmp_path, capsys):
    report, module = ResultsReport(), Scored()
    module.on_validation_epoch_end()
    module.on_test_epoch_end()
    trainer = SimpleNamespace(
        sanity_checking=False,
        is_global_zero=False,
        loggers=[],
        default_root_dir=str(tmp_path),
        state=SimpleNamespace(fn=TrainerFn.FITTING),
    )
    report.on_validation_end(trainer, module)
    report.on_fit_end(trainer, module)
    report.on_test_end(trainer, module)
    assert not list(tmp_path.iterdir()) and capsys.readouterr().out == ""
    trainer.is_global_zero = True  # the same calls on rank zero write into default_root_dir
    report.on_fit_end(trainer, module)
    report.on_test_end(trainer, module)
    assert {p.name for p in tmp_path.iterdir()} == {
        "val_metrics.json",
        "val_initial_metrics.json",
        "test_metrics.json",
    }


def test_run_dir_is_the_first_loggers_folder_or_the_root(tmp_path):
    def trainer(*loggers):
        return SimpleNamespace(loggers=list(loggers), default_root_dir=str(tmp_path / "root"))

    csv = CSVLogger(tmp_path, name="run", version="v")
    second = CSVLogger(tmp_path, name="csv", version=3)
    other = SimpleNamespace(save_dir=str(tmp_path / "wandb"))  # a logger without a version
    assert run_dir(trainer(csv, second)) == tmp_path / "run" / "v"
    assert run_dir(trainer(second, csv)) == tmp_path / "csv" / "version_3"
    assert run_dir(trainer(other)) == tmp_path / "wandb"
    assert run_dir(trainer()) == tmp_path / "root"
    assert run_dir(trainer(SimpleNamespace(save_dir=None))) == tmp_path / "root"


def test_run_dir_of_a_versioned_logger_is_its_checkpoints_folder(tmp_path):
    wandb = SimpleNamespace(save_dir=str(tmp_path), name="proj", version="run7")  # as W&B's
    numbered = SimpleNamespace(save_dir=str(tmp_path), name="other", version=2)
    trainer = SimpleNamespace(loggers=[wandb], default_root_dir=str(tmp_path / "root"))
    assert run_dir(trainer) == tmp_path / "proj" / "run7"
    trainer.loggers = [numbered]
    assert run_dir(trainer) == tmp_path / "other" / "version_2"


def test_fast_dev_run_prints_the_tables_and_writes_no_file(tmp_path, capsys):
    trainer = _trainer(tmp_path, fast_dev_run=True, default_root_dir=tmp_path)
    trainer.fit(Scored(), _loader(), _loader())
    assert "final validation metrics (per task)" in capsys.readouterr().out
    assert not list(tmp_path.rglob("*.json"))
