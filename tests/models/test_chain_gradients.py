"""The chain's gradients are true: autograd against central differences in float64.

For every space × input skip × refine-only combination at S = 2 and S = 3, a tiny MTDNet in
float64 with every parameter moved off its initial value (zero-initialised heads hide paths):
the derivative of a fixed random projection of the final predictions with respect to the chain's
start and to each step's outputs (x̂₀(t), and z_{t-1} of the posterior step), along a few random
directions, computed by autograd and by central differences, agree to a relative 1e-4. A detach
inside the chain (the prediction skip once added decode(z) detached) fails this.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from dmtl.config import DenoiserConfig, DiffusionConfig
from dmtl.models.mtdnet import MTDNet
from dmtl.tasks import resolve_tasks

TASKS = ["semseg", "depth", "normals", "edge"]
H, W, N, FEATURE, COND = 4, 6, 2, 6, 4
DIRECTIONS = 2
STEP = 1e-6  # central differences in float64
TOLERANCE = 1e-4


def _chain(space: str, skip: bool, refine_only: bool, steps: int, scale: float) -> MTDNet:
    tasks = resolve_tasks("synthetic", TASKS)
    scales = {"prediction_scale": scale} if space == "prediction" else {"feature_scale": scale}
    diffusion = DiffusionConfig(space=space, steps=steps, refine_only=refine_only, **scales)
    denoiser = DenoiserConfig(width=8, mults=(1,), blocks=1, skip=skip)
    torch.manual_seed(0)
    mtd = MTDNet(tasks, feature_channels=FEATURE, cond_channels=COND, diffusion=diffusion,
                 denoiser=denoiser).double()  # fmt: skip
    with torch.no_grad():
        for p in mtd.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return mtd


def _inputs(mtd: MTDNet, space: str):
    g = torch.Generator().manual_seed(1)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    starts, cond, noises = {}, {}, {}
    for name, spec in mtd.specs.items():
        raw = randn(N, spec.channels, H, W)
        if name == "depth":
            raw = raw.abs() * 3
        starts[name] = mtd.start(name, randn(N, FEATURE, H, W), raw)
        cond[name] = randn(N, COND, H, W)
        noises[name] = [randn(*starts[name].shape) for _ in range(mtd.steps)]
    weights = {name: randn(N, spec.channels, H, W) for name, spec in mtd.specs.items()}
    return starts, cond, noises, weights


class Perturbed:
    """Runs the chain with δ_j · direction_j added to chosen tensors of the chain.

    Targets: ``start`` (the chain's start), ``x0/<call>`` (the output of the space's ``to_x0``
    at its call-th call: x̂₀ of a step) and ``z/<call>`` (the posterior step's output z_{t-1}).
    """

    def __init__(self, mtd: MTDNet, starts, cond, noises, weights) -> None:
        self.mtd, self.starts, self.cond, self.noises, self.weights = (
            mtd, starts, cond, noises, weights)  # fmt: skip
        steps = mtd.steps
        x0_calls = steps if mtd.refine_only else steps - 1
        z_calls = 0 if mtd.refine_only else steps - 1
        names = (
            ["start"] + [f"x0/{i}" for i in range(x0_calls)] + [f"z/{i}" for i in range(z_calls)]
        )
        g = torch.Generator().manual_seed(2)
        self.targets = [(name, d) for name in names for d in range(DIRECTIONS)]
        self.directions = {
            (name, d): {
                n: torch.randn(s.shape, generator=g, dtype=torch.float64) for n, s in starts.items()
            }
            for name, d in self.targets
        }

    def __call__(self, delta: torch.Tensor) -> torch.Tensor:
        mtd, offsets = self.mtd, dict(zip(self.targets, delta))

        def shifted(target: str, key: str, value: torch.Tensor) -> torch.Tensor:
            for d in range(DIRECTIONS):
                if (target, d) in offsets:
                    value = value + offsets[target, d] * self.directions[target, d][key]
            return value

        space_to_x0, process_p_step = mtd.space.to_x0, mtd.process.p_step
        seen: dict[tuple[str, str], int] = {}

        def count(kind: str, key: str) -> str:
            call = seen.get((kind, key), 0)
            seen[kind, key] = call + 1
            return f"{kind}/{call}"

        def to_x0(key, output):
            return shifted(count("x0", key), key, space_to_x0(key, output))

        # the chain's posterior steps run task by task in the order of its tasks
        p_step_keys = itertools.cycle(list(self.starts))

        def p_step(x0_hat, xt, t, noise):
            key = next(p_step_keys)
            return shifted(count("z", key), key, process_p_step(x0_hat, xt, t, noise))

        mtd.space.to_x0, mtd.process.p_step = to_x0, p_step
        try:
            starts = {n: shifted("start", n, s) for n, s in self.starts.items()}
            final = mtd(starts, self.cond, self.noises)
        finally:
            del mtd.space.to_x0, mtd.process.p_step
        return sum((final[n] * self.weights[n]).sum() for n in final)


COMBINATIONS = [
    (space, skip, refine_only, steps)
    for space in ("feature", "prediction")
    for skip in (False, True)
    for refine_only in (False, True)
    for steps in (2, 3)
]


@pytest.mark.parametrize(("space", "skip", "refine_only", "steps"), COMBINATIONS)
def test_chain_gradient_equals_finite_differences(space, skip, refine_only, steps):
    # prediction: the scale of the measured wrong gradient (5) at S = 2, scale 1 at S = 3;
    # feature: a signal scale below 1 at S = 2
    scale = {("prediction", 2): 5.0, ("feature", 2): 0.5}.get((space, steps), 1.0)
    mtd = _chain(space, skip, refine_only, steps, scale)
    f = Perturbed(mtd, *_inputs(mtd, space))
    delta = torch.zeros(len(f.targets), dtype=torch.float64, requires_grad=True)
    (autograd,) = torch.autograd.grad(f(delta), delta)
    with torch.no_grad():
        for j, target in enumerate(f.targets):
            step = torch.zeros(len(f.targets), dtype=torch.float64)
            step[j] = STEP
            numeric = (f(step) - f(-step)) / (2 * STEP)
            error = abs(float(autograd[j]) - float(numeric))
            assert error <= TOLERANCE * max(abs(float(numeric)), 1e-3), (
                target, float(autograd[j]), float(numeric))  # fmt: skip
