"""``GaussianDiffusion``: the forward noising process and the x0-parameterised reverse chain.

The process knows nothing of networks: the reverse loop takes the denoiser as a callable. It holds
only buffers (no parameters), so it moves with ``.to(device)`` and is saved with the model but never
trained. Every timestep argument ``t`` is a (N,) long tensor, one step per sample. It draws no
noise: the reverse loop takes the chain's noise maps from its caller, who has them from the one
``dmtl.noise.NoiseSource`` of the forward.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from dmtl.config import Schedule
from dmtl.errors import ConfigError

# The paper's linear schedule: betas = linspace(sqrt(1e-3), sqrt(1e-2), S) ** 2.
LINEAR_BETA_START = 1e-3
LINEAR_BETA_END = 1e-2
# The cosine schedule (Nichol & Dhariwal): offset s and the cap on beta.
COSINE_OFFSET = 0.008
COSINE_MAX_BETA = 0.999
# Log of a zero posterior variance (at t = 0) is clipped here, as in DDPM implementations.
LOG_VARIANCE_FLOOR = 1e-20

Denoise = Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor]], Mapping[str, torch.Tensor]]
Trace = dict[str, dict[str, torch.Tensor]]  # key -> statistic name -> detached scalar


def _rms(x: torch.Tensor) -> torch.Tensor:
    return x.detach().float().square().mean().sqrt()


def make_betas(steps: int, schedule: Schedule) -> torch.Tensor:
    """The noise schedule beta_t, t = 0..S-1, in float64.

    Args:
        steps: S, the number of diffusion steps (the paper uses 2).
        schedule: ``linear`` (the paper's: linspace of square roots, squared) or ``cosine``.

    Raises:
        ConfigError: S < 1 or an unknown schedule.
    """
    if steps < 1:
        raise ConfigError(f"diffusion steps must be at least 1, got {steps}")
    if schedule == "linear":
        roots = torch.linspace(
            math.sqrt(LINEAR_BETA_START), math.sqrt(LINEAR_BETA_END), steps, dtype=torch.float64
        )
        return roots**2
    if schedule == "cosine":
        s = torch.arange(steps + 1, dtype=torch.float64) / steps
        f = torch.cos((s + COSINE_OFFSET) / (1 + COSINE_OFFSET) * math.pi / 2) ** 2
        alphas_cumprod = f / f[0]
        return (1 - alphas_cumprod[1:] / alphas_cumprod[:-1]).clamp(max=COSINE_MAX_BETA)
    raise ConfigError(f"unknown noise schedule {schedule!r}; use 'linear' or 'cosine'")


def extract(values: torch.Tensor, t: torch.Tensor, ndim: int) -> torch.Tensor:
    """Per-sample schedule values: (S,) indexed by t (N,) -> (N, 1, ..., 1) with ``ndim`` dims."""
    return values.gather(0, t).view(-1, *([1] * (ndim - 1)))


class GaussianDiffusion(nn.Module):
    """DDPM forward process q(x_t | x_0), posterior q(x_{t-1} | x_t, x_0) and the S-step chain.

    The chain starts at t = S - 1 from a noised version of the initial estimate (not from pure
    noise): DiffusionMTL treats the initial prediction or feature as a noisy sample to rectify.

    Args:
        steps: S, the number of steps.
        schedule: ``linear`` or ``cosine`` (see ``make_betas``).
    """

    def __init__(self, steps: int, schedule: Schedule) -> None:
        super().__init__()
        betas = make_betas(steps, schedule)
        alphas_cumprod = torch.cumprod(1 - betas, dim=0)
        alphas_cumprod_prev = torch.cat([alphas_cumprod.new_ones(1), alphas_cumprod[:-1]])
        posterior_variance = betas * (1 - alphas_cumprod_prev) / (1 - alphas_cumprod)
        buffers = {
            "betas": betas,
            "alphas_cumprod": alphas_cumprod,
            "alphas_cumprod_prev": alphas_cumprod_prev,
            "sqrt_alphas_cumprod": alphas_cumprod.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1 - alphas_cumprod).sqrt(),
            "posterior_variance": posterior_variance,
            "posterior_log_variance_clipped": posterior_variance.clamp(
                min=LOG_VARIANCE_FLOOR
            ).log(),
            "posterior_mean_coef1": betas * alphas_cumprod_prev.sqrt() / (1 - alphas_cumprod),
            "posterior_mean_coef2": (1 - alphas_cumprod_prev)
            * (1 - betas).sqrt()
            / (1 - alphas_cumprod),
        }
        for name, value in buffers.items():
            # float32 buffers: the model's dtype; computed in float64 for exact values.
            self.register_buffer(name, value.float(), persistent=False)
        self.steps = steps
        self.schedule = schedule

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Sample x_t ~ q(x_t | x_0) = N(sqrt(ᾱ_t) x_0, (1 - ᾱ_t) I).

        Args:
            x0: (N, C, h, w) clean signal.
            t: (N,) long timesteps.
            noise: (N, C, h, w) standard normal noise.
        """
        return (
            extract(self.sqrt_alphas_cumprod, t, x0.ndim) * x0
            + extract(self.sqrt_one_minus_alphas_cumprod, t, x0.ndim) * noise
        )

    def q_posterior(
        self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and clipped log-variance of q(x_{t-1} | x_t, x_0), each broadcastable to x_t."""
        mean = (
            extract(self.posterior_mean_coef1, t, xt.ndim) * x0
            + extract(self.posterior_mean_coef2, t, xt.ndim) * xt
        )
        return mean, extract(self.posterior_log_variance_clipped, t, xt.ndim)

    def p_step(
        self, x0_hat: torch.Tensor, xt: torch.Tensor, t: torch.Tensor, noise: torch.Tensor
    ) -> torch.Tensor:
        """One reverse step: x_{t-1} = posterior mean + σ_t ε, with no noise where t = 0."""
        mean, log_var = self.q_posterior(x0_hat, xt, t)
        nonzero = (t > 0).to(xt.dtype).view(-1, *([1] * (xt.ndim - 1)))
        return mean + nonzero * (0.5 * log_var).exp() * noise

    def sample_loop(
        self,
        x_init: Mapping[str, torch.Tensor],
        denoise: Denoise,
        noises: Mapping[str, Sequence[torch.Tensor]],
        to_x0: Callable[[str, torch.Tensor], torch.Tensor] | None = None,
        trace: Trace | None = None,
    ) -> dict[str, torch.Tensor]:
        """The S-step reverse chain started from noised initial estimates.

        z = q_sample(x_init, S-1, ε_0); for t = S-1 .. 1: x̂_0 = to_x0(denoise(z, t)),
        z = p_step(x̂_0, z, t, ε_{S-t}); finally the output of denoise(z, 0) is returned. Several
        signals (one per task, each with its own batch size) run through the chain together, so a
        denoiser can treat them in one batched call. Gradients flow through the whole chain.

        Args:
            x_init: key -> (N_k, C_k, h, w) initial estimates (prediction maps or task features).
            denoise: ({key: z}, {key: t}) -> {key: output}, the network.
            noises: key -> S tensors shaped like ``x_init[key]``: the start noise, then one per
                reverse step with t > 0. Zeros give the deterministic chain.
            to_x0: (key, output) -> x̂_0 when the network's output is not itself the estimate of
                the clean signal (e.g. logits of a prediction map); identity by default.
            trace: when given, filled with detached statistics per key (``trace_step``): the
                relative noise level at the start and how far each step's x̂_0 is from x_init.

        Returns:
            key -> the network's output at t = 0.
        """
        for key, eps in noises.items():
            if len(eps) != self.steps:
                raise ValueError(
                    f"sample_loop needs {self.steps} noise tensors for {key!r}, got {len(eps)}"
                )
        t = {
            k: torch.full((x.shape[0],), self.steps - 1, dtype=torch.long, device=x.device)
            for k, x in x_init.items()
        }
        z = {k: self.q_sample(x, t[k], noises[k][0]) for k, x in x_init.items()}
        if trace is not None:
            level = self.sqrt_one_minus_alphas_cumprod[self.steps - 1]
            for k, x in x_init.items():
                trace[k] = {
                    "relative_noise": level / _rms(x).clamp(min=1e-12),
                    "start_error": _rms(z[k] - x),
                }
        for step in range(self.steps - 1, 0, -1):
            t = {k: torch.full_like(v, step) for k, v in t.items()}
            out = denoise(z, t)
            x0 = {k: to_x0(k, o) if to_x0 else o for k, o in out.items()}
            self.trace_step(trace, x_init, x0, step)
            z = {k: self.p_step(x0[k], z[k], t[k], noises[k][self.steps - step]) for k in out}
        final = denoise(z, {k: torch.zeros_like(v) for k, v in t.items()})
        if trace is not None:
            self.trace_step(
                trace, x_init, {k: to_x0(k, o) if to_x0 else o for k, o in final.items()}, 0
            )
        return final

    @staticmethod
    def trace_step(
        trace: Trace | None,
        x_init: Mapping[str, torch.Tensor],
        x0: Mapping[str, torch.Tensor],
        step: int,
    ) -> None:
        """Record RMS(x̂_0(t) - x_init) of every key as ``x0_error/t{step}`` (no-op without trace).

        Against ``start_error`` (RMS of the noised start - x_init), it shows whether a step moves
        its estimate back towards the initial one or further away (each row of x_init its own).
        """
        if trace is None:
            return
        for k, x in x0.items():
            trace.setdefault(k, {})[f"x0_error/t{step}"] = _rms(x - x_init[k])

    def extra_repr(self) -> str:
        return f"steps={self.steps}, schedule={self.schedule!r}"
