"""The paper-exact network against the golden outputs of the released DiffusionMTL network.

``../shared/golden/released_pascal_r18_64px.pt`` (beside the repository root) holds the key names
and shapes of the released PASCAL-Context ResNet-18 checkpoint, an input image and the released
network's outputs in evaluation mode with zero diffusion noise. The released weights are rebuilt
from the key names with the seeded recipe of its README, converted with ``dmtl.convert`` and run
through ``DiffusionMTLNet`` with ``inference_noise=False``.
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import pytest
import torch

from dmtl.convert import convert_state_dict, module_hparams, released_model_args
from dmtl.diffusion import make_betas
from dmtl.module import DiffusionMTLModule

SHARED = Path(__file__).resolve().parents[1].parent / "shared"  # ../shared beside the repo root
GOLDEN = SHARED / "golden" / "released_pascal_r18_64px.pt"
PARAMETERS = 132_913_284
pytestmark = pytest.mark.skipif(
    not GOLDEN.is_file(), reason=f"the golden file {GOLDEN} is absent (../shared not cloned)"
)


def released_schedule(steps: int = 2) -> dict[str, torch.Tensor]:
    """The 12 released schedule buffers, written out from the DDPM formulas (float64)."""
    betas = make_betas(steps, "linear")
    ac = torch.cumprod(1 - betas, 0)
    prev = torch.cat([torch.ones(1, dtype=ac.dtype), ac[:-1]])
    var = betas * (1 - prev) / (1 - ac)
    return {
        "betas": betas,
        "alphas_cumprod": ac,
        "alphas_cumprod_prev": prev,
        "sqrt_alphas_cumprod": ac.sqrt(),
        "sqrt_one_minus_alphas_cumprod": (1 - ac).sqrt(),
        "log_one_minus_alphas_cumprod": (1 - ac).log(),
        "sqrt_recip_alphas_cumprod": (1 / ac).sqrt(),
        "sqrt_recipm1_alphas_cumprod": (1 / ac - 1).sqrt(),
        "posterior_variance": var,
        "posterior_log_variance_clipped": var.clamp(min=1e-20).log(),
        "posterior_mean_coef1": betas * prev.sqrt() / (1 - ac),
        "posterior_mean_coef2": (1 - prev) * (1 - betas).sqrt() / (1 - ac),
    }


def rebuild(shapes: dict[str, torch.Size]) -> dict[str, torch.Tensor]:
    """The released state dict from its key names, by the golden README's recipe."""
    schedule = released_schedule()
    state = {}
    for key in sorted(shapes):
        shape = tuple(shapes[key])
        name = key.removeprefix("diffusion_model.")
        if key.startswith("diffusion_model.") and name in schedule:
            state[key] = schedule[name].float()
        elif key.endswith("running_mean"):
            state[key] = torch.zeros(shape)
        elif key.endswith("running_var"):
            state[key] = torch.ones(shape)
        elif key.endswith("num_batches_tracked"):
            state[key] = torch.zeros(shape, dtype=torch.long)
        else:
            g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
            if len(shape) == 1:
                scale, offset = 0.1, (1.0 if key.endswith("weight") else 0.0)
                state[key] = offset + scale * torch.randn(shape, generator=g)
            else:
                state[key] = torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))
    return state


@pytest.fixture(scope="module")
def golden() -> dict:
    return torch.load(GOLDEN, weights_only=True)


def test_released_network_has_the_paper_parameter_count(golden):
    state = rebuild(golden["state_dict_shapes"])
    hp = module_hparams(released_model_args(state))
    with torch.device("meta"):
        module = DiffusionMTLModule(**hp)
    count = sum(p.numel() for p in module.parameters() if p.requires_grad)
    assert count == PARAMETERS == golden["num_parameters"]


def test_converted_released_weights_reproduce_the_golden_outputs(golden):
    torch.manual_seed(0)
    state = rebuild(golden["state_dict_shapes"])
    hp = module_hparams(released_model_args(state))
    assert hp["tasks"] == list(golden["tasks"])
    module = DiffusionMTLModule(**{**hp, "inference_noise": False})
    converted = convert_state_dict(state, module.state_dict(), hp["steps"])
    assert len(converted) == len(state) - 12  # every tensor but the schedule buffers
    module.load_state_dict(converted, strict=True)
    module.eval()
    with torch.no_grad():
        out = module(golden["image"]).predictions
    for task, expected in golden["outputs"].items():
        got = out[task]
        assert got.shape == expected.shape
        rel = (got - expected).norm() / expected.norm()
        assert rel < 1e-3, f"{task}: relative error {rel:.2e}"
        assert torch.allclose(got, expected, rtol=1e-3, atol=1e-3 * expected.abs().max().item())
