"""Boundaries (edges): one logit channel against a 0/1 map with ``spec.ignore_index`` unlabelled."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from dmtl.errors import ConfigError, DataError
from dmtl.tasks.kinds.base import DECODE_EPS, IGNORE_INDEX, MetricOptions, TaskKind, ignore_index_of

if TYPE_CHECKING:
    from torchmetrics import Metric

    from dmtl.losses.masked import NormalsLoss
    from dmtl.tasks.registry import TaskSpec

# boundary pixels are rare: weight positives up (as in the literature)
EDGE_POS_WEIGHT = 0.95 / 0.05
RELEASED_EDGE_SCALE = 0.05  # the released code scales the boundary loss by this


class BoundaryKind(TaskKind):
    """Targets (1, H, W) float 0/1 with ``spec.ignore_index`` unlabelled; one logit per pixel.

    The loader hands them over as uint8 (``loader_dtype``: 0, 1 and the ignore value 255 fit,
    ``to_tensor`` checks it), and ``widen`` makes them float32 on the device, exactly: every
    uint8 value is a float32.

    Loss: BCE with positives weighted ``EDGE_POS_WEIGHT``. Metric: the boundary F-measure
    (``BoundaryMetrics`` or, with ``boundary_metric="ods"``, ``BoundaryODSMetrics``). Prediction:
    the edge probability. Encoding: sigmoid(logit) * 2 - 1.
    """

    name = "boundary"
    units = {"f1": "%"}
    invalid_value = IGNORE_INDEX
    loader_dtype = torch.uint8
    target_dtype = torch.float32
    joint_space = "probability"

    def valid_pixels(self, spec: TaskSpec, target: torch.Tensor) -> torch.Tensor:
        """Pixels whose target is not ``spec.ignore_index``."""
        return target != spec.ignore_index

    def pixel_loss(
        self, pred: torch.Tensor, safe: torch.Tensor, valid: torch.Tensor, normals_loss: NormalsLoss
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Binary cross-entropy of the logit, positives weighted ``EDGE_POS_WEIGHT``."""
        pos_weight = torch.tensor(EDGE_POS_WEIGHT, device=pred.device, dtype=pred.dtype)
        pixel = F.binary_cross_entropy_with_logits(
            pred, safe.to(pred.dtype), pos_weight=pos_weight, reduction="none"
        )
        return pixel, valid

    def released_loss(
        self,
        spec: TaskSpec,
        pred: torch.Tensor,
        target: torch.Tensor,
        use: torch.Tensor,
        normals_loss: NormalsLoss = "l1",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The package's loss scaled by ``RELEASED_EDGE_SCALE``."""
        loss, has = self.per_sample_loss(spec, pred, target, use, normals_loss)
        return loss * RELEASED_EDGE_SCALE, has

    def postprocess(self, pred: torch.Tensor) -> torch.Tensor:
        """Edge probabilities."""
        return torch.sigmoid(pred)

    def encode(self, raw: torch.Tensor, depth_scale: float) -> torch.Tensor:
        """The edge probability mapped to [-1, 1]."""
        return raw.sigmoid() * 2 - 1

    def decode(self, encoded: torch.Tensor, depth_scale: float) -> torch.Tensor:
        """The logit of the clamped probability."""
        return ((encoded + 1) / 2).clamp(DECODE_EPS, 1 - DECODE_EPS).logit()

    def colour_map(
        self, spec: TaskSpec, value: torch.Tensor, depth_range: tuple[float, float]
    ) -> np.ndarray:
        """Grey levels of the probability (of the sigmoid for a map outside [0, 1])."""
        edge = value[0]
        prob = torch.sigmoid(edge) if edge.min() < 0 or edge.max() > 1 else edge
        grey = (prob.clamp(0, 1).numpy() * 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)

    def view_distance(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Binary KL(σ(target) || σ(pred)) of the edge probabilities, 0 where they agree."""
        log_p, log_q = F.logsigmoid(pred), F.logsigmoid(target)
        log_np, log_nq = F.logsigmoid(-pred), F.logsigmoid(-target)
        kl = log_q.exp() * (log_q - log_p) + log_nq.exp() * (log_nq - log_np)
        return kl.sum(dim=1)

    def build_metric(self, spec: TaskSpec, options: MetricOptions) -> Metric:
        """The dilation (``dilation``) or the thinned, matched ODS (``ods``) F-measure.

        Raises:
            ConfigError: an unknown ``boundary_metric``.
        """
        # dmtl.metrics imports dmtl.tasks, which imports the kinds: import it when first needed.
        from dmtl.metrics.boundary import BoundaryMetrics
        from dmtl.metrics.boundary_ods import BoundaryODSMetrics

        ignore_index = ignore_index_of(spec)
        if options.boundary_metric == "dilation":
            return BoundaryMetrics(
                thresholds=options.boundary_thresholds,
                tolerance_px=options.boundary_tolerance_px,
                ignore_index=ignore_index,
            )
        if options.boundary_metric == "ods":
            return BoundaryODSMetrics(
                thresholds=options.boundary_thresholds,
                max_dist=options.boundary_max_dist,
                ignore_index=ignore_index,
            )
        raise ConfigError(
            f"unknown boundary_metric {options.boundary_metric!r}; use 'dilation' or 'ods'"
        )

    def best_constant(self, spec: TaskSpec, target: torch.Tensor) -> float:
        """Probability 0: no edge anywhere."""
        return 0.0

    def prepare_array(self, array: np.ndarray, where: str) -> np.ndarray:
        """A uint8 map as it is (a compact reader's), any other as float32; (H, W) either way."""
        if array.dtype != np.uint8:
            return super().prepare_array(array, where)
        return array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array

    def to_tensor(self, array: np.ndarray) -> torch.Tensor:
        """The map (H, W) as (1, H, W) uint8 (``loader_dtype``), the array itself where it can be.

        Raises:
            DataError: a value that uint8 does not hold exactly (edges are 0, 1 or 255).
        """
        if array.dtype != np.uint8:
            with np.errstate(invalid="ignore"):  # NaN and values out of range: refused below
                compact = array.astype(np.uint8)
            if not np.array_equal(compact, array):
                raise DataError(
                    f"boundary targets must hold 0, 1 or the ignore value {IGNORE_INDEX} "
                    f"(integers in 0..255), got values such as {array[compact != array][:3]}"
                )
            array = compact
        return torch.from_numpy(np.require(array[None], None, ("C_CONTIGUOUS", "WRITEABLE")))
