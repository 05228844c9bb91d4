"""Fault tolerance: atomic checkpoints, a checkpoint on a stop signal, exact resumption.

``FaultTolerance`` is always on in the ``dmtl`` command line (options ``--fault_tolerance.*``):

* every checkpoint (``ModelCheckpoint``'s and SLURM's ``hpc_ckpt_*`` included) is written to a
  temporary file in the same folder, given the mode the umask allows (not ``mkstemp``'s 0600) and
  renamed over the old one (``os.replace``), so a kill while writing leaves the previous
  checkpoint intact, never a truncated one; the temporary file of such a kill is removed when
  ``fit`` starts again in the run folder;
* on SIGUSR1, SIGTERM or SIGINT (Ctrl-C; pressed twice it interrupts at once) the run finishes
  the current step; in ``fit`` (training or validation) it writes ``<checkpoint dir>/last.ckpt``;
  in every stage it flushes the loggers (``metrics.csv``), prints one line, shuts the DataLoader
  workers down and exits with status 128 + signal number, never 0. DataLoader workers ignore
  these signals (a signal to the whole process group, as SLURM, ``timeout`` and a terminal's
  Ctrl-C send, reaches them too). Under SLURM with auto-requeue the requeue signal (SIGUSR1)
  also requeues the job (``scontrol requeue``);
* ``fit`` started again in the same run folder continues from its newest checkpoint by itself
  (``auto_resume``; the command line finds it and keeps ``metrics.csv`` and ``config.yaml``,
  ``dmtl.callbacks.resume``);
* the RNG states (torch, CUDA, NumPy, Python) of rank 0 go into every checkpoint and are restored
  when training resumes, so random draws after the resume (noise, dropout) match those of an
  uninterrupted run.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import lightning.pytorch as pl
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.plugins.environments import SLURMEnvironment
from lightning.pytorch.utilities.exceptions import SIGTERMException

from dmtl.callbacks.atomic_io import AtomicCheckpointIO, remove_partial_files
from dmtl.callbacks.resume import adopt_last_checkpoint
from dmtl.callbacks.rng_states import collect_rng_states, restore_rng_states
from dmtl.callbacks.slurm_requeue import requeue_slurm_job
from dmtl.callbacks.worker_signals import guard_datamodule, shutdown_workers
from dmtl.data.sampling import ResumableLoader
from dmtl.errors import ConfigError
from dmtl.report import run_dir

RNG_KEY = "dmtl_rng_states"
LOADER_KEY = "dmtl_train_loader"
LAST_NAME = ModelCheckpoint.CHECKPOINT_NAME_LAST + ModelCheckpoint.FILE_EXTENSION
DEFAULT_SIGNALS = ("SIGUSR1", "SIGTERM", "SIGINT")


class FaultTolerance(Callback):
    """Atomic checkpoints, a resumable checkpoint on a stop signal, RNG states in checkpoints.

    Args:
        signals: signal names that stop the run (``fit`` with a checkpoint); by default
            ``SIGUSR1``, ``SIGTERM`` and ``SIGINT``.
        atomic: write checkpoints through ``AtomicCheckpointIO``.
        rng_states: save the RNG states into checkpoints and restore them on resume.
        auto_resume: ``fit`` without ``--ckpt_path`` in a run folder that has checkpoints
            continues from the newest one (``dmtl.callbacks.resume.resume_candidates``).
    """

    def __init__(
        self,
        signals: list[str] | None = None,
        atomic: bool = True,
        rng_states: bool = True,
        auto_resume: bool = True,
    ) -> None:
        names = list(DEFAULT_SIGNALS) if signals is None else list(signals)
        unknown = [n for n in names if not isinstance(getattr(signal, n, None), signal.Signals)]
        if unknown:
            raise ConfigError(f"fault_tolerance.signals: unknown signal names {unknown}")
        self.signals = [signal.Signals[n] for n in names]
        self.atomic = atomic
        self.rng_states = rng_states
        self.auto_resume = auto_resume
        self.exit_code: int | None = None  # 128 + signal once the run was stopped by one
        self.trained = False  # whether training started (a failed start before it wrote nothing)
        self.deferred_error: Exception | None = None  # a refused resume, raised at setup
        self._received: signal.Signals | None = None
        self._previous: dict[signal.Signals, Any] = {}
        self._pending_rng: dict[str, Any] | None = None
        self._pending_loader: dict[str, int] | None = None

    # ------------------------------------------------------------------ setup
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.deferred_error is not None:  # after the data module's setup and its checks
            error, self.deferred_error = self.deferred_error, None
            raise error
        # Only the stock writer is swapped: a user's own CheckpointIO plugin stays in charge.
        if self.atomic and type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        if stage == "fit" and trainer.is_global_zero:
            # left by a kill during a write; the run lock makes this run the folder's one writer
            remove_partial_files(self._checkpoint_dir(trainer))
        if trainer.datamodule is not None:
            guard_datamodule(trainer.datamodule, self._stop_signals(trainer))
        self._install(trainer)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.release()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.trained = True
        if self._pending_rng is not None:
            # Applied here, after the sanity check and before the first batch is drawn, where
            # the uninterrupted run stood when it saved them.
            restore_rng_states(self._pending_rng)
            self._pending_rng = None
        self._resume_loader(trainer)
        adopt_last_checkpoint(trainer)

    # ----------------------------------------------------------- the stop signal
    def _stop_signals(self, trainer: pl.Trainer) -> list[signal.Signals]:
        env = self._slurm(trainer)
        extra = [signal.Signals(env.requeue_signal)] if env is not None else []
        return list(dict.fromkeys([*self.signals, *extra]))

    @staticmethod
    def _slurm(trainer: pl.Trainer) -> SLURMEnvironment | None:
        env = trainer._accelerator_connector.cluster_environment
        ok = isinstance(env, SLURMEnvironment) and env.auto_requeue and env.requeue_signal
        return env if ok else None

    def _install(self, trainer: pl.Trainer) -> None:
        if threading.current_thread() is not threading.main_thread() or self._previous:
            return  # Python accepts signal handlers only in the main thread
        self._received = None
        # Installed before Lightning's: it then leaves the requeue signal to this handler (a
        # checkpoint between two steps, not in the middle of one) and chains its SIGTERM notifier.
        for signum in self._stop_signals(trainer):
            self._previous[signum] = signal.getsignal(signum)
            signal.signal(signum, self._handle)

    def release(self) -> None:
        """Give the stop signals their earlier handlers back (idempotent; ``teardown`` calls it).

        After an exception Lightning restores the handlers it found (these), so call it again.
        """
        self._uninstall()

    def _uninstall(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # Only note it: the checkpoint is written between two steps, where the state is whole.
        received = signal.Signals(signum)
        previous = self._previous.get(received)
        if previous is signal.default_int_handler:
            # Ctrl-C: the first press stops like SIGTERM; a second one interrupts at once.
            if received == self._received:
                previous(signum, frame)
            self._received = received
            return
        self._received = received
        if callable(previous):
            previous(signum, frame)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
        batch_idx: int,
    ) -> None:  # fmt: skip
        self._maybe_stop(trainer)

    def on_validation_batch_end(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        self._maybe_stop(trainer)

    def on_test_batch_end(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        self._maybe_stop(trainer)

    def on_predict_batch_end(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        self._maybe_stop(trainer)

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        # Lightning's loops stop on SIGTERM with a code-less SystemExit (status 0) where this
        # callback's batch hooks did not run first (e.g. at an epoch's end): stop properly here.
        if isinstance(exception, SIGTERMException) and not exception.code and not self.exit_code:
            self._stop(trainer, self._received or signal.SIGTERM)

    def _maybe_stop(self, trainer: pl.Trainer) -> None:
        stop = self._received is not None
        if trainer.world_size > 1:  # every rank must take part in the checkpoint and stop
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop:
            signum = self._received or signal.SIGTERM
            self._stop(trainer, signum)
            shutdown_workers()  # they ignore the stop signals: the exit would wait on them
            raise SIGTERMException(self.exit_code)

    def _stop(self, trainer: pl.Trainer, signum: signal.Signals) -> None:
        """Write the stop checkpoint (``fit`` only), requeue under SLURM, say so on one line."""
        self.exit_code = 128 + int(signum)
        what = "the run (no checkpoint outside fit)"
        if trainer.state.fn == "fit" and not trainer.sanity_checking:
            path = self._checkpoint_dir(trainer) / LAST_NAME
            callback = trainer.checkpoint_callback
            if isinstance(callback, ModelCheckpoint):
                # this file is the callback's last one: a resumed run replaces it (no last-v1)
                callback.last_model_path = str(path)
            trainer.save_checkpoint(path)
            what = (
                f"resumable checkpoint {path} (`dmtl fit` again with the same run folder resumes)"
            )
        for logger in trainer.loggers:  # the rows since the last flush (every 100 steps)
            logger.save()
        env = self._slurm(trainer)
        requeued = ""
        if env is not None and signum == env.requeue_signal and trainer.is_global_zero:
            requeued = "; " + requeue_slurm_job()
        if trainer.is_global_zero:
            print(
                f"dmtl: stopped by {signum.name} at epoch {trainer.current_epoch}, step "
                f"{trainer.global_step}; {what}{requeued}",
                file=sys.stderr,
                flush=True,
            )

    @staticmethod
    def _checkpoint_dir(trainer: pl.Trainer) -> Path:
        callback = trainer.checkpoint_callback
        if isinstance(callback, ModelCheckpoint) and callback.dirpath is not None:
            return Path(callback.dirpath)
        # ``run_dir``, not ``trainer.log_dir``: the latter broadcasts from rank 0, and this runs
        # on rank 0 alone, so a collective here would hang a DDP run at its start.
        return run_dir(trainer) / "checkpoints"

    # ------------------------------------------------ RNG and data loader states
    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if self.rng_states:
            checkpoint[RNG_KEY] = collect_rng_states()
        loader = trainer.train_dataloader if trainer.training else None
        if isinstance(loader, ResumableLoader):
            checkpoint[LOADER_KEY] = loader.state_dict()

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if self.rng_states and RNG_KEY in checkpoint:
            self._pending_rng = checkpoint[RNG_KEY]
        self._pending_loader = checkpoint.get(LOADER_KEY)

    def _resume_loader(self, trainer: pl.Trainer) -> None:
        """Continue a mid-epoch checkpoint's epoch at its next batch.

        Lightning restores a loader's state only when the loader is set up after the checkpoint
        is loaded, but ``configure_optimizers`` sets it up earlier (to count the steps of the
        learning-rate schedule), so the state is applied here, before the first batch is drawn.
        """
        state, self._pending_loader = self._pending_loader, None
        loader = trainer.train_dataloader
        if state is None or not isinstance(loader, ResumableLoader):
            return
        if 0 < state["batches"] < len(loader):  # a finished epoch resumes with the next one
            loader.load_state_dict(state)
