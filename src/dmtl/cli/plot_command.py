"""``dmtl plot RUN [RUN ...]``: the training curves of finished (or running) runs.

Each ``RUN`` is a run folder of the CSV logger (``runs/<name>/<version>``); its ``metrics.csv``
is drawn into ``RUN/curves.png`` (``dmtl.curves``), which ``dmtl fit`` also writes when it ends.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from dmtl.curves import write_curves

COMMAND = "plot"
HELP = "Draw the training curves of a run (loss, learning rate, validation metrics) as PNG."


def main(argv: Sequence[str]) -> None:
    """Write ``curves.png`` into each run folder given and say where.

    Raises:
        MissingDataError: a folder without ``metrics.csv``.
        DataError: a ``metrics.csv`` with nothing to draw.
    """
    parser = argparse.ArgumentParser(prog=f"dmtl {COMMAND}", description=HELP)
    parser.add_argument("runs", nargs="+", metavar="RUN", help="a run folder with metrics.csv")
    for run in parser.parse_args(list(argv)).runs:
        print(f"dmtl: training curves: {write_curves(run)}", flush=True)
