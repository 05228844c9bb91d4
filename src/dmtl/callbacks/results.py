"""End-of-run results: the per-task tables printed and the JSON result files of a run."""

from __future__ import annotations

from collections.abc import Mapping

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from dmtl.report import Results, format_table, run_dir, write_results

StageResults = tuple[Results, Mapping[str, float]]  # (task -> metric -> value, extras such as Δm)

# (stage, table title, file name) of the end of fit: the final validation, then what it denoised.
FIT_REPORTS = (
    ("val", "final validation metrics (per task)", "val_metrics.json"),
    (
        "val_initial",
        "initial predictions before denoising, final validation (per task)",
        "val_initial_metrics.json",
    ),
)
TEST_REPORT = ("test", "test metrics (per task)", "test_metrics.json")


class ResultsReport(Callback):
    """Prints the per-task tables and writes the result files of a run, on rank zero.

    The module computes and logs each stage's metrics and keeps them as
    ``pl_module.results[stage] = (per_task, extra)`` (``extra``: ``delta_m`` when a reference is
    given). This callback reads them once the module's epoch-end hook has run:

    - at the end of fit, the last validation of the fit (never the sanity check's):
      ``val_metrics.json`` and, when the module scored its initial predictions,
      ``val_initial_metrics.json``;
    - at the end of test: ``test_metrics.json``.

    Each file is ``{task: {metric: value}, ...extra}`` in the run directory
    (``dmtl.report.run_dir``), and its table is printed first. ``fast_dev_run`` prints the
    tables and writes no file (a smoke run leaves nothing behind).
    """

    def __init__(self) -> None:
        self._final_val: dict[str, StageResults] = {}

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._final_val = {}

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # After the module's on_validation_epoch_end, which computed this validation's results.
        if trainer.sanity_checking:
            return
        results = _stage_results(pl_module)
        self._final_val = {stage: results[stage] for stage, _, _ in FIT_REPORTS if stage in results}

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for stage, title, filename in FIT_REPORTS:
            if stage in self._final_val:
                _report(trainer, self._final_val[stage], title, filename)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        stage, title, filename = TEST_REPORT
        results = _stage_results(pl_module)
        if stage in results:
            _report(trainer, results[stage], title, filename)


def _stage_results(pl_module: pl.LightningModule) -> Mapping[str, StageResults]:
    return getattr(pl_module, "results", None) or {}


def _report(trainer: pl.Trainer, results: StageResults, title: str, filename: str) -> None:
    """Print the table and write the file of one stage, on rank zero only (no collective)."""
    if not trainer.is_global_zero:
        return
    per_task, extra = results
    print("\n" + format_table(per_task, title, extra) + "\n", flush=True)
    if getattr(trainer, "fast_dev_run", False):
        return
    write_results(per_task, run_dir(trainer) / filename, extra)
