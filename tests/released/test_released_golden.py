"""The paper-exact network against the golden outputs of the released DiffusionMTL network.

``tests/fixtures/released_pascal_r18_64px.pt`` (see tests/fixtures/README.md) holds the key names
and shapes of the released PASCAL-Context ResNet-18 checkpoint, an input image and the released
network's outputs in evaluation mode with zero diffusion noise. The released weights are rebuilt
from the key names with the seeded recipe of tests/fixtures/README.md, converted with
``dmtl.released.convert`` and run through ``DiffusionMTLNet`` with ``diffusion.inference_noise``
false.
"""

from __future__ import annotations

import pytest
import torch

from dmtl.module import DiffusionMTLModule
from dmtl.released.convert import convert_state_dict, module_hparams, released_model_args
from support.golden import GOLDEN, PARAMETERS, rebuild


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
    module = DiffusionMTLModule(
        **{**hp, "diffusion": {**hp["diffusion"], "inference_noise": False}}
    )
    converted = convert_state_dict(state, module.state_dict(), hp["diffusion"]["steps"])
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
