"""Surface normals: unit vectors (x right, y down, z forward), all-zero where unknown."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from dmtl.tasks.kinds.base import MetricOptions, TaskKind
from dmtl.tasks.kinds.colours import IGNORE_COLOUR

if TYPE_CHECKING:
    from torchmetrics import Metric

    from dmtl.losses.masked import NormalsLoss
    from dmtl.tasks.registry import TaskSpec

SPHERE_SAMPLES = 4096  # candidate directions for the best constant normal
MAX_NORMAL_PIXELS = 200_000  # pixels used to pick that direction (all are used to evaluate it)
# Compact normals (``NormalsKind``): three 8-bit codes v (n = v * 2/255 - 1, PASCAL-Context's
# distilled PNGs) and a flag plane, uint8 (H, W, 4) in the loader, (B, 4, H, W) in a batch.
CODE_SCALE = np.float32(2.0 / 255.0)
CODE_VALUES = np.arange(256, dtype=np.float32) * CODE_SCALE - np.float32(1.0)  # by code
INVALID, VALID, MIRRORED = 0, 1, 2  # flags: unknown, valid, valid with x negated (a flip)
COMPACT_CHANNELS = 4


def is_compact(array: np.ndarray) -> bool:
    """Whether a normals map is in the compact form (uint8, codes and flag; see above)."""
    return array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == COMPACT_CHANNELS


def fibonacci_sphere(n: int) -> torch.Tensor:
    """n nearly uniform unit vectors (n, 3)."""
    i = torch.arange(n, dtype=torch.float64) + 0.5
    z = 1 - 2 * i / n
    phi = torch.pi * (1 + 5**0.5) * i
    r = (1 - z**2).sqrt()
    return torch.stack([r * phi.cos(), r * phi.sin(), z], dim=1).float()


class NormalsKind(TaskKind):
    """Targets (3, H, W) float, valid where finite and not all-zero; predictions any length.

    Normals read from 8-bit codes (PASCAL-Context) may leave the loader compact, as uint8 (4, H, W)
    (``loader_dtype``): the three codes and a flag (``INVALID``, ``VALID``, ``MIRRORED``) that a
    flip sets instead of negating x; a quarter of the float32 map's bytes to write, collate, pin and
    copy. ``widen`` decodes them on the device to the float32 map that the float path gives, bit
    for bit (the codes' table ``CODE_VALUES``, +0.0 where invalid, 0 − x where mirrored). Float
    normals (other readers) pass through as float32.

    Loss: L1 of the L2-normalised prediction, or 1 - cos. Metric: angular errors
    (``NormalMetrics``). Prediction and encoding: the unit vector.
    """

    name = "normals"
    units = {"mean": "°", "median": "°", "rmse": "°"}
    loader_dtype = torch.uint8
    target_dtype = torch.float32
    joint_space = "direction"

    def valid_pixels(self, spec: TaskSpec, target: torch.Tensor) -> torch.Tensor:
        """Finite, non-zero vectors (the mask repeated over the three channels)."""
        finite = torch.isfinite(target).all(dim=1, keepdim=True)
        nonzero = target.abs().sum(dim=1, keepdim=True) > 0
        return (finite & nonzero).expand_as(target)

    def pixel_loss(
        self, pred: torch.Tensor, safe: torch.Tensor, valid: torch.Tensor, normals_loss: NormalsLoss
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``l1``: Σ_c |unit − target|; ``cosine``: 1 − unit · target; one value per pixel."""
        unit = F.normalize(pred, dim=1)
        if normals_loss == "l1":
            pixel = (unit - safe).abs().sum(dim=1, keepdim=True)
        else:
            pixel = 1.0 - (unit * safe).sum(dim=1, keepdim=True)
        return pixel, valid[:, :1]

    def postprocess(self, pred: torch.Tensor) -> torch.Tensor:
        """Unit vectors."""
        return F.normalize(pred, dim=1)

    def encode(self, raw: torch.Tensor, depth_scale: float) -> torch.Tensor:
        """The unit vector (components already in [-1, 1])."""
        return F.normalize(raw, dim=1)

    def decode(self, encoded: torch.Tensor, depth_scale: float) -> torch.Tensor:
        """The vector itself (its length is what the encoding forgets)."""
        return encoded

    def colour_map(
        self, spec: TaskSpec, value: torch.Tensor, depth_range: tuple[float, float]
    ) -> np.ndarray:
        """(unit + 1) * 127.5 as RGB, black where the vector is all-zero."""
        unit = F.normalize(value, dim=0)
        rgb = ((unit.permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8)
        rgb[value.abs().sum(0).numpy() == 0] = IGNORE_COLOUR
        return rgb

    def metric_units(self, metrics: Iterable[str], inverse_depth: bool = False) -> dict[str, str]:
        """Degrees for the angular errors, % for the shares within t degrees."""
        metrics = list(metrics)
        units = super().metric_units(metrics)
        units.update({name: "%" for name in metrics if name.startswith("within_")})
        return units

    def joint_prediction(
        self, pred: torch.Tensor, gumbel: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The unit vector mapped to [0, 1]."""
        return (F.normalize(pred, dim=1) + 1) / 2

    def joint_label(
        self, spec: TaskSpec, safe: torch.Tensor, valid: torch.Tensor, dtype: torch.dtype
    ) -> torch.Tensor:
        """Mapped to [0, 1] (an invalid vector, 0, maps to 0.5 as in MTPSL)."""
        return (safe.to(dtype) + 1) / 2

    def view_distance(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """1 - cos of the two vectors (each normalised)."""
        return 1.0 - (F.normalize(pred, dim=1) * F.normalize(target, dim=1)).sum(dim=1)

    def build_metric(self, spec: TaskSpec, options: MetricOptions) -> Metric:
        """``NormalMetrics`` with the options' median resolution."""
        # dmtl.metrics imports dmtl.tasks, which imports the kinds: import it when first needed.
        from dmtl.metrics.normals import NormalMetrics

        return NormalMetrics(bins_per_degree=options.normal_bins_per_degree)

    def best_constant(self, spec: TaskSpec, target: torch.Tensor) -> torch.Tensor:
        """The unit vector of least mean angle to the valid normals, over a dense set of them."""
        vectors = target.permute(0, 2, 3, 1).reshape(-1, 3)
        vectors = vectors[vectors.abs().sum(1) > 0]
        step = max(1, vectors.shape[0] // MAX_NORMAL_PIXELS)
        candidates = fibonacci_sphere(SPHERE_SAMPLES)
        cos = (vectors[::step] @ candidates.T).clamp(-1, 1)
        return candidates[cos.acos().mean(0).argmin()]

    def constant_prediction(
        self, spec: TaskSpec, constant: object, like: torch.Tensor
    ) -> torch.Tensor:
        """The vector ``constant`` (3,) at every pixel."""
        b, h, w = like.shape[0], like.shape[-2], like.shape[-1]
        return constant.view(1, 3, 1, 1).expand(b, -1, h, w)

    def prepare_array(self, array: np.ndarray, where: str) -> np.ndarray:
        """float32 (H, W, 3), or the compact form as it is."""
        if is_compact(array):
            return array
        return array.astype(np.float32, copy=False)

    def correct_geometry(
        self, array: np.ndarray, *, scale: float, flipped: bool, inverse_depth: bool
    ) -> np.ndarray:
        """A horizontal flip negates the x component (camera frame: x right); in the compact
        form it marks the valid pixels ``MIRRORED``, for ``widen`` to negate."""
        if not flipped:
            return array
        array = array.copy(order="K")  # keeps a channel-first layout for ``to_tensor``
        if is_compact(array):
            flags = array[..., 3]
            flags[flags == VALID] = MIRRORED
            return array
        array[..., 0] = 0.0 - array[..., 0]  # 0 - x, not -x: invalid pixels stay +0.0
        return array

    def to_tensor(self, array: np.ndarray) -> torch.Tensor:
        """(3, H, W) float32, or (4, H, W) uint8 for the compact form."""
        if is_compact(array):
            return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
        return super().to_tensor(array)

    def widen(self, target: torch.Tensor) -> torch.Tensor:
        """Compact normals ((B,) 4, H, W uint8) as the float32 map of the float path, exactly:
        ``CODE_VALUES`` of each code, then +0.0 where ``INVALID`` and 0 − x where ``MIRRORED``
        (the float path zeroes the invalid pixels before a flip negates x: 0 − 0 is +0.0 too).
        Float targets come back as they are."""
        if target.dtype != torch.uint8:
            return target
        channel = target.dim() - 3
        codes, flags = target.narrow(channel, 0, 3), target.narrow(channel, 3, 1)
        table = torch.from_numpy(CODE_VALUES).to(target.device)
        values = table[codes.long()]
        x = values.narrow(channel, 0, 1)
        x = torch.where(flags == MIRRORED, 0.0 - x, x)
        values = torch.cat([x, values.narrow(channel, 1, 2)], dim=channel)
        zero = torch.zeros((), dtype=values.dtype, device=values.device)
        return torch.where(flags == INVALID, zero, values)
