"""The ``dmtl`` command line: a LightningCLI with the data and model arguments linked."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities.exceptions import SIGTERMException

import dmtl.cli.plot_command as plot_command
from dmtl import __version__, environment_errors, resume_check
from dmtl.bench import command as bench
from dmtl.callbacks.fault_tolerance import FaultTolerance
from dmtl.callbacks.learning_rate import LearningRateLog
from dmtl.callbacks.loss_guard import NonFiniteLossGuard
from dmtl.callbacks.panels import ValidationPanels
from dmtl.callbacks.prediction_writer import PredictionWriter
from dmtl.callbacks.progress import BatchProgress
from dmtl.callbacks.results import ResultsReport
from dmtl.callbacks.resume import keep_run_files, remove_files_of_a_failed_start
from dmtl.callbacks.wandb_run import WandbSaveConfig, check_wandb_login, wandb_loggers
from dmtl.callbacks.worker_signals import shutdown_workers
from dmtl.checkpoint_check import checkpoint_file, read_checked
from dmtl.checkpoint_overrides import command_line_keys, keep_command_line
from dmtl.cli.checkpoint_data import take_data_from_checkpoint
from dmtl.cli.checkpoint_run import log_into_checkpoint_run
from dmtl.cli.packaged_configs import resolve_config_args
from dmtl.cli.parse_errors import OneLineParser
from dmtl.cli.preflight import check_accelerator, check_jacobian_descent, check_logger_extras
from dmtl.cli.quiet import quiet_third_party, quiet_wandb_init
from dmtl.cli.wandb_names import check_wandb_names
from dmtl.data.datamodule import MultiTaskDataModule
from dmtl.data.prepare import command as prepare
from dmtl.errors import ConfigError, DMTLError, one_line
from dmtl.logs import configure_logging
from dmtl.module import DiffusionMTLModule
from dmtl.released import convert
from dmtl.report import run_dir
from dmtl.run_folders import discard_unused, place_runs, rank_zero
from dmtl.run_lock import RunLock
from dmtl.run_summary import draw_training_curves, print_summary

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
PARSER_KWARGS = {
    "prog": "dmtl",
    "description": "DiffusionMTL: multi-task dense prediction from partially annotated data.",
}
# The commands dmtl runs itself, before LightningCLI, listed with its subcommands in --help.
OWN_COMMANDS = {
    convert.COMMAND: "Convert a released DiffusionMTL checkpoint into a dmtl checkpoint.",
    prepare.COMMAND: "Download, verify, extract and check a real dataset.",
    bench.COMMAND: "Run and report a grid of methods x label settings x seeds (docs/bench.md).",
    plot_command.COMMAND: plot_command.HELP,
}
LIGHTNING_OPTIMISER_KEYS = ("optimizer", "lr_scheduler")
# what ``check_jacobian_descent`` reads, in the order of its arguments
JACOBIAN_DESCENT_KEYS = (
    "model.loss.weighting",
    "trainer.precision",
    "trainer.gradient_clip_val",
    "trainer.accumulate_grad_batches",
    "model.speed.compile",
)


class DMTLCLI(LightningCLI):
    """LightningCLI whose model takes its dataset and task list from the data module.

    Its parsers print a parse error as one line (``dmtl.cli.parse_errors.OneLineParser``).
    """

    def __init__(self, *args: Any, parser_class: type = OneLineParser, **kwargs: Any) -> None:
        super().__init__(*args, parser_class=parser_class, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.dataset", "model.dataset")
        parser.link_arguments("data.tasks", "model.tasks")
        parser.link_arguments("data.num_classes", "model.network.num_classes")
        # Always-on callbacks, configurable as --fault_tolerance.*, --loss_guard.*, ...
        parser.add_lightning_class_args(FaultTolerance, "fault_tolerance")
        parser.add_lightning_class_args(NonFiniteLossGuard, "loss_guard")
        parser.add_lightning_class_args(ValidationPanels, "panels")
        parser.add_lightning_class_args(ResultsReport, "results")
        parser.add_lightning_class_args(PredictionWriter, "predictions")  # acts in predict only
        parser.add_lightning_class_args(BatchProgress, "progress")
        parser.add_lightning_class_args(LearningRateLog, "lr_monitor")

    def setup_parser(
        self, add_subcommands: bool, main_kwargs: dict, subparser_kwargs: dict
    ) -> None:
        super().setup_parser(add_subcommands, main_kwargs, subparser_kwargs)
        self.parser.add_argument("--version", action="version", version=f"dmtl {__version__}")

    def _add_subcommands(self, parser: LightningArgumentParser, **kwargs) -> None:
        """LightningCLI's subcommands, then dmtl's own (run by ``main``), in ``dmtl --help``."""
        super()._add_subcommands(parser, **kwargs)
        for name, help_text in OWN_COMMANDS.items():
            own = OneLineParser(prog=f"dmtl {name}", description=help_text)
            parser._subcommands_action.add_subcommand(name, own, help=help_text)

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs):
        """``test`` and ``validate`` print dmtl's table of metrics (``--results``) only, not
        Lightning's too."""
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        if subcommand in ("test", "validate"):
            parser.set_defaults(verbose=False)
        return parser

    def before_instantiate_classes(self) -> None:
        """Refuse LightningCLI's ``--optimizer``/``--lr_scheduler``: they would replace the module's
        optimiser and drop its poly schedule.

        ``validate``, ``test`` and ``predict`` of a run's checkpoint log into that run's folder
        (``dmtl.cli.checkpoint_run``). Then the machine is checked against the options
        (``dmtl.cli.preflight``): a GPU accelerator without a visible GPU, a logger whose package is
        not installed, trainer options a Jacobian aggregator cannot honour.

        Raises:
            ConfigError: either is set (on the command line or in a config file), or a check
                of ``dmtl.cli.preflight`` fails.
        """
        for key in LIGHTNING_OPTIMISER_KEYS:
            if self._get(self.config, key) is not None:
                raise ConfigError(
                    f"--{key} (`{key}:` in a config) is not a dmtl option: it would replace "
                    "the module's optimiser and its poly schedule; set --model.optim.name, "
                    "--model.optim.lr, --model.optim.weight_decay, --model.optim.poly_power "
                    "(docs/options.md)"
                )
        if self.subcommand in ("validate", "test", "predict"):
            log_into_checkpoint_run(
                self._get(self.config, "trainer"), self._get(self.config, "ckpt_path")
            )
        check_accelerator(self._get(self.config, "trainer.accelerator"))
        check_logger_extras(self._get(self.config, "trainer.logger"))
        if self.subcommand == "fit":
            check_jacobian_descent(*(self._get(self.config, k) for k in JACOBIAN_DESCENT_KEYS))

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """LightningCLI's parsing; the argument list is kept for ``_parse_ckpt_path``."""
        given = sys.argv[1:] if args is None else args
        self.command_line = list(given) if isinstance(given, (list, tuple)) else []
        super().parse_arguments(parser, args)

    def _parse_ckpt_path(self) -> None:
        """The model section from ``--ckpt_path``'s hyper-parameters, of either layout of options.

        LightningCLI lets a checkpoint's hyper-parameters override the config's model section;
        a checkpoint of the earlier flat layout has them mapped onto the groups first
        (``dmtl.checkpoint_compat``), where LightningCLI's own reading would fail to parse them.
        ``predict`` takes the data options the checkpoint saved (``dmtl.cli.checkpoint_data``).
        The command line's evaluation, loss, optimiser, speed and noise options then win over the
        saved ones, and any other option that differs from the checkpoint's is refused
        (``dmtl.checkpoint_overrides``).
        """
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        path = checkpoint_file(ckpt_path)  # a missing file or a folder: one line, not a traceback
        if path is None:
            return
        data = self.config[subcommand]["data"]
        if subcommand == "predict":  # the checkpoint's dataset, tasks and classes, unless given
            take_data_from_checkpoint(data, path, getattr(self, "command_line", []))
        hparams = read_checked(path, data["dataset"], data["tasks"], data.get("num_classes"))
        if hparams:
            keys = command_line_keys(getattr(self, "command_line", []))
            hparams = keep_command_line(hparams, keys, self.config[subcommand]["model"], path)
            self.config = self.parser.parse_object({subcommand: {"model": hparams}}, self.config)

    def instantiate_classes(self) -> None:
        super().instantiate_classes()
        check_wandb_login(self.trainer)  # before any step, not at the first log call
        for logger in wandb_loggers(self.trainer):
            quiet_wandb_init(logger._wandb_init)  # before W&B starts: no warnings of its own
        # before place_runs makes folders of the project name
        check_wandb_names((self._get(self.config, "trainer") or {}).get("logger"))
        # A writer given with --trainer.callbacks replaces the always-on one.
        own = self._get(self.config_init, "predictions")
        writers = [c for c in self.trainer.callbacks if isinstance(c, BasePredictionWriter)]
        if len(writers) > 1 and own in writers:
            self.trainer.callbacks.remove(own)
        place_runs(self.trainer)  # each run its own folder, before anything is written

    def _prepare_subcommand_kwargs(self, subcommand: str) -> dict[str, Any]:
        """``fit`` resumes from a checkpoint checked to load (``dmtl.resume_check.resume_from``):
        without ``--ckpt_path`` (``--fault_tolerance.auto_resume``, in a fixed run folder) and with
        ``--ckpt_path last`` alike, the newest one of the run folder that loads."""
        kwargs = super()._prepare_subcommand_kwargs(subcommand)
        if subcommand == "fit":
            guard = self._fault_tolerance()
            auto = guard is not None and guard.auto_resume
            try:
                kwargs["ckpt_path"] = resume_check.resume_from(
                    self.trainer, self.model, self.datamodule, kwargs.get("ckpt_path"), auto
                )
            except DMTLError as refused:
                if guard is None:
                    raise
                guard.deferred_error = refused  # raised at setup: bad data is named first
                kwargs["ckpt_path"] = None
        return kwargs

    def _run_subcommand(self, subcommand: str) -> None:
        """Run it in a run folder of its own (``RunLock``) whose logs and config survive a restart
        (``keep_run_files``).

        A stop signal ends it with 128 + signal, never with Lightning's status 0. A command that
        ends prints where its results are (``dmtl.run_summary``).
        """
        guard = self._fault_tolerance()
        lock = None
        if not self.trainer.fast_dev_run and rank_zero():  # a smoke test writes no folder
            lock = RunLock(run_dir(self.trainer))
            lock.acquire()  # before anything in the folder is read or written
        added: list[Path] = []
        try:
            added = keep_run_files(self.trainer)  # before Lightning's setup opens the logger
            super()._run_subcommand(subcommand)
            if subcommand == "fit":
                draw_training_curves(self.trainer)
            print_summary(self.trainer, subcommand)
        except SIGTERMException as stop:
            code = stop.code or (guard.exit_code if guard else None) or 128 + 15
            raise SIGTERMException(code) from None
        except BaseException:
            if subcommand == "fit" and guard is not None and not guard.trained and lock:
                remove_files_of_a_failed_start(added)  # the config of a run that never ran
            raise
        finally:
            if guard is not None:
                guard.release()  # after an exception Lightning leaves its handlers installed
            shutdown_workers()  # left by an exception, they would hold the exit up for ever
            if lock is not None:
                lock.release()

    def _fault_tolerance(self) -> FaultTolerance | None:
        trainer = getattr(self, "trainer", None)
        found = [cb for cb in getattr(trainer, "callbacks", []) if isinstance(cb, FaultTolerance)]
        return found[0] if found else None


def main(args: list[str] | None = None) -> DMTLCLI | None:
    """Run the CLI: ``dmtl fit|validate|test|predict ...``, ``dmtl convert-checkpoint SRC DST``,
    ``dmtl prepare DATASET --root DIR``, ``dmtl plot RUN``; ``dmtl --help`` lists them,
    ``dmtl --version``.

    Bad input (unknown task, label setting, missing or mismatched files) and a run that cannot
    go on (non-finite loss) end with a one-line ``dmtl: error: ...`` message and exit status 2
    instead of a traceback; running out of GPU memory ends with a hint and exit status 3.

    Args:
        args: the argument list; ``None`` reads ``sys.argv``.
    """
    argv = sys.argv[1:] if args is None else list(args)
    configure_logging()  # the dmtl loggers' INFO lines on stderr
    quiet_third_party()  # tips and warnings a user cannot act on
    try:
        if argv and argv[0] == convert.COMMAND:
            convert.main(argv[1:])
            return None
        if argv and argv[0] == prepare.COMMAND:  # dmtl prepare <dataset> --root DIR
            return prepare.main(argv[1:])
        if argv and argv[0] == bench.COMMAND:  # dmtl bench run|slurm|report ...
            return bench.main(argv[1:])
        if argv and argv[0] == plot_command.COMMAND:  # dmtl plot RUN
            plot_command.main(argv[1:])
            return None
        resolved = resolve_config_args(argv)
        if resolved != argv and args is None:
            sys.argv[1:] = resolved  # LightningCLI reads sys.argv; args would make it warn
        elif resolved != argv:
            args = resolved
        return DMTLCLI(
            DiffusionMTLModule,
            MultiTaskDataModule,
            args=args,
            trainer_defaults=TRAINER_DEFAULTS,
            parser_kwargs=PARSER_KWARGS,
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
    except (OSError, RuntimeError) as err:
        line = environment_errors.describe(err)
        if line is None:
            raise
        print(f"dmtl: error: {line}", file=sys.stderr)
        sys.exit(2)
    finally:
        discard_unused()  # the empty version_N/ of a start that failed


def console() -> int:
    """Entry point of the ``dmtl`` console script and ``python -m dmtl``: exit status 0."""
    main()
    return 0
