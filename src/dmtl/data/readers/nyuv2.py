"""NYUv2 in the MTPSL/MTAN ``.npy`` layout (also the layout of the built-in synthetic data).

On disk::

    root/{train,val}/image/{i}.npy    float (H, W, 3) in [0, 1]
    root/{train,val}/label/{i}.npy    float (H, W), classes 0..12, -1 = unlabelled
    root/{train,val}/depth/{i}.npy    float (H, W, 1) metres, 0 = invalid
    root/{train,val}/normal/{i}.npy   float (H, W, 3) unit vectors, all-zero = invalid
    root/{train,val}/edge/{i}.npy     float (H, W) in {0, 1} (synthetic data only)

795 training / 654 validation samples of 288×384 as distributed with MTPSL. The reading itself is
``dmtl.data.readers.mtpsl``'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from dmtl.data.datasets import dataset_info
from dmtl.data.readers.mtpsl import TASK_FOLDERS, MTPSLDataset, write_mtpsl_sample
from dmtl.data.readers.mtpsl import validate_layout as _validate_layout

NUM_CLASSES = dataset_info("nyuv2").channels["semseg"]


class NYUv2Dataset(MTPSLDataset):
    """NYUv2 (or synthetic) split: ``semseg`` (13 classes), ``depth`` (metres), ``normals``,
    ``edge`` (synthetic only). See ``MTPSLDataset`` for the sample format and errors."""

    DATASET = "NYUv2"
    TASK_FOLDERS = TASK_FOLDERS
    NUM_CLASSES = NUM_CLASSES


def validate_layout(root: str | Path, split: str, tasks: Sequence[str]) -> int:
    """Check the NYUv2 layout of one split without loading arrays; return its size N."""
    return _validate_layout(root, split, tasks, TASK_FOLDERS, NYUv2Dataset.DATASET)


def write_nyuv2_sample(
    root: str | Path, split: str, index: int, arrays: Mapping[str, np.ndarray]
) -> None:
    """Write one sample in the NYUv2 layout (see ``dmtl.data.readers.mtpsl.write_mtpsl_sample``)."""
    write_mtpsl_sample(root, split, index, arrays, TASK_FOLDERS)
