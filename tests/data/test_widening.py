"""Compact class-id and edge maps from the loaders, widened by the data module's transfer hook.

The loaders hand class-id and edge targets, and normals read from 8-bit codes, over as uint8
(``TaskKind.loader_dtype``; the normals as codes and flags, ``dmtl.tasks.kinds.normals``); after
``MultiTaskDataModule.on_after_batch_transfer`` a batch must hold exactly what the loaders
produced when they made them int64 and float32 themselves (``LEGACY_TO_TENSOR`` and the float
maps' ``TaskKind`` defaults, the conversions they used), values and dtypes, on the synthetic
NYU-like, PASCAL-like and Cityscapes-like datasets; a batch that skipped the hook must not reach
a loss.
"""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from dmtl.config import NetworkConfig
from dmtl.constant_baselines import evaluate_constants
from dmtl.data.datamodule import MultiTaskDataModule
from dmtl.data.readers import predecoded
from dmtl.data.synthetic.dataset import SyntheticConfig
from dmtl.data.widening import check_widened, widen_batch
from dmtl.errors import DataError
from dmtl.module import DiffusionMTLModule
from dmtl.tasks.kinds.base import TaskKind
from dmtl.tasks.kinds.boundary import BoundaryKind
from dmtl.tasks.kinds.segmentation import SegmentationKind

TINY = SyntheticConfig(height=32, width=40, num_train=8, num_val=4, seed=0)
DATASETS = {  # dataset -> extra data-module arguments
    "synthetic": {"tasks": ["semseg", "depth", "normals", "edge"]},
    "synthetic_pascal": {"crop_size": (32, 48)},  # pads the 32×40 scenes: padding is ignore
    "synthetic_cityscapes": {},
}
WIDENED = {"synthetic": {"semseg": torch.int64, "edge": torch.float32},
           "synthetic_pascal": {"semseg": torch.int64, "human_parts": torch.int64,
                                "sal": torch.int64, "normals": torch.float32,
                                "edge": torch.float32},
           "synthetic_cityscapes": {"semseg": torch.int64}}  # fmt: skip


def LEGACY_TO_TENSOR(self, array: np.ndarray) -> torch.Tensor:  # noqa: N802 (a stand-in method)
    """``SegmentationKind.to_tensor`` before the loaders went compact: int64 class ids."""
    return torch.from_numpy(array.astype(np.int64))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("compact-cache")


def _batches(cache, dataset: str) -> dict[str, dict]:
    """The first training (augmented) and validation batch of a fresh data module."""
    torch.manual_seed(0)  # the shuffle and the augmentation's draws
    dm = MultiTaskDataModule(dataset=dataset, root=str(cache), synthetic=TINY, batch_size=4,
                             num_workers=0, **DATASETS[dataset])  # fmt: skip
    dm.prepare_data()
    dm.setup("fit")
    return dm, {"train": next(iter(dm.train_dataloader())), "val": next(iter(dm.val_dataloader()))}


def _assert_same(got, expected, where: str) -> None:
    if isinstance(expected, dict):
        assert set(got) == set(expected), where
        for key in expected:
            _assert_same(got[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, torch.Tensor):
        assert got.dtype == expected.dtype and got.shape == expected.shape, where
        assert torch.equal(got, expected), where
    else:
        assert got == expected, where


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_hooked_batches_equal_the_int64_batches_of_before(cache, dataset, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(SegmentationKind, "to_tensor", LEGACY_TO_TENSOR)
        patch.setattr(BoundaryKind, "to_tensor", TaskKind.to_tensor)  # float32 edges
        patch.setattr(BoundaryKind, "prepare_array", TaskKind.prepare_array)
        patch.setattr(predecoded, "compact_normals", predecoded.expand_normals)  # float normals
        _, before = _batches(cache, dataset)
    dm, compact = _batches(cache, dataset)
    for stage, batch in compact.items():
        compact_tasks = [k for k, v in batch["targets"].items() if v.dtype == torch.uint8]
        assert sorted(compact_tasks) == sorted(WIDENED[dataset]), stage
    for stage, batch in compact.items():
        for name, dtype in WIDENED[dataset].items():
            assert batch["targets"][name].dtype == torch.uint8, (stage, name)
            assert before[stage]["targets"][name].dtype == dtype, (stage, name)
        _assert_same(dm.on_after_batch_transfer(batch, 0), before[stage], f"{dataset} {stage}")


def test_widening_leaves_other_batches_and_the_input_alone(cache):
    dm, batches = _batches(cache, "synthetic")
    batch = batches["val"]
    widened = widen_batch(batch, dm.task_specs)
    assert batch["targets"]["semseg"].dtype == torch.uint8  # the loader's batch is not changed
    assert widen_batch(widened, dm.task_specs)["targets"]["semseg"] is widened["targets"]["semseg"]
    images = {"image": batch["image"], "meta": batch["meta"]}  # predict of an image folder
    assert dm.on_after_batch_transfer(images, 0) is images


def _module(tasks: list[str] | None = None) -> DiffusionMTLModule:
    module = DiffusionMTLModule(tasks=tasks, network=NetworkConfig(embed_dim=16))
    module.log = lambda *a, **k: None  # no trainer attached
    return module


def test_a_batch_that_skipped_the_hook_never_reaches_a_loss(cache):
    dm, batches = _batches(cache, "synthetic")
    module = _module()
    batch = {**batches["train"], "targets": {k: v for k, v in batches["train"]["targets"].items()
                                             if k != "edge"}}  # fmt: skip
    with pytest.raises(DataError, match=r"'semseg' is torch.uint8.*widen_batch"):
        module.training_step(batch, 0)
    with pytest.raises(DataError, match="widen_batch"):
        module.validation_step(batch, 0)
    with pytest.raises(DataError, match="widen_batch"):
        module.test_step(batch, 0)
    check_widened(widen_batch(batch, dm.task_specs)["targets"], module.task_specs)
    assert torch.isfinite(module.training_step(widen_batch(batch, dm.task_specs), 0))


def test_an_unwidened_edge_map_is_refused_too(cache):
    dm, batches = _batches(cache, "synthetic")
    module = _module(DATASETS["synthetic"]["tasks"])
    raw = batches["train"]
    assert raw["targets"]["edge"].dtype == torch.uint8
    widened = widen_batch(raw, dm.task_specs)
    assert widened["targets"]["edge"].dtype == torch.float32
    assert torch.equal(widened["targets"]["edge"], raw["targets"]["edge"].float())
    batch = {**widened, "targets": {**widened["targets"], "edge": raw["targets"]["edge"]}}
    with pytest.raises(DataError, match=r"'edge' is torch.uint8.*torch.float32.*widen_batch"):
        check_widened(batch["targets"], module.task_specs)
    with pytest.raises(DataError, match="'edge'"):
        module.training_step(batch, 0)
    check_widened(widened["targets"], module.task_specs)


def test_loops_without_a_trainer_widen_through_the_same_helper(cache):
    dm, _ = _batches(cache, "synthetic")
    raw = evaluate_constants(dm.val_dataloader(), dm.task_specs)
    hooked = evaluate_constants(
        [dm.on_after_batch_transfer(b, 0) for b in dm.val_dataloader()], dm.task_specs
    )
    assert raw == hooked


def test_a_trainer_hands_the_module_widened_batches(cache):
    dm = MultiTaskDataModule(dataset="synthetic", root=str(cache), synthetic=TINY, batch_size=4,
                             num_workers=0)  # fmt: skip
    seen = []

    class Probe(pl.Callback):
        def on_validation_batch_end(self, trainer, pl_module, outputs, batch, *args):
            seen.append(batch["targets"]["semseg"].dtype)

    trainer = pl.Trainer(accelerator="cpu", limit_val_batches=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[Probe()])  # fmt: skip
    trainer.validate(_module(), datamodule=dm, verbose=False)
    assert seen == [torch.int64]
