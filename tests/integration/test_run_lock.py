"""One writer per run folder: a start in a folder that a live run holds is refused with one line
naming the holder and writes nothing there; the lock of a run killed with SIGKILL is taken over."""

import signal

import pytest

from dmtl.cli import main
from dmtl.run_lock import LOCK_NAME
from support import stops
from support.cli import _args

SLOW = ["--trainer.max_epochs=1", "--trainer.callbacks+=support.stops.SlowSteps"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("run-lock-cache")


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_a_second_start_in_a_held_folder_is_refused_and_a_killed_holder_is_taken_over(
    cache, tmp_path, capsys
):
    run = tmp_path / "run" / "fit"
    first = stops.start(_args("fit", cache, tmp_path, *SLOW), tmp_path / "marks")
    try:
        stops.wait_for(first, tmp_path / "marks" / "step1")
        before = _files(run)
        assert LOCK_NAME in before
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main(_args("fit", cache, tmp_path, "--trainer.max_epochs=1"))
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        line = err.strip().splitlines()[-1]
        assert line.startswith(f"dmtl: error: run folder {run} is in use by pid {first.pid} on ")
        assert "Traceback" not in err and "resuming" not in err
        assert _files(run) == before  # nothing written, no config.1.yaml
    finally:
        stops.kill(first, signal.SIGKILL, group=True)
        first.wait(timeout=stops.STOP_S)
    assert (run / LOCK_NAME).exists()  # left by the killed holder, its lock gone with it
    main(_args("fit", cache, tmp_path, "--trainer.max_epochs=1"))
    assert "in use" not in capsys.readouterr().err
    assert not (run / LOCK_NAME).exists() and (run / "checkpoints").is_dir()
