"""``LabelledDataset``: a dataset's samples with their label-availability row and meta data."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset


class LabelledDataset(Dataset):
    """Adds the sample's label-availability row and meta data to the samples of a dataset.

    Args:
        base: a dataset whose samples are ``{"image", "targets", "name"}`` (after the transform).
        labelled: bool (N, K), row i for sample i.
    """

    def __init__(self, base: Dataset, labelled: torch.Tensor) -> None:
        self.base = base
        self.labelled = labelled

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict:
        sample = self.base[index]
        return {
            "image": sample["image"],
            "targets": sample["targets"],
            "labelled": self.labelled[index],
            "meta": {"name": sample["name"], "index": index},
        }
