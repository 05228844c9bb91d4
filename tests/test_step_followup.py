"""dmtl.step_followup: the re-evaluated batch that FAMO's reference update needs is the training
step's own loss when the network has not moved (the same chain noise, the batch's normalisation
statistics), and it leaves no trace: running statistics and the global random stream unchanged."""

from contextlib import contextmanager
from types import SimpleNamespace

import torch

from dmtl.config import LossConfig, NetworkConfig, WeightingOptions
from dmtl.module import DiffusionMTLModule
from test_module import _batch

TINY = NetworkConfig(embed_dim=16)


def _module(**loss):
    torch.manual_seed(0)
    module = DiffusionMTLModule(network=TINY, loss=LossConfig(**loss))
    module.log = lambda *a, **k: None  # no trainer attached
    return module.train()


def _running_stats(module):
    return {k: v.clone() for k, v in module.net.state_dict().items() if "running" in k}


def test_the_reevaluated_loss_of_an_unmoved_network_is_the_steps_own_loss():
    module = _module(weighting="famo")  # feature diffusion: the chain draws noise
    batch = _batch()
    step = module.training_objectives(batch).loss
    stats, rng = _running_stats(module), torch.get_rng_state()
    again = module.reevaluated_loss(batch, module.global_step)
    assert not again.total.requires_grad
    for name, value in step.per_task.items():
        # not bit-equal: with and without autograd the CPU may pick other conv kernels
        torch.testing.assert_close(again.per_task[name], value.detach(), rtol=1e-6, atol=1e-7)
    assert all(torch.equal(v, _running_stats(module)[k]) for k, v in stats.items())
    assert torch.equal(torch.get_rng_state(), rng)
    other = module.reevaluated_loss(batch, module.global_step + 1)  # another step's noise
    assert any(not torch.equal(other.per_task[n], again.per_task[n]) for n in again.per_task)


def test_famo_learns_after_the_step_and_other_weightings_keep_no_batch():
    module = _module(weighting="famo")
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)
    batch = _batch()
    for _ in range(3):
        opt.zero_grad()
        module.training_step(batch, 0).backward()
        opt.step()
        assert module._stepped is not None
        module.after_optimizer_step()
        assert module._stepped is None
    assert int(module.weighting.steps.max()) == 3  # one logit step per optimiser step
    cheap = _module(
        weighting="famo", weighting_options=WeightingOptions(famo_update="previous_batch")
    )
    cheap.training_step(batch, 0)
    assert cheap._stepped is None and not cheap.weighting.reevaluates


def test_the_reevaluation_runs_in_the_training_steps_precision_context():
    """Under bf16-mixed the step's loss is computed in autocast: δ must compare like with like."""
    entered = []

    class Plugin:
        @contextmanager
        def train_step_context(self):
            entered.append(torch.is_autocast_enabled("cpu"))
            with torch.autocast("cpu", dtype=torch.bfloat16):
                yield

    module = _module(weighting="famo")
    module._trainer = SimpleNamespace(precision_plugin=Plugin(), global_rank=0)
    loss = module.reevaluated_loss(_batch(), 0)
    assert entered == [False] and all(torch.isfinite(v) for v in loss.per_task.values())
