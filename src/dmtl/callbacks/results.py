"""End-of-run results: the per-task tables printed and the JSON result files of a run."""

from __future__ import annotations

from collections.abc import Mapping

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn

from dmtl.report import Results, format_table, run_dir, write_results

StageResults = tuple[Results, Mapping[str, float]]  # (task -> metric -> value, extras such as Δm)
Spread = Mapping[str, object]  # {"std": task -> metric -> std, "inference_seeds": [...]}

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
# ``dmtl validate``: its own file, so that one beside a fit's run keeps the fit's val_metrics.json
VALIDATE_REPORT = ("val", "validation metrics (per task)", "validate_metrics.json")


class ResultsReport(Callback):
    """Prints the per-task tables and writes the result files of a run, on rank zero.

    The module computes and logs each stage's metrics and keeps them as
    ``pl_module.results[stage] = (per_task, extra)`` (``extra``: ``delta_m`` when a reference is
    given). This callback reads them once the module's epoch-end hook has run:

    - at the end of fit, the last validation of the fit (never the sanity check's):
      ``val_metrics.json`` and, when the module scored its initial predictions,
      ``val_initial_metrics.json``;
    - at the end of test: ``test_metrics.json``;
    - at the end of ``dmtl validate``: ``validate_metrics.json``.

    Each file is ``{task: {metric: value}, ...extra}`` in the run directory
    (``dmtl.report.run_dir``), and its table is printed first. When the module evaluated over
    several inference seeds (``pl_module.results_spread[stage]``), the values are the means over
    the seeds, ``extra`` holds ``delta_m_std`` beside ``delta_m``, and the file adds
    ``"std": {task: {metric: std}}`` and ``"inference_seeds": [...]`` (its table printed too).
    ``fast_dev_run`` prints the tables and writes no file (a smoke run leaves nothing behind).
    """

    def __init__(self) -> None:
        self._final_val: dict[str, StageResults] = {}
        self._final_spread: dict[str, Spread] = {}

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._final_val = {}
        self._final_spread = {}

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # After the module's on_validation_epoch_end, which computed this validation's results.
        if trainer.sanity_checking:
            return
        results = _stage_results(pl_module)
        if trainer.state.fn == TrainerFn.VALIDATING:
            stage, title, filename = VALIDATE_REPORT
            if stage in results:
                spread = _stage_spread(pl_module).get(stage)
                _report(trainer, results[stage], title, filename, pl_module, spread)
            return
        self._final_val = {stage: results[stage] for stage, _, _ in FIT_REPORTS if stage in results}
        spread = _stage_spread(pl_module)
        self._final_spread = {s: spread[s] for s, _, _ in FIT_REPORTS if s in spread}

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for stage, title, filename in FIT_REPORTS:
            if stage in self._final_val:
                spread = self._final_spread.get(stage)
                _report(trainer, self._final_val[stage], title, filename, pl_module, spread)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        stage, title, filename = TEST_REPORT
        results = _stage_results(pl_module)
        if stage in results:
            spread = _stage_spread(pl_module).get(stage)
            _report(trainer, results[stage], title, filename, pl_module, spread)


def _stage_results(pl_module: pl.LightningModule) -> Mapping[str, StageResults]:
    return getattr(pl_module, "results", None) or {}


def _stage_spread(pl_module: pl.LightningModule) -> Mapping[str, Spread]:
    return getattr(pl_module, "results_spread", None) or {}


def _report(
    trainer: pl.Trainer,
    results: StageResults,
    title: str,
    filename: str,
    pl_module: pl.LightningModule,
    spread: Spread | None = None,
) -> None:
    """Print the table and write the file of one stage, on rank zero only (no collective)."""
    if not trainer.is_global_zero:
        return
    per_task, extra = results
    extra = dict(extra)
    if spread:
        seeds = list(spread["inference_seeds"])
        title = f"{title}, mean over inference seeds {seeds}"
    table_extra = {k: v for k, v in extra.items() if isinstance(v, float)}
    dataset = pl_module.hparams.get("dataset")
    print("\n" + format_table(per_task, title, table_extra, dataset=dataset) + "\n", flush=True)
    if spread:
        std_title = f"std over inference seeds {seeds} (per task)"
        std_table = format_table(spread["std"], std_title, dataset=dataset)
        print("\n" + std_table + "\n", flush=True)
        extra.update({"std": spread["std"], "inference_seeds": seeds})
    if getattr(trainer, "fast_dev_run", False):
        return
    write_results(per_task, run_dir(trainer) / filename, extra)
