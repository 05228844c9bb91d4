"""Editing a recipe, as a user would: a new photometric step is told, a new geometric one refused.

The PASCAL-Context training recipe is edited by replacing ``recipes.pascal_photometric`` (the
list its builder reads), then run through the data module and the CLI on tiny synthetic data.
"""

from __future__ import annotations

import logging

import albumentations as A
import pytest

import dmtl  # noqa: F401  (sets NO_ALBUMENTATIONS_UPDATE before albumentations is imported)
from dmtl.cli import main
from dmtl.data.augment import recipes, step_by_step
from dmtl.data.datamodule import MultiTaskDataModule
from dmtl.data.synthetic.dataset import SyntheticConfig
from support.cli import _args

TINY = SyntheticConfig(height=32, width=40, num_train=6, num_val=2, seed=0)
ORIGINAL = recipes.pascal_photometric


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("synthetic-pascal-cache")


def test_a_new_photometric_step_is_told_once_and_runs(cache, monkeypatch, caplog) -> None:
    monkeypatch.setattr(step_by_step, "_TOLD", set())  # nothing told yet in this process
    monkeypatch.setattr(recipes, "pascal_photometric", lambda: [*ORIGINAL(), A.GaussianBlur()])
    dm = MultiTaskDataModule(
        dataset="synthetic_pascal",
        root=str(cache),
        synthetic=TINY,
        crop_size=(64, 64),
        batch_size=2,
        num_workers=0,
    )
    dm.prepare_data()
    with caplog.at_level(logging.INFO, logger="dmtl"):
        dm.setup("fit")
        dm.setup("validate")
    told = [r.getMessage() for r in caplog.records if "GaussianBlur" in r.getMessage()]
    assert told == [
        "augmentation runs step by step, about 2x slower than fused: "
        "step GaussianBlur is not a photometric step the fused path computes"
    ]
    batch = next(iter(dm.train_dataloader()))  # the step-by-step path still trains
    assert batch["image"].shape == (2, 3, 64, 64)


def test_a_new_geometric_step_is_refused_by_name_before_training(
    cache, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(recipes, "pascal_photometric", lambda: [A.VerticalFlip(), *ORIGINAL()])
    args = _args(
        "fit",
        cache,
        tmp_path,
        "--data.dataset=synthetic_pascal",
        "--data.crop_size=[64, 64]",
        "--trainer.max_epochs=1",
    )
    with pytest.raises(SystemExit):
        main(args)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("dmtl: error: augmentation step VerticalFlip moves the task maps"), err
    assert not list(tmp_path.rglob("*.ckpt"))
