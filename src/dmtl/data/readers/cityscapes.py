"""Cityscapes in the MTPSL/MTAN ``.npy`` layout.

On disk::

    root/{train,val}/image/{i}.npy      float (128, 256, 3) in [0, 1]
    root/{train,val}/label_7/{i}.npy    float (128, 256), 7 classes 0..6, -1 = unlabelled
    root/{train,val}/label_19/{i}.npy   float (128, 256), 19 classes 0..18, -1 = unlabelled
    root/{train,val}/depth/{i}.npy      float (128, 256, 1) inverse depth, 0 = invalid

2,975 training / 500 validation samples. Depth stays inverse depth (the disparity-derived values
MTAN distributes; larger = closer): it is the target the protocol trains on and evaluates (absErr on
inverse depth, as in MTPSL), so a zoom by s multiplies it by s (``dmtl.data.augment``).
Dataset ``cityscapes`` reads ``label_7`` (the protocol's default), ``cityscapes19`` reads
``label_19``; the reading itself is ``dmtl.data.readers.mtpsl``'s.
"""

from __future__ import annotations

from dmtl.data.datasets import dataset_info
from dmtl.data.readers.mtpsl import MTPSLDataset


class CityscapesDataset(MTPSLDataset):
    """Cityscapes split with 7 classes (``label_7``) and inverse depth; see ``MTPSLDataset``."""

    DATASET = "Cityscapes"
    TASK_FOLDERS = {"semseg": "label_7", "depth": "depth"}
    NUM_CLASSES = dataset_info("cityscapes").channels["semseg"]


class Cityscapes19Dataset(MTPSLDataset):
    """Cityscapes split with 19 classes (``label_19``) and inverse depth; see ``MTPSLDataset``."""

    DATASET = "Cityscapes"
    TASK_FOLDERS = {"semseg": "label_19", "depth": "depth"}
    NUM_CLASSES = dataset_info("cityscapes19").channels["semseg"]
