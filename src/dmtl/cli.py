"""The ``dmtl`` command line: a LightningCLI with the data and model arguments linked."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from dmtl.callbacks.fault_tolerance import FaultTolerance
from dmtl.callbacks.learning_rate import LearningRateLog
from dmtl.callbacks.loss_guard import NonFiniteLossGuard
from dmtl.callbacks.panels import ValidationPanels
from dmtl.callbacks.progress import BatchProgress
from dmtl.callbacks.results import ResultsReport
from dmtl.callbacks.wandb_run import WandbSaveConfig, check_wandb_login
from dmtl.checkpoint_compat import read_hparams
from dmtl.data.datamodule import MultiTaskDataModule
from dmtl.data.prepare import command as prepare
from dmtl.errors import DMTLError
from dmtl.logs import configure_logging
from dmtl.module import DiffusionMTLModule
from dmtl.released import convert
from dmtl.run_folders import place_runs

OOM_HINT = (
    "out of GPU memory ({first_line}); lower --data.batch_size (keep the effective batch with "
    "--trainer.accumulate_grad_batches), train in mixed precision (--trainer.precision=bf16-mixed "
    "or 16-mixed), or lower --data.eval_batch_size if it happened during validation"
)

TRAINER_DEFAULTS = {
    "logger": {
        "class_path": "lightning.pytorch.loggers.CSVLogger",
        "init_args": {"save_dir": "runs", "name": "dmtl"},
    },
}


class DMTLCLI(LightningCLI):
    """LightningCLI whose model takes its dataset and task list from the data module."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.dataset", "model.dataset")
        parser.link_arguments("data.tasks", "model.tasks")
        # Always-on callbacks, configurable as --fault_tolerance.*, --loss_guard.*, ...
        parser.add_lightning_class_args(FaultTolerance, "fault_tolerance")
        parser.add_lightning_class_args(NonFiniteLossGuard, "loss_guard")
        parser.add_lightning_class_args(ValidationPanels, "panels")
        parser.add_lightning_class_args(ResultsReport, "results")
        parser.add_lightning_class_args(BatchProgress, "progress")
        parser.add_lightning_class_args(LearningRateLog, "lr_monitor")

    def _parse_ckpt_path(self) -> None:
        """The model section from ``--ckpt_path``'s hyper-parameters, of either layout of options.

        LightningCLI lets a checkpoint's hyper-parameters override the config's model section;
        a checkpoint of the earlier flat layout has them mapped onto the groups first
        (``dmtl.checkpoint_compat``), where LightningCLI's own reading would fail to parse them.
        """
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if not ckpt_path or not Path(ckpt_path).is_file():
            return
        hparams = read_hparams(ckpt_path)
        if hparams:
            self.config = self.parser.parse_object({subcommand: {"model": hparams}}, self.config)

    def instantiate_classes(self) -> None:
        super().instantiate_classes()
        check_wandb_login(self.trainer)  # before any step, not at the first log call
        place_runs(self.trainer)  # each run its own folder, before anything is written


def main(args: list[str] | None = None) -> DMTLCLI | None:
    """Run the CLI (``dmtl fit|validate|test|predict ...``, or ``dmtl convert-checkpoint SRC DST``).

    Bad input (unknown task, label setting, missing or mismatched files) and a run that cannot
    go on (non-finite loss) end with a one-line ``dmtl: error: ...`` message and exit status 2
    instead of a traceback; running out of GPU memory ends with a hint and exit status 3.

    Args:
        args: the argument list; ``None`` reads ``sys.argv``.
    """
    argv = sys.argv[1:] if args is None else list(args)
    configure_logging()  # the dmtl loggers' INFO lines on stderr
    try:
        if argv and argv[0] == convert.COMMAND:
            convert.main(argv[1:])
            return None
        if argv and argv[0] == prepare.COMMAND:  # dmtl prepare <dataset> --root DIR
            return prepare.main(argv[1:])
        return DMTLCLI(
            DiffusionMTLModule,
            MultiTaskDataModule,
            args=args,
            trainer_defaults=TRAINER_DEFAULTS,
            save_config_callback=WandbSaveConfig,
            save_config_kwargs={"overwrite": True},
        )
    except DMTLError as err:
        print(f"dmtl: error: {one_line(err)}", file=sys.stderr)
        sys.exit(2)
    except torch.OutOfMemoryError as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else "no details"
        print(f"dmtl: error: {OOM_HINT.format(first_line=first_line)}", file=sys.stderr)
        sys.exit(3)


def one_line(err: DMTLError) -> str:
    """The message of a bad-input error on one line.

    A DataLoader worker re-raises an error in the main process with the worker's traceback in the
    message; its last line holds the original message, prefixed with the error's class path.
    """
    lines = [line for line in str(err).splitlines() if line.strip()]
    if len(lines) <= 1:
        return str(err).strip()
    prefix = f"{type(err).__module__}.{type(err).__qualname__}: "
    return lines[-1].removeprefix(prefix)


def console() -> int:
    """Entry point of the ``dmtl`` console script and ``python -m dmtl``: exit status 0."""
    main()
    return 0
