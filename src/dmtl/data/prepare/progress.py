"""Download progress as plain lines on stderr: readable in a terminal and in a batch job's log."""

from __future__ import annotations

import sys
from typing import TextIO

STEP_BYTES = 64 * 2**20  # one line every 64 MiB
PREFIX = "dmtl prepare:"


def human_size(num: int) -> str:
    """``num`` bytes as ``812 B``, ``3.4 MiB``, ``1.20 GiB``."""
    if num < 1024:
        return f"{num} B"
    if num < 2**30:
        unit, scale = ("KiB", 2**10) if num < 2**20 else ("MiB", 2**20)
        return f"{num / scale:.1f} {unit}"
    return f"{num / 2**30:.2f} GiB"


class Progress:
    """Prints a line each time another ``step`` bytes of a download have arrived.

    No carriage returns or cursor moves: a log file gets whole lines, one every ``step`` bytes.

    Args:
        name: what is downloaded (printed on every line).
        total: its size in bytes, if known (then the lines give a percentage).
        stream: where the lines go (default stderr).
        step: bytes between two lines (default ``STEP_BYTES``).
    """

    def __init__(
        self,
        name: str,
        total: int | None,
        stream: TextIO | None = None,
        step: int | None = None,
    ) -> None:
        self.name = name
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.step = step or STEP_BYTES
        self.next_line = self.step

    def line(self, text: str) -> None:
        """Print one line about this download."""
        print(f"{PREFIX} {text}", file=self.stream, flush=True)

    def start(self, url: str, have: int) -> None:
        """Say where the download comes from and, when resuming, from which byte on."""
        size = f" ({human_size(self.total)})" if self.total else ""
        resume = f", resuming after {human_size(have)}" if have else ""
        self.line(f"downloading {self.name}{size} from {url}{resume}")
        self.next_line = (have // self.step + 1) * self.step

    def update(self, done: int) -> None:
        """Record that ``done`` bytes are on disk; print a line per ``step`` bytes crossed."""
        if done >= self.next_line:
            self.line(f"{self.name}: {self._amount(done)}")
            self.next_line = (done // self.step + 1) * self.step

    def finish(self, done: int) -> None:
        """Print the final line of a complete download."""
        self.line(f"{self.name}: {self._amount(done)}, complete")

    def _amount(self, done: int) -> str:
        if not self.total:
            return human_size(done)
        percent = 100.0 * done / self.total
        return f"{human_size(done)} of {human_size(self.total)} ({percent:.1f}%)"
