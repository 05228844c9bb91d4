"""The reliability battery's check: bad input ends with one line, nothing written is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmtl.cli import main

EARLIER = {  # files of an earlier run in the run folder that a failed start must leave alone
    "metrics.csv": b"epoch,step,train/loss\n0,1,0.5\n",
    "config.yaml": b"seed_everything: 0\n",
    "checkpoints/last.ckpt": b"an earlier checkpoint",
}


def write_earlier_run(run: Path) -> None:
    """Write the files of an earlier run (``EARLIER``) into the run folder ``run``."""
    for name, content in EARLIER.items():
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_bytes(content)


def fails_with_one_line(args: list[str], run: Path, capsys: pytest.CaptureFixture) -> str:
    """Run the CLI on ``args`` (whose run folder is ``run``) and return its one error line.

    Asserts exit status 2, exactly one ``dmtl: error: ...`` line, the last of stderr, no traceback,
    and that the earlier files in ``run`` are all still there, unchanged, with nothing added.
    """
    write_earlier_run(run)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("dmtl: error:")]
    assert len(lines) == 1, err
    assert err.strip().splitlines()[-1] == lines[0]
    for name, content in EARLIER.items():
        assert (run / name).read_bytes() == content, name
    written = sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file())
    assert written == sorted(EARLIER)
    return lines[0]
