"""Semantic segmentation (semseg, human parts): class logits against class-id maps."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from dmtl.errors import DataError
from dmtl.tasks.kinds.base import DECODE_EPS, IGNORE_INDEX, MetricOptions, TaskKind, ignore_index_of
from dmtl.tasks.kinds.colours import IGNORE_COLOUR, palette

if TYPE_CHECKING:
    from torchmetrics import Metric

    from dmtl.losses.masked import NormalsLoss
    from dmtl.tasks.registry import TaskSpec

CONSTANT_LOGIT = 10.0  # logit of the class a constant prediction picks (the others get 0)


class SegmentationKind(TaskKind):
    """Targets (H, W) int64 class ids with ``spec.ignore_index`` unlabelled; logits (C, H, W).

    The loader hands them over as uint8 (``loader_dtype``: every reader's ids and its ignore
    value 255 fit, ``prepare_array`` checks it), and ``widen`` makes them int64 on the device.

    Loss: cross-entropy. Metric: mIoU (``SegmentationMetrics``). Prediction: the class id.
    Encoding: softmax(logits) * 2 - 1.
    """

    name = "segmentation"
    class_ids = True
    units = {"miou": "%", "pixel_acc": "%"}
    invalid_value = IGNORE_INDEX
    loader_dtype = torch.uint8
    target_dtype = torch.int64
    joint_space = "probability"

    def valid_pixels(self, spec: TaskSpec, target: torch.Tensor) -> torch.Tensor:
        """Pixels whose class id is not ``spec.ignore_index``."""
        return target != spec.ignore_index

    def pixel_loss(
        self, pred: torch.Tensor, safe: torch.Tensor, valid: torch.Tensor, normals_loss: NormalsLoss
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy of the logits against the class ids."""
        return F.cross_entropy(pred, safe.long(), reduction="none"), valid

    def postprocess(self, pred: torch.Tensor) -> torch.Tensor:
        """Class ids (B, H, W)."""
        return pred.argmax(1)

    def encode(self, raw: torch.Tensor, depth_scale: float) -> torch.Tensor:
        """Class probabilities mapped to [-1, 1]."""
        return raw.softmax(dim=1) * 2 - 1

    def decode(self, encoded: torch.Tensor, depth_scale: float) -> torch.Tensor:
        """log p of the clamped, renormalised probabilities (logits up to a constant)."""
        prob = ((encoded + 1) / 2).clamp(DECODE_EPS, 1 - DECODE_EPS)
        return (prob / prob.sum(dim=1, keepdim=True)).log()

    def colour_map(
        self, spec: TaskSpec, value: torch.Tensor, depth_range: tuple[float, float]
    ) -> np.ndarray:
        """A palette colour per class (of the argmax for logits), black where ignored."""
        labels = value.argmax(0) if value.ndim == 3 else value.long()
        ignore = labels == spec.ignore_index
        rgb = palette(spec.channels)[labels.clamp(0, spec.channels - 1).numpy()]
        rgb[ignore.numpy()] = IGNORE_COLOUR
        return rgb

    def joint_prediction(
        self, pred: torch.Tensor, gumbel: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The hard Gumbel-softmax one-hot (τ = 1) with the soft one's straight-through gradient.

        ``gumbel`` None uses no noise (MTPSL).
        """
        logits = pred if gumbel is None else pred + gumbel
        soft = logits.softmax(dim=1)
        hard = F.one_hot(soft.argmax(dim=1), pred.shape[1]).permute(0, 3, 1, 2).to(soft.dtype)
        return hard - soft.detach() + soft

    def joint_label(
        self, spec: TaskSpec, safe: torch.Tensor, valid: torch.Tensor, dtype: torch.dtype
    ) -> torch.Tensor:
        """One-hot class ids (B, C, H, W), zero at ignored pixels."""
        shape = (safe.shape[0], spec.channels, *safe.shape[1:])
        hot = torch.zeros(shape, dtype=dtype, device=safe.device)
        return hot.scatter_(1, safe.long().unsqueeze(1), valid.unsqueeze(1).to(dtype))

    def view_distance(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """KL(softmax(target) || softmax(pred)) over the classes: soft-target cross-entropy
        less the target's entropy, so 0 where the two agree."""
        log_p, log_q = pred.log_softmax(dim=1), target.log_softmax(dim=1)
        return (log_q.exp() * (log_q - log_p)).sum(dim=1)

    def build_metric(self, spec: TaskSpec, options: MetricOptions) -> Metric:
        """``SegmentationMetrics``; background-only images skipped if the task is so named."""
        # dmtl.metrics imports dmtl.tasks, which imports the kinds: import it when first needed.
        from dmtl.metrics.segmentation import SegmentationMetrics

        return SegmentationMetrics(
            spec.channels,
            ignore_index=ignore_index_of(spec),
            skip_background_only=spec.name in options.skip_background_only,
            absent_class=options.absent_class,
        )

    def best_constant(self, spec: TaskSpec, target: torch.Tensor) -> int:
        """The most frequent labelled class."""
        valid = target[target != spec.ignore_index]
        return int(torch.bincount(valid.flatten(), minlength=spec.channels).argmax())

    def constant_prediction(
        self, spec: TaskSpec, constant: object, like: torch.Tensor
    ) -> torch.Tensor:
        """Logits with ``CONSTANT_LOGIT`` for the class ``constant`` and 0 for the others."""
        b, h, w = like.shape[0], like.shape[-2], like.shape[-1]
        logits = F.one_hot(torch.tensor(constant), spec.channels).float() * CONSTANT_LOGIT
        return logits.view(1, -1, 1, 1).expand(b, -1, h, w)

    def prepare_array(self, array: np.ndarray, where: str) -> np.ndarray:
        """Class ids as uint8 (OpenCV cannot resize int64; the ids and 255 fit in uint8).

        Raises:
            DataError: an id outside 0..255.
        """
        if (
            array.dtype != np.uint8
            and array.size
            and (array.min() < 0 or array.max() > IGNORE_INDEX)
        ):  # uint8 ids lie in 0..255 already
            raise DataError(f"{where} ids must lie in 0..{IGNORE_INDEX}")
        return array.astype(np.uint8, copy=False)  # never written to: no copy of uint8 ids

    def to_tensor(self, array: np.ndarray) -> torch.Tensor:
        """Class ids (H, W) uint8 (``loader_dtype``), the array itself where it is one already.

        A fresh array is made only for one that is not uint8, not contiguous or not writable
        (a read-only view of a decoded file, say): the tensor then never shares memory that
        others may not expect it to.
        """
        if array.dtype != np.uint8:  # checked: ids outside 0..255 are refused, never wrapped
            array = self.prepare_array(array, "class ids")
        return torch.from_numpy(np.require(array, None, ("C_CONTIGUOUS", "WRITEABLE")))
