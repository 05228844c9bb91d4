"""GaussianDiffusion: schedule, forward process, posterior and the reverse chain."""

import math

import pytest
import torch

from dmtl.diffusion import GaussianDiffusion, extract, make_betas
from dmtl.errors import ConfigError


def test_linear_schedule_of_the_paper_with_two_steps_by_hand():
    d = GaussianDiffusion(steps=2, schedule="linear")
    # betas = linspace(sqrt(1e-3), sqrt(1e-2), 2) ** 2 = [1e-3, 1e-2]
    torch.testing.assert_close(d.betas, torch.tensor([1e-3, 1e-2]))
    torch.testing.assert_close(d.alphas_cumprod, torch.tensor([0.999, 0.999 * 0.99]))
    torch.testing.assert_close(d.alphas_cumprod_prev, torch.tensor([1.0, 0.999]))
    one_minus = 1 - 0.999 * 0.99  # 1 - ᾱ_1 = 0.01099
    torch.testing.assert_close(d.posterior_variance, torch.tensor([0.0, 0.01 * 0.001 / one_minus]))
    torch.testing.assert_close(
        d.posterior_log_variance_clipped,
        torch.tensor([math.log(1e-20), math.log(0.01 * 0.001 / one_minus)]),
    )
    torch.testing.assert_close(
        d.posterior_mean_coef1, torch.tensor([1.0, 0.01 * math.sqrt(0.999) / one_minus])
    )
    torch.testing.assert_close(
        d.posterior_mean_coef2, torch.tensor([0.0, 0.001 * math.sqrt(0.99) / one_minus])
    )


def test_linear_schedule_with_three_steps_interpolates_square_roots():
    mid = (math.sqrt(1e-3) + math.sqrt(1e-2)) / 2
    torch.testing.assert_close(
        make_betas(3, "linear"), torch.tensor([1e-3, mid**2, 1e-2], dtype=torch.float64)
    )


def test_cosine_schedule_by_hand():
    def f(s):
        return math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2

    expected = [1 - f(0.5) / f(0.0), min(1 - f(1.0) / f(0.5), 0.999)]
    torch.testing.assert_close(make_betas(2, "cosine"), torch.tensor(expected, dtype=torch.float64))
    betas = make_betas(1000, "cosine")
    assert (betas > 0).all() and (betas <= 0.999).all()
    assert torch.cumprod(1 - betas, 0)[-1] < 1e-4  # the cosine chain ends in (almost) pure noise


@pytest.mark.parametrize("steps,schedule", [(0, "linear"), (2, "quadratic")])
def test_bad_schedule_is_a_config_error(steps, schedule):
    with pytest.raises(ConfigError):
        make_betas(steps, schedule)


def test_process_has_buffers_only():
    d = GaussianDiffusion(steps=4, schedule="linear")
    assert list(d.parameters()) == []
    assert d.to(torch.float64).betas.dtype == torch.float64


def test_q_sample_uses_each_samples_own_timestep():
    d = GaussianDiffusion(steps=3, schedule="linear")
    x0 = torch.randn(3, 2, 4, 4)
    noise = torch.randn_like(x0)
    t = torch.tensor([2, 0, 1])
    out = d.q_sample(x0, t, noise)
    for i in range(3):
        ab = d.alphas_cumprod[t[i]]
        torch.testing.assert_close(out[i], ab.sqrt() * x0[i] + (1 - ab).sqrt() * noise[i])
    assert extract(d.betas, t, 4).shape == (3, 1, 1, 1)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_posterior_mean_of_a_noiseless_sample_is_the_previous_marginal_mean(schedule):
    # With x_t = sqrt(ᾱ_t) x_0 (no noise), the DDPM posterior mean is sqrt(ᾱ_{t-1}) x_0.
    d = GaussianDiffusion(steps=5, schedule=schedule).to(torch.float64)
    x0 = torch.randn(5, 3, 2, 2, dtype=torch.float64)
    t = torch.arange(5)
    xt = d.q_sample(x0, t, torch.zeros_like(x0))
    mean, _ = d.q_posterior(x0, xt, t)
    torch.testing.assert_close(mean, extract(d.alphas_cumprod_prev, t, 4).sqrt() * x0)


def test_reverse_step_adds_noise_only_where_t_is_positive():
    d = GaussianDiffusion(steps=2, schedule="linear")
    x0, xt, noise = torch.randn(3, 2, 1, 1, 1).unbind(0)
    t = torch.tensor([0, 1])
    out = d.p_step(x0, xt, t, noise)
    mean, log_var = d.q_posterior(x0, xt, t)
    torch.testing.assert_close(out[0], mean[0])  # t = 0: the posterior mean, no noise
    torch.testing.assert_close(out[1], mean[1] + (0.5 * log_var[1]).exp() * noise[1])


def test_full_sampling_loop_golden_value_with_a_dummy_network():
    # Scalar chain, S = 3, x_init = 1, noises 0.3 (start), -0.2 (t=2), 0.5 (t=1), and the dummy
    # denoiser x̂_0 = 0.9 z + 0.05 t. The golden value was computed by hand with Python floats
    # from the DDPM formulas (q_sample at t = S-1, posterior mean and variance).
    d = GaussianDiffusion(steps=3, schedule="linear").to(torch.float64)
    calls = []

    def denoise(z, t):
        calls.append(int(t["x"][0]))
        return {"x": 0.9 * z["x"] + 0.05 * t["x"].view(-1, 1).to(z["x"].dtype)}

    noises = {"x": [torch.full((1, 1), v, dtype=torch.float64) for v in (0.3, -0.2, 0.5)]}
    out = d.sample_loop({"x": torch.ones(1, 1, dtype=torch.float64)}, denoise, noises)
    assert calls == [2, 1, 0]
    assert out["x"].item() == pytest.approx(0.8892185021414386, abs=1e-6)  # float32 buffers


def test_loop_runs_several_signals_of_different_batch_sizes_and_applies_to_x0():
    d = GaussianDiffusion(steps=2, schedule="linear")
    x = {"a": torch.randn(2, 3, 4, 4), "b": torch.randn(5, 1, 4, 4)}
    seen = []

    def denoise(z, t):
        seen.append({k: tuple(v.shape) for k, v in z.items()})
        return {k: 2 * v for k, v in z.items()}

    zeros = {k: [torch.zeros_like(v)] * 2 for k, v in x.items()}
    out = d.sample_loop(x, denoise, zeros, to_x0=lambda k, o: o.tanh())
    assert seen == [{"a": (2, 3, 4, 4), "b": (5, 1, 4, 4)}] * 2
    # by hand: z1 = sqrt(ᾱ_1) x; x̂_0 = tanh(2 z1); z0 = c1 x̂_0 + c2 z1; out = 2 z0
    for k, v in x.items():
        z1 = d.sqrt_alphas_cumprod[1] * v
        z0 = d.posterior_mean_coef1[1] * (2 * z1).tanh() + d.posterior_mean_coef2[1] * z1
        torch.testing.assert_close(out[k], 2 * z0)


def test_loop_refuses_the_wrong_number_of_noises():
    d = GaussianDiffusion(steps=3, schedule="linear")
    with pytest.raises(ValueError, match="3 noise tensors"):
        d.sample_loop({"x": torch.zeros(1)}, lambda z, t: z, {"x": [torch.zeros(1)] * 2})


def test_gradients_flow_through_the_whole_chain():
    d = GaussianDiffusion(steps=3, schedule="linear")
    x = torch.randn(2, 1, 2, 2, requires_grad=True)
    w = torch.tensor(0.7, requires_grad=True)
    out = d.sample_loop(
        {"x": x}, lambda z, t: {"x": w * z["x"]}, {"x": [torch.randn(2, 1, 2, 2)] * 3}
    )
    out["x"].sum().backward()
    assert x.grad.abs().sum() > 0 and w.grad.abs() > 0


def test_sample_loop_traces_the_noise_level_and_each_steps_distance_to_the_start():
    d = GaussianDiffusion(steps=2, schedule="linear")
    x = {"x": torch.full((2, 1, 3, 3), 2.0)}
    eps = {"x": [torch.ones(2, 1, 3, 3)] * 2}
    trace: dict = {}
    d.sample_loop(x, lambda z, t: {"x": z["x"] * 0 + 2.5}, eps, trace=trace)
    stats = trace["x"]
    level = math.sqrt(1 - 0.999 * 0.99)
    torch.testing.assert_close(stats["relative_noise"], torch.tensor(level / 2.0))
    start = math.sqrt(0.999 * 0.99) * 2.0 + level - 2.0  # the noised start minus x_init
    torch.testing.assert_close(stats["start_error"], torch.tensor(abs(start)))
    for step in (1, 0):  # x̂₀ = 2.5 at every step
        torch.testing.assert_close(stats[f"x0_error/t{step}"], torch.tensor(0.5))
