"""Semantic segmentation metrics: mIoU and pixel accuracy from a split-wide confusion matrix."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from dmtl.errors import ConfigError, DataError
from dmtl.tasks import IGNORE_INDEX

# Results are reported in percent, as the literature does.
PERCENT = 100.0


def _check_segmentation_inputs(preds: Tensor, target: Tensor, num_classes: int) -> None:
    """Raise DataError unless preds are (B, C, H, W) logits or (B, H, W) labels fitting target."""
    if target.dim() != 3:
        raise DataError(f"segmentation target must be (B, H, W), got shape {tuple(target.shape)}")
    if preds.dim() == 4:
        if preds.shape[1] != num_classes:
            raise DataError(
                f"segmentation logits have {preds.shape[1]} channels, "
                f"expected {num_classes} classes"
            )
        spatial = preds.shape[:1] + preds.shape[2:]
    elif preds.dim() == 3:
        spatial = preds.shape
    else:
        raise DataError(
            f"segmentation prediction must be (B, C, H, W) logits or (B, H, W) labels, "
            f"got shape {tuple(preds.shape)}"
        )
    if spatial != target.shape:
        raise DataError(
            f"segmentation prediction {tuple(preds.shape)} does not match "
            f"target {tuple(target.shape)}"
        )


def _segmentation_update(
    preds: Tensor, target: Tensor, num_classes: int, ignore_index: int
) -> Tensor:
    """Confusion matrix of one batch.

    Args:
        preds: logits (B, C, H, W), or predicted labels (B, H, W).
        target: labels (B, H, W); ``ignore_index`` marks unlabelled pixels.
        num_classes: C.
        ignore_index: target value excluded from the matrix.

    Returns:
        int64 (C, C) matrix; entry [g, p] counts pixels of true class g predicted as p.
    """
    labels = preds.argmax(dim=1) if preds.dim() == 4 else preds
    target = target.long()
    valid = target != ignore_index
    overflow = num_classes * num_classes  # an extra bin that collects ignored pixels
    # Routing ignored pixels to the overflow bin instead of boolean indexing keeps the
    # update free of host synchronisation (no data-dependent shapes).
    flat = torch.where(valid, target * num_classes + labels.long(), overflow)
    counts = torch.bincount(flat.reshape(-1), minlength=overflow + 1)
    return counts[:overflow].reshape(num_classes, num_classes)


def _ignore_background_only(target: Tensor, background: int, ignore_index: int) -> Tensor:
    """``target`` (B, H, W) with every image that has no labelled non-background pixel set to
    ``ignore_index`` (batched: no loop over images)."""
    foreground = (target != ignore_index) & (target != background)
    keep = foreground.flatten(1).any(dim=1).view(-1, 1, 1)
    return torch.where(keep, target, torch.full_like(target, ignore_index))


def _segmentation_compute(confmat: Tensor) -> dict[str, Tensor]:
    """mIoU and pixel accuracy (percent) of a (C, C) confusion matrix.

    Classes whose union is empty (absent from both target and prediction over the whole split)
    are left out of the mean; with no such class at all the mIoU is NaN, and with no labelled
    pixel the pixel accuracy is NaN.
    """
    confmat = confmat.double()
    intersection = confmat.diagonal()
    union = confmat.sum(dim=0) + confmat.sum(dim=1) - intersection
    present = union > 0
    iou = intersection / union.clamp(min=1.0)
    num_present = present.sum()
    nan = torch.full((), float("nan"), dtype=confmat.dtype, device=confmat.device)
    miou = torch.where(num_present > 0, (iou * present).sum() / num_present.clamp(min=1), nan)
    total = confmat.sum()
    pixel_acc = torch.where(total > 0, intersection.sum() / total.clamp(min=1.0), nan)
    return {"miou": miou * PERCENT, "pixel_acc": pixel_acc * PERCENT}


class SegmentationMetrics(Metric):
    """Mean IoU and pixel accuracy of semantic segmentation, over a whole split.

    The state is one (C, C) confusion matrix summed over batches (and over processes under DDP),
    so the result is the dataset-level mIoU of the literature, not a mean of per-batch values.
    mIoU agrees with torchmetrics' ``MulticlassJaccardIndex(average="macro", ignore_index=...)``:
    classes absent from both target and prediction are excluded from the mean.

    With ``skip_background_only``, an image whose labelled pixels are all ``background`` (or
    that has none) contributes nothing: the human-parts protocol of the literature evaluates
    only images that show a person (PASCAL-Context readers give the others an all-background
    or all-ignore part map); in the images it keeps, background pixels count as class 0.

    ``compute()`` returns ``{"miou": ..., "pixel_acc": ...}`` in percent (scalar float64 tensors).

    Args:
        num_classes: number of classes C.
        ignore_index: target value of unlabelled pixels.
        skip_background_only: skip images without a labelled non-background pixel.
        background: the background class index (used by ``skip_background_only``).
        validate_args: check that target labels lie in [0, C) or equal ``ignore_index``; this
            costs one host synchronisation per update.
        kwargs: passed to ``torchmetrics.Metric``.
    """

    full_state_update = False
    higher_is_better = True
    is_differentiable = False
    higher_is_better_by_key = {"miou": True, "pixel_acc": True}

    confmat: Tensor

    def __init__(
        self,
        num_classes: int,
        ignore_index: int = IGNORE_INDEX,
        validate_args: bool = True,
        skip_background_only: bool = False,
        background: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ConfigError(f"num_classes must be a positive integer, got {num_classes!r}")
        if 0 <= ignore_index < num_classes:
            raise ConfigError(
                f"ignore_index {ignore_index} is a valid class index (num_classes={num_classes})"
            )
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.validate_args = validate_args
        self.skip_background_only = skip_background_only
        self.background = background
        self.add_state(
            "confmat",
            default=torch.zeros(num_classes, num_classes, dtype=torch.long),
            dist_reduce_fx="sum",
        )

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Add a batch.

        Args:
            preds: logits (B, C, H, W) or labels (B, H, W), at the target's resolution.
            target: labels (B, H, W), ``ignore_index`` for unlabelled pixels.
        """
        _check_segmentation_inputs(preds, target, self.num_classes)
        if self.validate_args:
            target_long = target.long()
            bad = (target_long != self.ignore_index) & (
                (target_long < 0) | (target_long >= self.num_classes)
            )
            if bool(bad.any()):
                values = torch.unique(target_long[bad]).tolist()
                raise DataError(
                    f"segmentation target holds labels {values[:10]} outside "
                    f"[0, {self.num_classes}) that are not ignore_index={self.ignore_index}"
                )
        if self.skip_background_only:
            target = _ignore_background_only(target, self.background, self.ignore_index)
        self.confmat += _segmentation_update(preds, target, self.num_classes, self.ignore_index)

    def compute(self) -> dict[str, Tensor]:
        """Return ``{"miou", "pixel_acc"}`` in percent over everything seen since the last reset."""
        return _segmentation_compute(self.confmat)
