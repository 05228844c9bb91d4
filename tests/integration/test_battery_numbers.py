"""Battery: numbers out of range end with one line naming the key and value, before training."""

from __future__ import annotations

import pytest

from support.battery import fails_with_one_line
from support.cli import _args


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("battery-numbers-cache")


@pytest.mark.parametrize(
    ("option", "needle"),
    [
        ("--data.batch_size=0", "data.batch_size must be an integer >= 1, got 0"),
        ("--data.batch_size=-4", "data.batch_size must be an integer >= 1, got -4"),
        ("--data.eval_batch_size=0", "data.eval_batch_size must be an integer >= 1, got 0"),
        ("--data.num_workers=-1", "data.num_workers must be an integer >= 0, got -1"),
        ("--data.prefetch_factor=0", "data.prefetch_factor must be an integer >= 1, got 0"),
        (
            "--data.scales=[1.0,-1.2]",
            "data.scales must be positive (a finite number > 0), got -1.2",
        ),
        (
            "--model.optim.lr=-0.001",
            "model.optim.lr must be positive (a finite number > 0), got -0.001",
        ),
        ("--model.optim.lr=0", "model.optim.lr must be positive (a finite number > 0), got 0"),
        ("--model.optim.weight_decay=-1e-4", "model.optim.weight_decay must be a finite number"),
        ("--model.diffusion.steps=0", "model.diffusion.steps must be an integer >= 1, got 0"),
        ("--model.diffusion.steps=-2", "model.diffusion.steps must be an integer >= 1, got -2"),
        ("--model.network.embed_dim=0", "model.network.embed_dim must be an integer >= 1"),
        ("--model.denoiser.mults=[]", "model.denoiser.mults must be a non-empty list"),
        ("--model.loss.initial_weight=-0.5", "model.loss.initial_weight must be a finite number"),
    ],
)
def test_a_number_out_of_range_names_its_key(cache, tmp_path, capsys, option, needle):
    line = fails_with_one_line(
        _args("fit", cache, tmp_path, option), tmp_path / "run" / "fit", capsys
    )
    assert needle in line


def test_images_smaller_than_the_backbone_stride_fail_at_setup(cache, tmp_path, capsys):
    small = ["--data.synthetic.height=16", "--data.synthetic.width=24"]
    line = fails_with_one_line(
        _args("fit", cache, tmp_path, *small), tmp_path / "run" / "fit", capsys
    )
    assert "is 16×24, smaller than the backbone's coarsest stride 32" in line
    assert "image/0.npy" in line
