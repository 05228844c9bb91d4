"""Depth (metres, or inverse depth on Cityscapes): one float channel, 0 where unknown."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from dmtl.tasks.kinds.base import MetricOptions, TaskKind
from dmtl.tasks.kinds.colours import IGNORE_COLOUR

if TYPE_CHECKING:
    from torchmetrics import Metric

    from dmtl.losses.masked import NormalsLoss
    from dmtl.tasks.registry import TaskSpec

JOINT_DEPTH_EPS = 1e-6  # a cross-task mapping's per-sample depth maximum is at least this


class DepthKind(TaskKind):
    """Targets (1, H, W) float, valid where finite and positive; predictions in the same unit.

    Loss: L1. Metric: absolute and relative errors (``DepthMetrics``). Encoding: the linear map
    depth / depth_scale * 2 - 1 (0 -> -1, depth_scale -> +1).
    """

    name = "depth"
    zoom_power = -1
    units = {"abs_err": "m", "rmse": "m", "delta1": "%"}

    def valid_pixels(self, spec: TaskSpec, target: torch.Tensor) -> torch.Tensor:
        """Finite, positive depths."""
        return torch.isfinite(target) & (target > 0)

    def pixel_loss(
        self, pred: torch.Tensor, safe: torch.Tensor, valid: torch.Tensor, normals_loss: NormalsLoss
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Absolute error."""
        return (pred - safe).abs(), valid

    def encode(self, raw: torch.Tensor, depth_scale: float) -> torch.Tensor:
        """Depth mapped linearly onto [-1, 1] over [0, depth_scale]."""
        return raw / depth_scale * 2 - 1

    def decode(self, encoded: torch.Tensor, depth_scale: float) -> torch.Tensor:
        """Depth back from the linear map (no clamp)."""
        return (encoded + 1) / 2 * depth_scale

    def colour_map(
        self, spec: TaskSpec, value: torch.Tensor, depth_range: tuple[float, float]
    ) -> np.ndarray:
        """Viridis over ``depth_range``, black where the depth is not positive."""
        lo, hi = depth_range
        scaled = ((value[0] - lo) / max(hi - lo, 1e-6)).clamp(0, 1).numpy()
        rgb = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)[..., ::-1]
        rgb = np.ascontiguousarray(rgb)
        rgb[value[0].numpy() <= 0] = IGNORE_COLOUR
        return rgb

    def metric_units(self, metrics: Iterable[str], inverse_depth: bool = False) -> dict[str, str]:
        """Metres for the errors, except of inverse depth (no unit)."""
        units = super().metric_units(metrics)
        return {n: u for n, u in units.items() if u != "m"} if inverse_depth else units

    def value_range(self, target: torch.Tensor) -> tuple[float, float] | None:
        """The smallest and largest positive depth of ``target`` (None if none)."""
        valid = target[target > 0]
        return (float(valid.min()), float(valid.max())) if valid.numel() else None

    def joint_prediction(
        self, pred: torch.Tensor, gumbel: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Depth over the sample's largest magnitude."""
        return pred / pred.abs().amax(dim=(1, 2, 3), keepdim=True).clamp(min=JOINT_DEPTH_EPS)

    def joint_label(
        self, spec: TaskSpec, safe: torch.Tensor, valid: torch.Tensor, dtype: torch.dtype
    ) -> torch.Tensor:
        """Depth over the sample's largest depth."""
        safe = safe.to(dtype)
        return safe / safe.amax(dim=(1, 2, 3), keepdim=True).clamp(min=JOINT_DEPTH_EPS)

    def build_metric(self, spec: TaskSpec, options: MetricOptions) -> Metric:
        """``DepthMetrics``."""
        # dmtl.metrics imports dmtl.tasks, which imports the kinds: import it when first needed.
        from dmtl.metrics.depth import DepthMetrics

        return DepthMetrics(clamp_min=options.depth_clamp_min)

    def best_constant(self, spec: TaskSpec, target: torch.Tensor) -> float:
        """The median of the positive depths (it minimises the absolute error)."""
        return float(target[target > 0].median())

    def correct_geometry(
        self, array: np.ndarray, *, scale: float, flipped: bool, inverse_depth: bool
    ) -> np.ndarray:
        """A zoom by s shows the scene as if every point were s times closer: depth / s.

        Inverse depth is multiplied by s instead.
        """
        if scale == 1.0:
            return array
        factor = np.float32(scale)
        return array * factor if inverse_depth else array / factor
