"""The validation panel (callbacks.panels): drawn from validation_step's output, saved, logged."""

from types import SimpleNamespace

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger, WandbLogger
from PIL import Image
from torch.utils.data import DataLoader

from dmtl.callbacks.panels import PANEL_KEY, ValidationPanels
from dmtl.data.augment import denormalize
from dmtl.errors import ConfigError
from dmtl.models.network import MultiTaskOutput
from dmtl.tasks import resolve_tasks
from dmtl.viz import make_panel

TASKS = resolve_tasks("synthetic", ["semseg", "depth", "normals"])
H, W, BATCH = 8, 10, 3


def _batches(count, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        {
            "image": torch.randn(BATCH, 3, H, W, generator=g),
            "targets": {
                "semseg": torch.randint(0, 13, (BATCH, H, W), generator=g),
                "depth": torch.rand(BATCH, 1, H, W, generator=g) * 4,
                "normals": torch.randn(BATCH, 3, H, W, generator=g),
            },
        }
        for _ in range(count)
    ]


class TinyNet(pl.LightningModule):
    """Per-pixel predictions of every task; counts its forward passes, keeps batch 0's output."""

    def __init__(self) -> None:
        super().__init__()
        self.task_specs = TASKS
        self.head = torch.nn.Conv2d(3, sum(s.channels for s in TASKS), 1)
        self.forwards = 0
        self.first_outputs: list[MultiTaskOutput] = []

    def forward(self, image):
        self.forwards += 1
        maps = self.head(image).split([s.channels for s in TASKS], dim=1)
        return MultiTaskOutput(predictions={s.name: m for s, m in zip(TASKS, maps, strict=True)})

    def training_step(self, batch, batch_idx):
        return self(batch["image"]).predictions["depth"].square().mean()

    def validation_step(self, batch, batch_idx):
        out = self(batch["image"])
        if batch_idx == 0 and not self.trainer.sanity_checking:
            self.first_outputs.append(out)
        return out

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _trainer(tmp_path, panels, **kwargs):
    options = dict(
        accelerator="cpu",
        max_epochs=2,
        logger=CSVLogger(tmp_path, name="run", version="v"),
        callbacks=[panels],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=1,
    )
    return pl.Trainer(**{**options, **kwargs})


def _loaders():
    return DataLoader(_batches(2), batch_size=None), DataLoader(_batches(2, 1), batch_size=None)


def test_one_panel_per_validation_from_the_step_outputs_without_running_the_net(tmp_path):
    module, samples = TinyNet(), 2
    train, val = _loaders()
    _trainer(tmp_path, ValidationPanels(samples=samples)).fit(module, train, val)
    panels = sorted((tmp_path / "run" / "v" / "panels").glob("*.png"))
    assert [p.name for p in panels] == ["val_epoch000.png", "val_epoch001.png"]
    # sanity check (1 batch) + 2 epochs x (2 training + 2 validation batches): no extra pass
    assert module.forwards == 1 + 2 * (2 + 2)
    images, targets = val.dataset[0]["image"], val.dataset[0]["targets"]
    for path, out in zip(panels, module.first_outputs, strict=True):
        expected = make_panel(
            denormalize(images[:samples]),
            {k: v[:samples] for k, v in out.predictions.items()},
            {k: v[:samples] for k, v in targets.items()},
            TASKS,
        )
        assert np.array_equal(np.asarray(Image.open(path)), expected)


def test_the_sanity_check_draws_no_panel(tmp_path):
    module = TinyNet()
    train, val = _loaders()
    trainer = _trainer(tmp_path, ValidationPanels(), max_epochs=1, check_val_every_n_epoch=2)
    trainer.fit(module, train, val)
    assert module.forwards == 1 + 2  # the sanity batch ran, then training only
    assert not (tmp_path / "run" / "v" / "panels").exists()


def test_zero_samples_turns_the_panels_off(tmp_path):
    module = TinyNet()
    train, val = _loaders()
    _trainer(tmp_path, ValidationPanels(samples=0), max_epochs=1).fit(module, train, val)
    assert len(module.first_outputs) == 1  # it validated
    assert not (tmp_path / "run" / "v" / "panels").exists()


def test_negative_samples_is_a_config_error_naming_the_option():
    with pytest.raises(ConfigError, match=r"panels\.samples"):
        ValidationPanels(samples=-1)


def test_a_step_that_returns_nothing_is_named():
    class Silent(TinyNet):
        def validation_step(self, batch, batch_idx):
            self(batch["image"])

    trainer = SimpleNamespace(sanity_checking=False, is_global_zero=True)
    with pytest.raises(TypeError, match="validation_step"):
        ValidationPanels().on_validation_batch_end(trainer, Silent(), None, _batches(1)[0], 0)


class _Wandb(WandbLogger):
    """A WandbLogger that records log_image calls instead of starting a run."""

    def __init__(self, save_dir) -> None:  # no super().__init__: nothing of W&B is started
        self._dir, self.images = str(save_dir), []

    @property
    def save_dir(self):
        return self._dir

    def log_image(self, key, images, step=None, **kwargs):
        self.images.append((key, images, step))


def _stub_trainer(logger, global_zero=True):
    return SimpleNamespace(
        sanity_checking=False,
        is_global_zero=global_zero,
        loggers=[logger],
        current_epoch=3,
        global_step=17,
        default_root_dir="unused",
    )


def _draw(trainer, module):
    panels = ValidationPanels(samples=1)
    batch = _batches(1)[0]
    with torch.no_grad():
        out = module(batch["image"])
    panels.on_validation_batch_end(trainer, module, out, batch, 0)
    panels.on_validation_batch_end(trainer, module, out, _batches(1, 5)[0], 1)  # not batch 0
    panels.on_validation_epoch_end(trainer, module)
    return batch, out


def test_with_wandb_the_saved_picture_is_logged_under_one_key(tmp_path):
    logger, module = _Wandb(tmp_path), TinyNet()
    batch, out = _draw(_stub_trainer(logger), module)
    path = tmp_path / "panels" / "val_epoch003.png"
    assert logger.images == [(PANEL_KEY, [str(path)], 17)] and PANEL_KEY == "val/panel"
    expected = make_panel(
        denormalize(batch["image"][:1]),
        {k: v[:1] for k, v in out.predictions.items()},
        {k: v[:1] for k, v in batch["targets"].items()},
        TASKS,
    )
    assert np.array_equal(np.asarray(Image.open(path)), expected)


def test_other_ranks_keep_and_write_nothing(tmp_path):
    logger = _Wandb(tmp_path)
    _draw(_stub_trainer(logger, global_zero=False), TinyNet())
    assert logger.images == [] and not (tmp_path / "panels").exists()


class _VersionedWandb(_Wandb):
    """The stub with a project and a run id, as a started W&B run has."""

    def __init__(self, save_dir) -> None:
        super().__init__(save_dir)
        self._project, self._experiment, self._id = "proj", None, "run7"


def test_with_wandb_the_panel_goes_into_the_runs_own_folder(tmp_path):
    logger = _VersionedWandb(tmp_path)
    _draw(_stub_trainer(logger), TinyNet())
    path = tmp_path / "proj" / "run7" / "panels" / "val_epoch003.png"
    assert path.is_file() and logger.images == [(PANEL_KEY, [str(path)], 17)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]


def test_fast_dev_run_draws_no_panel(tmp_path):
    module = TinyNet()
    train, val = _loaders()
    trainer = _trainer(tmp_path, ValidationPanels(), fast_dev_run=True, default_root_dir=tmp_path)
    trainer.fit(module, train, val)
    assert len(module.first_outputs) == 1  # it validated
    assert not list(tmp_path.rglob("*.png"))
