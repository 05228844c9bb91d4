"""``MultiTaskDataModule``: datasets, label setting, augmentation and loaders of a run."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset

from dmtl.data.augment import (
    PASCAL_CROP,
    PASCAL_SCALE_RANGE,
    build_eval_transform,
    build_pascal_eval_transform,
    build_pascal_train_transform,
    build_train_transform,
)
from dmtl.data.datasets import dataset_info
from dmtl.data.labelled import LabelledDataset
from dmtl.data.labels import check_label_mask, make_label_mask
from dmtl.data.option_checks import check_geometry, check_loader_options, check_root, check_sources
from dmtl.data.readers.checks import check_size_fits
from dmtl.data.readers.folder import with_available_labels
from dmtl.data.readers.image_folder import ImageFolderDataset, pad_collate
from dmtl.data.sampling import EpochShuffleSampler, ResumableLoader, ShardSampler
from dmtl.data.split_files import read_split_file
from dmtl.data.synthetic.dataset import SyntheticConfig
from dmtl.data.synthetic.variants import ensure_dataset_rendered
from dmtl.data.widening import widen_batch
from dmtl.errors import ConfigError
from dmtl.tasks import TaskSpec, resolve_tasks, standard_tasks

log = logging.getLogger(__name__)

DEFAULT_CACHE = Path.home() / ".cache" / "dmtl"
TRAIN_SPLIT, EVAL_SPLIT = "train", "val"  # the MTPSL protocol evaluates on its val split


class MultiTaskDataModule(pl.LightningDataModule):
    """Multi-task data with partial labels; the one place that knows the label setting.

    Batches follow the package contract: ``image`` (B, 3, H, W) normalised, ``targets``
    {task: tensor} for every task (labelled or not), ``labelled`` bool (B, K) in the order of
    ``tasks``, and ``meta`` {"name": [...], "index": (B,)}. The loaders hand class-id targets
    over as uint8; ``on_after_batch_transfer`` widens them to int64 on the device
    (``dmtl.data.widening``), so the model and the callbacks see int64.

    Args:
        dataset: ``synthetic``, ``synthetic_pascal``, ``synthetic_cityscapes`` (rendered on first
            use, offline), ``nyuv2``, ``cityscapes`` (``label_7``), ``cityscapes19`` (``label_19``),
            ``nyud`` (ATRC's NYUD-v2), ``pascal_context`` (real layouts) or ``folder`` (one's own
            data, docs/datasets.md).
        root: dataset root; for the synthetic datasets the cache directory it is rendered into
            (default ``~/.cache/dmtl``).
        tasks: tasks to train and evaluate (default: the dataset's standard tasks).
        label_setting: ``full``, ``onelabel`` or ``randomlabels``; ignored if ``split_file`` is
            given.
        split_file: a split file over ``label_tasks``: MTPSL ``{'labels_weights': [N, K]}``,
            a PASCAL ``.npy`` ``{task: [image ids]}`` or ``{image_id: [K ints]}``
            (``dmtl.data.split_files``).
        label_seed: seed of the drawn label setting.
        label_tasks: the task list the label setting is drawn over (default: the dataset's
            standard tasks, then any requested task outside them). A single-task run keeps the
            default, so that it sees exactly the labels the multi-task run sees for its task.
        synthetic: size and seed of the synthetic scenes (of every synthetic dataset).
        batch_size: training batch size.
        eval_batch_size: validation/test batch size (default: ``batch_size``).
        num_workers: loader worker processes (also the synthetic renderer's processes).
        augment: training augmentation of the dataset's protocol (MTPSL scale-crop, flip and
            jitter; PASCAL-Context and NYUD-v2 (ATRC's) scaling, crop, flip and photometric
            distortion).
        scales: scale factors of the MTPSL random scale-crop.
        crop_size: (H, W) of the training crops and of the evaluation padding of the ATRC-layout
            datasets (PASCAL-Context, default 512×512; NYUD-v2 needs at least its 425×560, the
            literature's 448×576); unused by the MTPSL datasets, which keep their native size.
        scale_range: range of the ATRC random scaling (PASCAL-Context, NYUD-v2).
        predict_dir: ``predict`` reads the images of this folder (any size; see
            ``dmtl.data.readers.image_folder``) instead of the evaluation split.
        pin_memory: page-locked batches, so the copy to the GPU overlaps compute (default:
            whenever CUDA is available).
        persistent_workers: keep the loader workers alive between epochs (no start-up pause per
            epoch); only with ``num_workers > 0``.
        prefetch_factor: batches each worker prepares ahead (only with ``num_workers > 0``).
        num_classes: class counts the dataset leaves to the config (``folder``: ``{semseg: N}``).
    """

    def __init__(
        self,
        dataset: str = "synthetic",
        root: str | None = None,
        tasks: list[str] | None = None,
        label_setting: str = "onelabel",
        split_file: str | None = None,
        label_seed: int = 0,
        label_tasks: list[str] | None = None,
        synthetic: SyntheticConfig = SyntheticConfig(),  # noqa: B008 (frozen, so shared is safe)
        batch_size: int = 8,
        eval_batch_size: int | None = None,
        num_workers: int = 2,
        augment: bool = True,
        scales: tuple[float, ...] = (1.0, 1.2, 1.5),
        crop_size: tuple[int, int] = PASCAL_CROP,
        scale_range: tuple[float, float] = PASCAL_SCALE_RANGE,
        predict_dir: str | None = None,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
        prefetch_factor: int = 2,
        num_classes: dict[str, int] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.dataset_info = dataset_info(dataset)  # the dataset's facts (dmtl.data.datasets)
        self.task_specs: list[TaskSpec] = resolve_tasks(dataset, tasks, num_classes)
        self.tasks = [t.name for t in self.task_specs]
        if label_tasks is None:  # standard tasks first (split-file columns), then any extra ones
            standard = standard_tasks(dataset)
            label_tasks = standard + [t for t in self.tasks if t not in standard]
        self.label_tasks = list(label_tasks)
        resolve_tasks(dataset, self.label_tasks, num_classes)
        missing = [t for t in self.tasks if t not in self.label_tasks]
        if missing:
            raise ConfigError(f"tasks {missing} are not in label_tasks {self.label_tasks}")
        check_sources(
            dataset, root, label_setting, split_file, predict_dir, self.dataset_info.synthetic
        )
        check_loader_options(batch_size, eval_batch_size, num_workers, prefetch_factor)
        check_geometry(scales, crop_size, scale_range)
        self.predict_dir = predict_dir
        self.dataset = dataset
        self.root = root
        self.synthetic = synthetic
        self.batch_size = batch_size
        self.eval_batch_size = batch_size if eval_batch_size is None else eval_batch_size
        self.num_workers = num_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.persistent_workers = persistent_workers
        self.prefetch_factor = prefetch_factor
        self.augment = augment
        self.scales = tuple(scales)
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.scale_range = (float(scale_range[0]), float(scale_range[1]))
        self.label_setting, self.split_file, self.label_seed = label_setting, split_file, label_seed
        self.labelled: torch.Tensor | None = None  # bool (N_train, K) once set up
        self._set_up: str | None = None  # the stage the datasets were opened for

    def prepare_data(self) -> None:
        """Render the synthetic scenes once (rank 0 only), then open and check the data.

        Lightning calls this before the logger touches the run folder, so bad data (``setup``)
        stops the run with every earlier file intact.
        """
        if self._predicts_folder():
            return
        if self.dataset_info.synthetic:
            self._render(workers=max(self.num_workers, 1))
        if self.trainer is not None and self.trainer.state.fn is not None:
            self.setup(self.trainer.state.fn.value)

    def setup(self, stage: str | None = None) -> None:
        """Open and check the datasets and fix the label mask (fails here, before any step)."""
        if stage is not None and stage == self._set_up:  # done in prepare_data
            return
        self._set_up = stage
        if stage == "predict" and self.predict_dir is not None:
            self.predict_set = ImageFolderDataset(self.predict_dir)
            return
        root = self._dataset_root()
        classes = self.hparams.num_classes
        pascal = self.dataset_info.protocol == "atrc"
        eval_tf = build_pascal_eval_transform(*self.crop_size) if pascal else build_eval_transform()
        val = self.dataset_info.open(
            root, EVAL_SPLIT, self.tasks, transform=eval_tf, num_classes=classes
        )
        stride = self._backbone_stride()
        if pascal:  # ATRC-layout images reach the network cropped or padded to crop_size
            check_size_fits(self.crop_size, stride, "data.crop_size")
        val.check_files(stride)  # every file's shape, a few samples in full: before any step
        self.val_set = LabelledDataset(val, torch.ones(len(val), len(self.tasks), dtype=torch.bool))
        if stage in (None, "fit"):
            train = self.dataset_info.open(root, TRAIN_SPLIT, self.tasks, num_classes=classes)
            train.check_files(stride)
            if self.augment and pascal:
                train.transform = build_pascal_train_transform(
                    *self.crop_size, scale_range=self.scale_range
                )
            elif self.augment:  # the scale-crop returns images of the training size
                height, width = train.load_sample(0)["image"].shape[:2]
                train.transform = build_train_transform(
                    height, width, self.scales, inverse_depth=self.dataset_info.inverse_depth
                )
            else:
                train.transform = eval_tf
            if self.split_file is not None:
                full = read_split_file(self.split_file, train.sample_ids, self.label_tasks)
            else:
                full = make_label_mask(
                    self.label_setting, len(train), len(self.label_tasks), self.label_seed
                )
            columns = [self.label_tasks.index(t) for t in self.tasks]
            self.labelled = with_available_labels(train, full[:, columns], self.split_file)
            source = self.split_file or f"label setting {self.label_setting!r}"
            check_label_mask(self.labelled, self.tasks, f"{source} of data.tasks")
            self.train_set = LabelledDataset(train, self.labelled)
            counts = self.labelled.sum(0).tolist()
            log.info("label mask: %s labelled (sample, task) pairs per task %s", counts, self.tasks)

    def train_dataloader(self) -> DataLoader:
        """Shuffled by (seed, epoch) per process shard; resumable in the middle of an epoch."""
        world, rank = self._world()
        seed = int(os.environ.get("PL_GLOBAL_SEED", 0))  # set by --seed_everything
        sampler = EpochShuffleSampler(self.train_set, world, rank, seed=seed)
        return ResumableLoader(
            self.train_set,
            sampler=sampler,
            drop_last=len(sampler) >= self.batch_size,
            **self._loader_kwargs(self.batch_size),
        )

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader(self.val_set)

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader(self.val_set)

    def predict_dataloader(self) -> DataLoader:
        if self.predict_dir is None:
            return self._eval_loader(self.val_set)
        world, rank = self._world()
        sampler = ShardSampler(self.predict_set, world, rank)
        kwargs = self._loader_kwargs(self.eval_batch_size)
        return DataLoader(self.predict_set, sampler=sampler, collate_fn=pad_collate, **kwargs)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """The batch with its compact class-id maps widened (uint8 -> int64) on its device."""
        return widen_batch(batch, self.task_specs)

    def _eval_loader(self, data: Dataset) -> DataLoader:
        """Every sample exactly once over all processes (no padded duplicates in the metrics)."""
        world, rank = self._world()
        sampler = ShardSampler(data, world, rank)
        return DataLoader(data, sampler=sampler, **self._loader_kwargs(self.eval_batch_size))

    def _loader_kwargs(self, batch_size: int) -> dict:
        workers = self.num_workers > 0
        return {
            "batch_size": batch_size,
            "num_workers": self.num_workers,
            "persistent_workers": self.persistent_workers and workers,
            "pin_memory": self.pin_memory,
            "prefetch_factor": self.prefetch_factor if workers else None,
        }

    def _predicts_folder(self) -> bool:
        return self.predict_dir is not None and self.trainer is not None and self.trainer.predicting

    def _backbone_stride(self) -> int | None:
        """The coarsest stride of the attached model's backbone (``None`` without one)."""
        net = getattr(getattr(self.trainer, "lightning_module", None), "net", None)
        return getattr(getattr(net, "backbone", None), "max_stride", None)

    def _world(self) -> tuple[int, int]:
        """(world size, global rank) of the attached trainer; (1, 0) without one."""
        trainer = self.trainer
        if trainer is None:
            return 1, 0
        return trainer.world_size, trainer.global_rank

    def _cache_dir(self) -> Path:
        return Path(self.root) if self.root is not None else DEFAULT_CACHE

    def _dataset_root(self) -> Path:
        if self.dataset_info.synthetic:
            return self._render(workers=1)
        check_root(self.dataset, self.root)  # not checked at init when predict_dir was given
        return Path(self.root)

    def _render(self, workers: int) -> Path:
        """The root of the rendered synthetic dataset (rendered now if not cached)."""
        return ensure_dataset_rendered(self._cache_dir(), self.dataset, self.synthetic, workers)
