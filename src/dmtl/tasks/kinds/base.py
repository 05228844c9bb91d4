"""The behaviour every kind of dense prediction task provides, and the defaults of float maps.

A kind decides everything that depends on what a task's maps mean rather than on the task's
name: which target pixels are usable, the per-pixel loss, how predictions are post-processed,
encoded for diffusion and coloured, which metric evaluates them, the best constant prediction and
how augmentation treats the targets. Each kind is one subclass of ``TaskKind`` in its own module;
``dmtl.tasks.kinds.KINDS`` is the registry and ``TaskSpec.behaviour`` the way in from a task.

The defaults here are those of float maps (depth, normals, boundaries: (C, H, W) targets);
segmentation overrides them for class-id maps ((H, W) targets).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
import torch

from dmtl.label_values import DECODE_EPS as DECODE_EPS  # re-exported for the kinds
from dmtl.label_values import IGNORE_INDEX as IGNORE_INDEX

if TYPE_CHECKING:
    from torchmetrics import Metric

    from dmtl.losses.masked import NormalsLoss
    from dmtl.tasks.registry import TaskSpec


# What a kind's maps are in a joint (cross-task) space: class or edge probabilities, a value of a
# physical quantity (squashed there), or a direction.
JointSpace = Literal["probability", "value", "direction"]


def ignore_index_of(spec: TaskSpec) -> int:
    """The task's ignore index, ``IGNORE_INDEX`` where the spec leaves it unset."""
    return IGNORE_INDEX if spec.ignore_index is None else spec.ignore_index


@dataclass(frozen=True)
class MetricOptions:
    """The evaluation options a kind may read when it builds its metric.

    Attributes:
        normal_bins_per_degree: median histogram resolution of normal metrics.
        boundary_thresholds: thresholds searched by the boundary F-measure.
        boundary_tolerance_px: match radius of the dilation boundary F-measure.
        boundary_metric: ``dilation`` or ``ods``.
        boundary_max_dist: ``ods`` match radius as a fraction of the image diagonal.
        saliency_literature_sigmoid: saliency maxF thresholds σ(probability).
        skip_background_only: segmentation tasks whose background-only images are skipped.
        depth_clamp_min: depth predictions below it are raised to it (``None``: scored raw).
        absent_class: what a class absent from the split adds to the mIoU (``skip``, ``zero``,
            ``nan``).
    """

    normal_bins_per_degree: int
    boundary_thresholds: Sequence[float]
    boundary_tolerance_px: int
    boundary_metric: str
    boundary_max_dist: float
    saliency_literature_sigmoid: bool
    skip_background_only: Sequence[str]
    depth_clamp_min: float | None = None
    absent_class: str = "skip"


class TaskKind(ABC):
    """The behaviour of one kind of task; subclasses implement the abstract methods.

    Attributes:
        name: the kind's registry key, the value of ``TaskSpec.kind``.
        class_ids: targets are class-id maps (H, W) int64 rather than float maps (C, H, W).
        invalid_value: what marks an unusable target pixel (padding writes it).
        loader_dtype: the dtype of the kind's targets as they leave the loader (``to_tensor``).
        target_dtype: the dtype every consumer (losses, metrics, callbacks) sees: ``widen``
            turns ``loader_dtype`` into it once the batch is on its device.
        zoom_power: a zoom by s (a scale-crop resized back) multiplies the maps' values by
            s ** zoom_power (depth: -1, the scene looks s times closer; inverse depth flips it).
        joint_space: what the maps are in a joint space of all tasks (JTR's auto-encoder):
            ``probability``, ``value`` (squashed there) or ``direction``.
    """

    name: ClassVar[str]
    class_ids: ClassVar[bool] = False
    invalid_value: ClassVar[int] = 0
    loader_dtype: ClassVar[torch.dtype] = torch.float32
    target_dtype: ClassVar[torch.dtype] = torch.float32
    units: ClassVar[Mapping[str, str]] = {}  # metric -> its unit in printed tables
    zoom_power: ClassVar[int] = 0
    joint_space: ClassVar[JointSpace] = "value"

    # ------------------------------------------------------------------ targets and losses
    @abstractmethod
    def valid_pixels(self, spec: TaskSpec, target: torch.Tensor) -> torch.Tensor:
        """bool mask of pixels with a usable target, shaped like ``target``."""

    @abstractmethod
    def pixel_loss(
        self, pred: torch.Tensor, safe: torch.Tensor, valid: torch.Tensor, normals_loss: NormalsLoss
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pixel loss of ``pred`` against ``safe`` (targets zeroed where not ``valid``).

        Returns:
            the loss map and the validity mask shaped like it.
        """

    def per_sample_loss(
        self,
        spec: TaskSpec,
        pred: torch.Tensor,
        target: torch.Tensor,
        use: torch.Tensor,
        normals_loss: NormalsLoss = "l1",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss of every sample: the mean of ``pixel_loss`` over the sample's valid pixels.

        Args:
            spec: the task.
            pred: (B, C, H, W) raw network output at the target resolution.
            target: the batch of targets in the kind's format.
            use: bool (B,); samples with False contribute nothing, whatever their targets hold.
            normals_loss: ``l1`` or ``cosine`` (read by normals only).

        Returns:
            loss (B,) and has_pixels bool (B,): whether the sample had any usable pixel.
        """
        valid = self.valid_pixels(spec, target) & use.view(-1, *([1] * (target.ndim - 1)))
        # Targets of unusable pixels are replaced so that garbage (NaN, huge) cannot reach a
        # gradient.
        safe = torch.where(valid, target, torch.zeros((), dtype=target.dtype, device=target.device))
        pixel, valid = self.pixel_loss(pred, safe, valid, normals_loss)
        pixel = torch.where(valid, pixel, torch.zeros((), dtype=pixel.dtype, device=pixel.device))
        count = valid.flatten(1).sum(dim=1)
        loss = pixel.flatten(1).sum(dim=1) / count.clamp(min=1)
        return loss, count > 0

    def released_loss(
        self,
        spec: TaskSpec,
        pred: torch.Tensor,
        target: torch.Tensor,
        use: torch.Tensor,
        normals_loss: NormalsLoss = "l1",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss of the released code (docs/released.md); the package's unless overridden."""
        return self.per_sample_loss(spec, pred, target, use, normals_loss)

    # ------------------------------------------------------------------ predictions
    def postprocess(self, pred: torch.Tensor) -> torch.Tensor:
        """What ``predict`` returns for a raw output (B, C, H, W); the raw output by default."""
        return pred

    @abstractmethod
    def encode(self, raw: torch.Tensor, depth_scale: float) -> torch.Tensor:
        """Raw predictions (N, C, h, w) in the diffusion space of about [-1, 1]."""

    @abstractmethod
    def decode(self, encoded: torch.Tensor, depth_scale: float) -> torch.Tensor:
        """Raw predictions whose encoding is ``encoded`` (possibly noisy)."""

    def colourise(
        self, spec: TaskSpec, value: torch.Tensor, depth_range: tuple[float, float]
    ) -> np.ndarray:
        """One prediction (C, H, W) or target as an RGB uint8 image (H, W, 3).

        Args:
            spec: the task.
            value: a raw prediction or a target of one sample, on any device.
            depth_range: (min, max) metres mapped onto the depth colour map.
        """
        return self.colour_map(spec, value.detach().float().cpu(), depth_range)

    @abstractmethod
    def colour_map(
        self, spec: TaskSpec, value: torch.Tensor, depth_range: tuple[float, float]
    ) -> np.ndarray:
        """``colourise`` of a float CPU tensor."""

    # ------------------------------------------------------------------ evaluation
    def metric_units(self, metrics: Iterable[str], inverse_depth: bool = False) -> dict[str, str]:
        """The units of the kind's ``metrics`` in printed tables (``units``; none if unlisted).

        ``inverse_depth``: the dataset's depth is inverse depth (no metric unit).
        """
        return {name: self.units[name] for name in metrics if name in self.units}

    def value_range(self, target: torch.Tensor) -> tuple[float, float] | None:
        """The range a picture colours this kind's maps over, where it needs one (depth)."""
        return None

    def joint_prediction(
        self, pred: torch.Tensor, gumbel: torch.Tensor | None = None
    ) -> torch.Tensor:
        """A raw prediction (B, C, H, W) as a cross-task mapping's input: the probability.

        ``gumbel``: noise for class logits (their kinds' hard Gumbel-softmax); unused here.
        """
        return torch.sigmoid(pred)

    def joint_label(
        self, spec: TaskSpec, safe: torch.Tensor, valid: torch.Tensor, dtype: torch.dtype
    ) -> torch.Tensor:
        """A label as a cross-task mapping's input, its invalid pixels already 0 in ``safe``."""
        return safe.to(dtype)

    def view_distance(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-pixel distance (B, H, W) of a raw prediction from a raw target prediction.

        The consistency term's d_t between two views' predictions of one task: here the L1
        distance summed over channels (a float map such as depth).
        """
        return (pred - target).abs().sum(dim=1)

    @abstractmethod
    def build_metric(self, spec: TaskSpec, options: MetricOptions) -> Metric:
        """The torchmetrics ``Metric`` that evaluates the task."""

    @abstractmethod
    def best_constant(self, spec: TaskSpec, target: torch.Tensor) -> object:
        """The constant prediction best for the primary metric on the targets ``target``."""

    def constant_prediction(
        self, spec: TaskSpec, constant: object, like: torch.Tensor
    ) -> torch.Tensor:
        """A prediction (B, C, H, W) that is ``constant`` everywhere, for ``like``'s batch."""
        b, h, w = like.shape[0], like.shape[-2], like.shape[-1]
        return torch.full((b, 1, h, w), float(constant))

    # ------------------------------------------------------------------ augmentation
    def prepare_array(self, array: np.ndarray, where: str) -> np.ndarray:
        """A reader's map as albumentations takes it: float32, (H, W) if single-channel.

        Args:
            array: the map of one sample.
            where: names the sample and key in error messages.
        """
        array = array.astype(np.float32, copy=False)
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[..., 0]
        return array

    def correct_geometry(
        self, array: np.ndarray, *, scale: float, flipped: bool, inverse_depth: bool
    ) -> np.ndarray:
        """Correct an augmented map for what the geometry changed; unchanged by default.

        Args:
            array: the map after augmentation.
            scale: the zoom factor s of the scale-crop (1: none).
            flipped: whether the sample was flipped horizontally.
            inverse_depth: depth maps hold inverse depth.
        """
        return array

    def widen(self, target: torch.Tensor) -> torch.Tensor:
        """A target (batch) of ``loader_dtype`` as ``target_dtype``; any other as it is."""
        if target.dtype == self.loader_dtype and self.loader_dtype != self.target_dtype:
            return target.to(self.target_dtype)
        return target

    def to_tensor(self, array: np.ndarray) -> torch.Tensor:
        """Augmented map (H, W[, C]) as the target tensor (C, H, W) float32."""
        array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
