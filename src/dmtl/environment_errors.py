"""Failures of the machine rather than of the input: a full disk, a read-only or forbidden folder.

``describe`` finds such an ``OSError`` in an exception or its chain (``torch.save`` wraps a full
disk's error into a ``RuntimeError`` of its zip writer) and says it on one line that names the
path, for the command line to print instead of a traceback. Files already written are kept:
checkpoints are renamed into place only when whole (``AtomicCheckpointIO``).
"""

from __future__ import annotations

import errno

ADVICE = {
    errno.ENOSPC: "free space there, or write the run elsewhere (another save_dir)",
    errno.EDQUOT: "the disk quota is used up; free space or write the run elsewhere",
    errno.EROFS: "the file system is read-only; write the run elsewhere",
    errno.EACCES: "no permission to write there; write the run elsewhere",
    errno.EPERM: "no permission to write there; write the run elsewhere",
}


def environment_cause(err: BaseException) -> OSError | None:
    """The ``OSError`` of ``ADVICE``'s kinds that ``err`` is or that caused it, else ``None``."""
    seen: set[int] = set()
    node: BaseException | None = err
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if isinstance(node, OSError) and node.errno in ADVICE:
            return node
        node = node.__cause__ or node.__context__
    return None


def describe(err: BaseException) -> str | None:
    """One line for a full disk or an unwritable folder behind ``err``, else ``None``."""
    cause = environment_cause(err)
    if cause is None:
        return None
    where = f" writing {cause.filename}" if cause.filename else ""
    return f"{cause.strerror or errno.errorcode[cause.errno]}{where}; {ADVICE[cause.errno]}"
