"""State that a training step changes besides the weights (an EMA teacher, FAMO's task logits)
resumes exactly from a stop signal in the middle of an epoch: the stop checkpoint is written
after the step's optimiser step and everything that follows it, so the resumed run ends with the
checkpoint of an uninterrupted one."""

import signal

import pytest
import torch
from test_resume import RESUMABLE, SIGNAL_AT_STEP

from dmtl.cli import main
from support.cli import _args

pytestmark = pytest.mark.slow

METHODS = {
    "mean_teacher": ["--model.diffusion.space=none", "--model.mean_teacher.enabled=true"],
    "famo": ["--model.diffusion.space=none", "--model.loss.weighting=famo"],
    "famo_previous_batch": [
        "--model.loss.weighting=famo",
        "--model.loss.weighting_options.famo_update=previous_batch",
    ],  # on feature diffusion: the chain's noise
}
STATE = {
    "mean_teacher": "terms.mean_teacher.",
    "famo": "weighting.",
    "famo_previous_batch": "weighting.",
}


def _final(out):
    path = out / "run" / "fit" / "checkpoints" / "last.ckpt"
    return torch.load(path, weights_only=False)["state_dict"]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_run_stopped_mid_epoch_resumes_its_step_state_exactly(tmp_path, method):
    cache, extra = tmp_path / "cache", [*RESUMABLE, *METHODS[method]]
    main(_args("fit", cache, tmp_path / "whole", *extra))
    sender = [
        "--trainer.callbacks+=test_resume.SendSignal",
        f"--trainer.callbacks.signum={int(signal.SIGTERM)}",
        f"--trainer.callbacks.step={SIGNAL_AT_STEP}",
    ]
    with pytest.raises(SystemExit):
        main(_args("fit", cache, tmp_path / "stopped", *extra, *sender))
    main(_args("fit", cache, tmp_path / "stopped", *extra, "--ckpt_path=last"))
    whole, resumed = _final(tmp_path / "whole"), _final(tmp_path / "stopped")
    state = [key for key in whole if key.startswith(STATE[method])]
    assert state and whole.keys() == resumed.keys()
    for key in whole:
        torch.testing.assert_close(resumed[key], whole[key], rtol=1e-6, atol=1e-6, msg=key)
