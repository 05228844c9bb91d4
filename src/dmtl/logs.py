"""Python logging of the ``dmtl`` loggers on the command line: INFO lines on stderr."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

FORMAT = "dmtl: %(message)s"


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (a redirected or captured one)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        del value  # ignored: the stream is always the current sys.stderr


def configure_logging(level: int = logging.INFO) -> None:
    """Show the ``dmtl`` loggers' messages (the renderer's ``rendered ...``, the label masks).

    Once per process: one handler on the ``dmtl`` logger, set to ``level`` unless it has a level
    already; records still reach the root logger's handlers.
    """
    logger = logging.getLogger("dmtl")
    if not any(isinstance(h, StderrHandler) for h in logger.handlers):
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(level)
