"""The ``dmtl`` command line: a LightningCLI with the data and model arguments linked."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities.exceptions import SIGTERMException

from dmtl.callbacks.fault_tolerance import FaultTolerance
from dmtl.callbacks.loss_guard import NonFiniteLossGuard
from dmtl.callbacks.panels import ValidationPanels
from dmtl.callbacks.results import ResultsReport
from dmtl.callbacks.resume import keep_run_files, newest_checkpoint
from dmtl.callbacks.wandb_run import WandbSaveConfig, check_wandb_login
from dmtl.checkpoint_compat import read_hparams
from dmtl.data.datamodule import MultiTaskDataModule
from dmtl.data.prepare import command as prepare
from dmtl.errors import DMTLError
from dmtl.module import DiffusionMTLModule
from dmtl.released import convert

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

    def _prepare_subcommand_kwargs(self, subcommand: str) -> dict[str, Any]:
        """``fit`` without ``--ckpt_path`` resumes from the run folder's newest checkpoint.

        Only with ``--fault_tolerance.auto_resume`` (on by default) and a run folder that a new
        start reuses (a fixed logger version, as the SLURM script sets); says so on one line.
        """
        kwargs = super()._prepare_subcommand_kwargs(subcommand)
        guard = self._fault_tolerance()
        if subcommand == "fit" and kwargs.get("ckpt_path") is None and guard and guard.auto_resume:
            found = newest_checkpoint(self.trainer)
            if found is not None:
                if self.trainer.is_global_zero:
                    print(f"dmtl: resuming from {found}", file=sys.stderr, flush=True)
                kwargs["ckpt_path"] = str(found)
        return kwargs

    def _run_subcommand(self, subcommand: str) -> None:
        """Run it in a run folder whose logs and config survive a restart (``keep_run_files``).

        A stop signal ends it with 128 + signal, never with Lightning's status 0.
        """
        guard = self._fault_tolerance()
        keep_run_files(self.trainer)  # before Lightning's setup opens the logger
        try:
            super()._run_subcommand(subcommand)
        except SIGTERMException as stop:
            code = stop.code or (guard.exit_code if guard else None) or 128 + 15
            raise SIGTERMException(code) from None
        finally:
            if guard is not None:
                guard.release()  # after an exception Lightning leaves its handlers installed

    def _fault_tolerance(self) -> FaultTolerance | None:
        trainer = getattr(self, "trainer", None)
        found = [cb for cb in getattr(trainer, "callbacks", []) if isinstance(cb, FaultTolerance)]
        return found[0] if found else None


def main(args: list[str] | None = None) -> DMTLCLI | None:
    """Run the CLI (``dmtl fit|validate|test|predict ...``, or ``dmtl convert-checkpoint SRC DST``).

    Bad input (unknown task, label setting, missing or mismatched files) and a run that cannot
    go on (non-finite loss) end with a one-line ``dmtl: error: ...`` message and exit status 2
    instead of a traceback; running out of GPU memory ends with a hint and exit status 3.

    Args:
        args: the argument list; ``None`` reads ``sys.argv``.
    """
    argv = sys.argv[1:] if args is None else list(args)
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
