"""One writer per run folder: a lock that a second start in the same folder is refused by.

``RunLock`` takes an exclusive ``flock`` on ``<run folder>/.dmtl.lock``, writes its holder (pid
and host) into the file and removes it when it ends. The kernel drops the lock when its holder's
process ends in any way, SIGKILL and a crash included, so a lock left by a dead run is taken over
by the next start without asking (the file stays behind, with the dead holder's name); a start
while the holder lives ends with one line naming it. Only rank 0 of a distributed run takes the
lock: the other ranks write into rank 0's folder by design.

``flock`` locks are reliable on local file systems and on NFS v4 and Lustre (where they are
mapped to the server's locks); a file system that does not support them makes the start fail
with one line rather than run without a lock.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path

from dmtl.errors import ConfigError

LOCK_NAME = ".dmtl.lock"


class RunLock:
    """The exclusive lock of one run folder, held from ``acquire`` to ``release``.

    Args:
        folder: the run folder (created when missing).
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None
        self._created: list[Path] = []  # folders this lock made, deepest first

    def acquire(self) -> None:
        """Take the lock and record this process as its holder.

        Raises:
            ConfigError: a live process holds it (the message names its pid and host), or the
                folder cannot hold a lock file.
        """
        while True:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
                os.close(fd)
                if err.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                    raise ConfigError(f"cannot lock {self.path}: {err.strerror}") from err
                raise ConfigError(
                    f"run folder {self.folder} is in use by {holder or 'another process'} (it "
                    f"holds {self.path}); wait for that run to end or stop it, or start this one "
                    "with another --trainer.logger.init_args.version"
                ) from None
            if self._is_current(fd):
                break
            os.close(fd)  # the holder removed the file as this start opened it: take the new one
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self._fd = fd

    def _open(self) -> int:
        missing = [p for p in (self.folder, *self.folder.parents) if not p.exists()]
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._created = self._created or missing
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise ConfigError(f"cannot create the lock file {self.path}: {err.strerror}") from err

    def _is_current(self, fd: int) -> bool:
        """Whether ``fd`` is the file at ``self.path`` still (not one that its holder removed)."""
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def release(self) -> None:
        """Remove the lock file, then drop the lock (idempotent).

        The folders that ``acquire`` created are removed too when the run left them empty (a
        start that failed before writing anything leaves no folder behind).
        """
        if self._fd is not None:
            self.path.unlink(missing_ok=True)  # a start waiting on this file sees it replaced
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        for folder in self._created:
            try:
                folder.rmdir()
            except OSError:  # not empty: the run wrote into it
                break
        self._created = []
