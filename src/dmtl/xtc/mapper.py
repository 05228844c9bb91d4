"""The mapping network of XTC* (MTPSL's cross-task consistency): task maps into a joint space.

MTPSL (Li, Liu & Bilen, CVPR 2022) maps a task's prediction and another task's label into one
joint space with a network conditioned on the (source, target) task pair, and asks the two
embeddings to agree. Here (docs/method.md, XTC*):

- ``joint_prediction`` / ``joint_label``: a task's prediction or label as the mapping network's
  input (hard Gumbel-softmax one-hot of class logits, one-hot labels, depth over its per-sample
  maximum, normals in [0, 1], edge probabilities).
- ``CrossTaskMapper``: a task-specific input layer, then ``levels`` shared 3×3 conv levels whose
  normalised activations are scaled and shifted by the FiLM parameters of the task pair, each
  followed by 2×2 max pooling, so that the output has the shared feature's width and stride.
  Every row of a batch carries its own pair; the normalisation is per row (instance norm, what
  MTPSL's batch norm computes on its batches of one), so batching rows changes nothing.

The shared feature the embeddings are regularised to comes with the network's output
(``MultiTaskOutput.shared``), not from a hook on the neck.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dmtl.errors import ConfigError
from dmtl.tasks import TaskSpec

JOINT_KINDS = ("segmentation", "saliency", "depth", "normals", "boundary")
GUMBEL_EPS = 1e-10  # the uniform draws are clamped to [eps, 1 - eps] before the double log
NORM_EPS = 1e-5  # eps of the instance norms (that of torch's norms)


def num_pairs(num_tasks: int) -> int:
    """Ordered (source, target) pairs of distinct tasks: K (K - 1)."""
    return num_tasks * (num_tasks - 1)


def pair_index(source: torch.Tensor, target: torch.Tensor, num_tasks: int) -> torch.Tensor:
    """FiLM row of each (source, target) pair (source ≠ target): the off-diagonal, row-major."""
    return source * (num_tasks - 1) + target - (target > source).long()


def draw_gumbel(
    specs: Sequence[TaskSpec],
    predictions: dict[str, torch.Tensor],
    stride: int = 1,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Gumbel(0, 1) noise for every class-id task (none for others): (B, C, ⌈H / s⌉, ⌈W / s⌉).

    Args:
        specs: the tasks.
        predictions: task -> (B, C, H, W).
        stride: s, the mapping network's input stride.
        generator: the source of the noise (None: the global generator).
    """
    noise = {}
    for spec in specs:
        if spec.behaviour.class_ids:
            pred = predictions[spec.name]
            shape = (*pred.shape[:2], -(-pred.shape[2] // stride), -(-pred.shape[3] // stride))
            u = torch.rand(shape, generator=generator, device=pred.device, dtype=pred.dtype)
            u = u.clamp(GUMBEL_EPS, 1 - GUMBEL_EPS)
            noise[spec.name] = -torch.log(-torch.log(u))
    return noise


def joint_prediction(
    spec: TaskSpec, pred: torch.Tensor, gumbel: torch.Tensor | None = None
) -> torch.Tensor:
    """A raw prediction (B, C, H, W) as the mapping network's input (B, C_in, H, W).

    The task's kind decides (``TaskKind.joint_prediction``): class logits give the hard
    Gumbel-softmax one-hot (τ = 1) with the straight-through gradient of the soft one (MTPSL;
    ``gumbel`` None uses no noise); depth is divided by the sample's largest magnitude; normals
    are mapped to [0, 1]; boundaries give the edge probability.
    """
    return spec.behaviour.joint_prediction(pred, gumbel)


def joint_label(spec: TaskSpec, target: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A batch of labels as the mapping network's input (B, C_in, H, W); invalid pixels are 0.

    Class ids: one-hot (zero at ignored pixels). Depth: over the sample's largest depth.
    Normals: mapped to [0, 1] (an invalid vector, 0, maps to 0.5 as in MTPSL). Boundary: 0/1.
    (``TaskKind.joint_label``.)
    """
    kind = spec.behaviour
    valid = kind.valid_pixels(spec, target)
    safe = torch.where(valid, target, torch.zeros((), dtype=target.dtype, device=target.device))
    return kind.joint_label(spec, safe, valid, dtype)


class PairFiLMConv(nn.Module):
    """3×3 conv, per-row instance norm, the FiLM of each row's task pair, ReLU.

    Args:
        in_channels: input width.
        out_channels: output width.
        pairs: number of task pairs (rows of ``gamma`` and ``beta``).
    """

    def __init__(self, in_channels: int, out_channels: int, pairs: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.gamma = nn.Parameter(torch.ones(pairs, out_channels))
        self.beta = nn.Parameter(torch.zeros(pairs, out_channels))

    def forward(self, x: torch.Tensor, pair: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) and the pair (N,) of each row -> (N, C_out, H, W)."""
        x = self.conv(x)
        n, c = x.shape[:2]
        # Instance norm with each row's own affine (its pair's γ, β): one batch-norm call over
        # the rows as channels, so normalisation and FiLM are one fused kernel.
        y = F.batch_norm(
            x.reshape(1, n * c, *x.shape[2:]),
            None,
            None,
            weight=self.gamma[pair].reshape(-1),
            bias=self.beta[pair].reshape(-1),
            training=True,
            eps=NORM_EPS,
        )
        return F.relu(y.view_as(x), inplace=True)


class CrossTaskMapper(nn.Module):
    """MTPSL's mapping network: task maps into the joint space of the shared feature.

    Args:
        tasks: the task specs (their kinds must be of ``JOINT_KINDS``).
        feature_channels: width of the shared feature (the output's width).
        levels: conv levels, each followed by 2×2 max pooling: log2 of the feature's stride.
        width: channels of the first level, doubled per level (the last has
            ``feature_channels``).
        input_stride: the maps enter average-pooled by this factor (``pool``).

    Raises:
        ConfigError: a task of a kind with no joint input, fewer than two tasks, no level or a
            width below 1.
    """

    def __init__(
        self,
        tasks: Sequence[TaskSpec],
        feature_channels: int,
        levels: int,
        width: int,
        input_stride: int = 1,
    ) -> None:
        super().__init__()
        if len(tasks) < 2:
            raise ConfigError(
                f"xtc.enabled needs at least two tasks, got {[t.name for t in tasks]}"
            )
        if levels < 1 or width < 1:
            raise ConfigError(f"xtc.width {width} and levels {levels}: both must be at least 1")
        for t in tasks:
            if t.kind not in JOINT_KINDS:
                raise ConfigError(f"xtc: task {t.name!r} of kind {t.kind!r} has no joint input")
        self.task_names = [t.name for t in tasks]
        self.input_stride = input_stride
        self.inputs = nn.ModuleDict(
            {t.name: nn.Conv2d(t.channels, width, 3, padding=1) for t in tasks}
        )
        self.input_norms = nn.ModuleDict(
            {t.name: nn.InstanceNorm2d(width, affine=True) for t in tasks}
        )
        widths = [width * 2**i for i in range(levels - 1)] + [feature_channels]
        pairs = num_pairs(len(tasks))
        self.levels = nn.ModuleList(
            PairFiLMConv(c_in, c_out, pairs) for c_in, c_out in zip([width, *widths], widths)
        )

    def embed(self, task: str, x: torch.Tensor) -> torch.Tensor:
        """The task-specific input layer: (N, C_in, h, w) -> (N, width, h, w)."""
        return F.relu(self.input_norms[task](self.inputs[task](x)))

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) average-pooled by ``input_stride`` (ceil mode): the input resolution."""
        s = self.input_stride
        return x if s == 1 else F.avg_pool2d(x, s, ceil_mode=True)

    def trunk(self, x: torch.Tensor, pair: torch.Tensor) -> torch.Tensor:
        """The shared, pair-conditioned levels: (N, width, h, w) -> (N, E, h / 2^L, w / 2^L)."""
        for level in self.levels:
            x = F.max_pool2d(level(x, pair), 2, ceil_mode=True)
        return x
