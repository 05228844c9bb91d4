"""The data module's options, checked when it is built: one line naming ``data.<key>`` per error.

Everything here reads only the options and the file system's directory entries, so a bad value
stops the run before a dataset is opened, a scene rendered or a file written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dmtl.config.checks as check
from dmtl.data.labels import LABEL_SETTINGS
from dmtl.errors import ConfigError, MissingDataError


def check_loader_options(
    batch_size: int, eval_batch_size: int | None, num_workers: int, prefetch_factor: int
) -> None:
    """Batch sizes >= 1 (``eval_batch_size`` ``None`` means ``batch_size``), workers >= 0.

    Raises:
        ConfigError: a value out of range, naming its key.
    """
    check.integer_at_least("data.batch_size", batch_size, 1)
    if eval_batch_size is not None:  # 0 would otherwise silently mean batch_size
        check.integer_at_least("data.eval_batch_size", eval_batch_size, 1)
    check.integer_at_least("data.num_workers", num_workers, 0)
    check.integer_at_least("data.prefetch_factor", prefetch_factor, 1)


def check_geometry(
    scales: Sequence[float], crop_size: Sequence[int], scale_range: Sequence[float]
) -> None:
    """Positive scale factors, a crop of two positive sizes, 0 < low <= high scaling.

    Raises:
        ConfigError: a value out of range, naming its key.
    """
    if not scales:
        raise ConfigError("data.scales must hold at least one scale factor, got []")
    for scale in scales:
        check.positive("data.scales", scale)
    if len(crop_size) != 2 or min(crop_size) <= 0:
        raise ConfigError(f"data.crop_size must be two positive sizes (H, W), got {crop_size}")
    if len(scale_range) != 2 or not 0 < scale_range[0] <= scale_range[1]:
        raise ConfigError(
            f"data.scale_range must be (low, high) with 0 < low <= high, got {scale_range}"
        )


def check_sources(
    dataset: str,
    root: str | None,
    label_setting: str,
    split_file: str | None,
    predict_dir: str | None,
    rendered: bool,
) -> None:
    """The label setting is known and the root, split file and predict folder exist.

    Args:
        dataset: the dataset name (for the messages).
        root: the dataset root.
        label_setting: ignored when a split file is given.
        split_file: a split file or ``None``.
        predict_dir: a folder of images or ``None``.
        rendered: the dataset is rendered on first use (``DatasetInfo.synthetic``): it needs
            no root.

    Raises:
        ConfigError: an unknown label setting.
        MissingDataError: a path that does not exist.
    """
    if split_file is None and label_setting not in LABEL_SETTINGS:
        raise ConfigError(
            f"unknown label setting {label_setting!r}; choose one of "
            f"{', '.join(LABEL_SETTINGS)} or give data.split_file"
        )
    if split_file is not None and not Path(split_file).is_file():
        raise MissingDataError(f"split file {split_file} does not exist")
    if not rendered and (root is not None or predict_dir is None):
        check_root(dataset, root)
    if predict_dir is not None and not Path(predict_dir).is_dir():
        raise MissingDataError(f"predict folder {predict_dir} does not exist")


def check_root(dataset: str, root: str | None) -> None:
    """The root of a dataset that is not rendered exists.

    Raises:
        MissingDataError: no root given, or no such folder.
    """
    if root is None:
        raise MissingDataError(f"dataset {dataset!r} needs its folder: give --data.root=DIR")
    if not Path(root).is_dir():
        raise MissingDataError(f"dataset root {root} of dataset {dataset!r} does not exist")
