"""Checkpoints written whole or not at all: a temporary file of the target folder, then a rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from dmtl.environment_errors import environment_cause

TEMP_PREFIX = ".dmtl-partial-"  # no "last" in it: Lightning's ``--ckpt_path last`` matches names


def file_mode() -> int:
    """The mode ``open`` gives a new file under the current umask (0644 under umask 022)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` into a temporary file of the target folder, then ``os.replace``.

    The file gets the umask's mode (``mkstemp`` alone makes it 0600, unreadable to the group).
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None
    ) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tmp", dir=target.parent)
        try:
            os.fchmod(fd, file_mode())
            with os.fdopen(fd, "wb") as handle:
                torch.save(checkpoint, handle)
                handle.flush()
                os.fsync(handle.fileno())  # the rename must not overtake the data on disk
            os.replace(tmp, target)
        except BaseException as err:
            Path(tmp).unlink(missing_ok=True)
            cause = environment_cause(err)
            if cause is not None:  # name the checkpoint, not an anonymous file handle
                raise OSError(cause.errno, cause.strerror, str(target)) from err
            raise


def remove_partial_files(folder: Path) -> list[Path]:
    """Remove the temporary files that a kill during a checkpoint write left in ``folder``.

    Only safe while no other process writes checkpoints there (the run folder's lock).
    Returns the files removed.
    """
    partial = sorted(folder.glob(f"{TEMP_PREFIX}*.tmp")) if folder.is_dir() else []
    for path in partial:
        path.unlink(missing_ok=True)
    return partial
