"""A stop signal during validation or test ends the run with 128 + signal and a message, never 0;
during ``fit`` it also writes the resumable checkpoint."""

import os
import signal

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from dmtl.cli import main
from support.cli import _args


class SignalInEvaluation(Callback):
    """Sends ``signum`` to this process at the first evaluation batch after the sanity check."""

    def __init__(self, signum: int) -> None:
        self.signum, self.sent = signum, False

    def _send(self, trainer) -> None:
        if not trainer.sanity_checking and not self.sent:
            self.sent = True
            os.kill(os.getpid(), self.signum)

    def on_validation_batch_start(self, trainer, *args, **kwargs) -> None:
        self._send(trainer)

    def on_test_batch_start(self, trainer, *args, **kwargs) -> None:
        self._send(trainer)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("kill-eval-cache")


def _sender(signum):
    return [
        "--trainer.callbacks+=test_kill_eval.SignalInEvaluation",
        f"--trainer.callbacks.signum={int(signum)}",
    ]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1])
def test_signal_during_validation_in_fit_checkpoints_and_exits_non_zero(
    cache, tmp_path, capsys, signum
):
    with pytest.raises(SystemExit) as exit_info:
        main(_args("fit", cache, tmp_path, "--trainer.max_epochs=2", *_sender(signum)))
    assert exit_info.value.code == 128 + signum
    ckpt = tmp_path / "run" / "fit" / "checkpoints" / "last.ckpt"
    err = capsys.readouterr().err
    assert f"dmtl: stopped by {signum.name} at epoch 0, step 4; resumable checkpoint {ckpt}" in err
    assert torch.load(ckpt, weights_only=False)["global_step"] == 4


def test_sigterm_during_test_exits_non_zero_with_a_message(cache, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(_args("test", cache, tmp_path, *_sender(signal.SIGTERM)))
    assert exit_info.value.code == 128 + signal.SIGTERM
    assert "dmtl: stopped by SIGTERM" in capsys.readouterr().err
    assert not (tmp_path / "run" / "test" / "checkpoints").exists()
