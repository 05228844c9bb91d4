"""Evaluation noise per image, and evaluation over several inference seeds (mean ± std)."""

from __future__ import annotations

import json

import pytest
import torch

from dmtl.callbacks.results import ResultsReport
from dmtl.config import DiffusionConfig, EvaluationConfig, NetworkConfig
from dmtl.evaluation_seeds import evaluation_seeds, mean_std
from dmtl.module import DiffusionMTLModule
from dmtl.noise import NoiseSource, identity_seeds

TINY = NetworkConfig(embed_dim=16)


def _seeded(seed: int, names: list[str]) -> NoiseSource:
    """Evaluation noise of inference seed ``seed`` for images named ``names``."""
    return NoiseSource.evaluation(seed, identity_seeds(names))


def _generated(seed: int) -> NoiseSource:
    return NoiseSource.from_generator(torch.Generator().manual_seed(seed))


def _perturbed(module: DiffusionMTLModule) -> DiffusionMTLModule:
    """The chain moved off its initial weights, so that its noise shows in the predictions."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in module.net.mtd.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return module.eval()


def _batch(images: torch.Tensor, names: list[str]) -> dict:
    b, _, h, w = images.shape
    return {
        "image": images,
        "targets": {
            "semseg": torch.randint(0, 13, (b, h, w), generator=torch.Generator().manual_seed(1)),
            "depth": torch.full((b, 1, h, w), 2.0),
        },
        "meta": {"name": names, "index": torch.arange(b)},
    }


@pytest.mark.parametrize("space", ["feature", "prediction"])
def test_an_images_prediction_does_not_depend_on_its_batch_or_its_place_in_it(space):
    module = _perturbed(
        DiffusionMTLModule(
            tasks=["semseg", "depth"], network=TINY, diffusion=DiffusionConfig(space=space)
        )  # fmt: skip
    )
    images = torch.randn(4, 3, 32, 40, generator=torch.Generator().manual_seed(2))
    names = ["a", "b", "c", "d"]
    order = [2, 0, 3, 1]
    with torch.no_grad():
        alone = module(images[1:2], noise=_seeded(0, ["b"]))
        shuffled = module(images[order], noise=_seeded(0, [names[i] for i in order]))
        again = module(images[1:2], noise=_seeded(0, ["b"]))
    for task in ("semseg", "depth"):
        torch.testing.assert_close(shuffled.predictions[task][3], alone.predictions[task][0],
                                   rtol=1e-4, atol=1e-5)  # fmt: skip
        torch.testing.assert_close(again.predictions[task], alone.predictions[task], rtol=0, atol=0)


def test_each_image_gets_its_own_noise_and_the_seed_changes_it():
    module = _perturbed(DiffusionMTLModule(tasks=["depth"], network=TINY))
    image = torch.randn(1, 3, 32, 40).expand(2, -1, -1, -1)  # one image under two names
    with torch.no_grad():
        out = module(image, noise=_seeded(0, ["x", "y"])).predictions["depth"]
        assert not torch.allclose(out[0], out[1])
        other = module(image, noise=_seeded(7, ["x", "y"])).predictions["depth"]
    assert not torch.allclose(other[0], out[0])


def test_training_noise_stays_a_function_of_the_generator():
    module = DiffusionMTLModule(tasks=["depth"], network=TINY).train()
    image, labelled = torch.randn(2, 3, 32, 40), torch.ones(2, 1, dtype=torch.bool)
    first = module(image, labelled, _generated(3)).predictions["depth"]
    again = module(image, labelled, _generated(3)).predictions["depth"]
    torch.testing.assert_close(first, again, rtol=0, atol=0)


def test_the_seeds_evaluation_runs():
    evaluation = EvaluationConfig(inference_seeds=[0, 1, 2])
    assert evaluation_seeds(DiffusionConfig(), evaluation) == [0, 1, 2]
    assert evaluation_seeds(DiffusionConfig(), EvaluationConfig()) == [0]
    for quiet in ({"inference_noise": False}, {"refine_only": True}, {"space": "none"}):
        assert evaluation_seeds(DiffusionConfig(inference_seed=4, **quiet), evaluation) == [4]
    mean, std = mean_std([{"t": {"m": 1.0}}, {"t": {"m": 3.0}}])
    assert mean == {"t": {"m": 2.0}} and std["t"]["m"] == pytest.approx(2**0.5)


class _Trainer:
    is_global_zero = True
    loggers = []

    def __init__(self, root):
        self.default_root_dir = str(root)


def test_test_over_several_seeds_reports_mean_and_std(tmp_path, capsys):
    module = _perturbed(
        DiffusionMTLModule(
            tasks=["semseg", "depth"],
            network=TINY,
            evaluation=EvaluationConfig(inference_seeds=[0, 1, 2]),
        )  # fmt: skip
    )
    module.log_dict = lambda *a, **k: None  # no trainer attached
    images = torch.randn(3, 3, 32, 40, generator=torch.Generator().manual_seed(4))
    batch = _batch(images, ["p", "q", "r"])
    with torch.no_grad():
        module.test_step(batch, 0)
        per_seed = []
        for seed in (0, 1, 2):
            out = module(images, noise=_seeded(seed, ["p", "q", "r"]))
            per_seed.append(out.predictions["depth"])
    assert not torch.allclose(per_seed[0], per_seed[1])
    module.on_test_epoch_end()
    mean, _ = module.results["test"]
    spread = module.results_spread["test"]
    assert spread["inference_seeds"] == [0, 1, 2]
    assert spread["std"]["depth"]["abs_err"] > 0
    errors = [float((p - 2.0).abs().mean()) for p in per_seed]
    assert mean["depth"]["abs_err"] == pytest.approx(sum(errors) / 3, rel=1e-4)
    ResultsReport().on_test_end(_Trainer(tmp_path), module)
    written = json.loads((tmp_path / "test_metrics.json").read_text())
    assert written["inference_seeds"] == [0, 1, 2]
    assert written["depth"]["abs_err"] == pytest.approx(mean["depth"]["abs_err"])
    assert written["std"]["depth"]["abs_err"] == pytest.approx(spread["std"]["depth"]["abs_err"])
    assert "mean over inference seeds [0, 1, 2]" in capsys.readouterr().out
