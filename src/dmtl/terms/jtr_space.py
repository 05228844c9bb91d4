"""JTR's joint space: each task's maps encoded for the auto-encoder, and its reconstruction loss.

What a task becomes there follows its kind's ``joint_space`` (no task names). Prediction
encodings e_t(ŷ), label encodings e_t(y), and reconstruction losses of the logits r:

- probability with class ids (segmentation, saliency): e(ŷ) = hard Gumbel-softmax one-hot
  (τ = 1, straight-through) · M; e(y) = one-hot, 0 where ignored; Σ BCE(r, target)·M / nnz(target).
- probability without (edges; DESIGN): e(ŷ) = σ(ŷ) · M; e(y) = 0/1, 0 where ignored;
  Σ BCE(r, target)·M / nnz(M).
- value (depth): e(ŷ) = φ(ŷ · M) with φ(d) = Φ((d - μ) / σ); e(y) = φ(y), y = 0 where unknown;
  Σ |(σ(r) - ½)(1 - 1e-5) + ½ - φ(target)|·M / nnz(target), the target raw.
- direction (normals): e(ŷ) = (n(ŷ) · M + 1) / 2; e(y) = (y + 1) / 2;
  1 - Σ n(r)·target·M / nnz(target).

M is the sample's mask of pixels valid for every task it labels; n(·) the unit vector; nnz counts
non-zero entries of the target (all channels). Each loss is per sample (B,).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dmtl.tasks import TaskSpec

SQUASH_SHRINK = 1e-5  # the released code keeps σ(r) off 0 and 1 by this much
GUMBEL_EPS = 1e-10


def squash(depth: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """φ(d) = Φ((d - mean) / std), the standard normal CDF of the standardised depth."""
    return 0.5 * (1 + torch.erf((depth - mean) / (std * math.sqrt(2))))


def gumbel_noise(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Gumbel(0, 1) noise shaped like ``like``, drawn from ``generator`` (on its device)."""
    device = generator.device if generator is not None else like.device
    u = torch.rand(like.shape, generator=generator, device=device, dtype=like.dtype)
    u = u.to(like.device).clamp(GUMBEL_EPS, 1 - GUMBEL_EPS)
    return -torch.log(-torch.log(u))


def valid_mask(spec: TaskSpec, target: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) bool pixels whose target is usable."""
    valid = spec.behaviour.valid_pixels(spec, target)
    return valid.unsqueeze(1) if valid.ndim == 3 else valid.all(dim=1, keepdim=True)


def joint_mask(specs, targets: dict, labelled: torch.Tensor) -> torch.Tensor:
    """M (B, 1, H, W) float: pixels valid for every task the sample labels (1 where it labels
    none)."""
    mask = None
    for k, spec in enumerate(specs):
        valid = valid_mask(spec, targets[spec.name])
        valid = valid | ~labelled[:, k].view(-1, 1, 1, 1)
        mask = valid if mask is None else mask & valid
    return mask.float()


def encode_prediction(
    spec: TaskSpec,
    pred: torch.Tensor,
    mask: torch.Tensor,
    gumbel: torch.Tensor | None,
    depth: tuple[float, float],
    soft: bool = False,
) -> torch.Tensor:
    """e_t(ŷ) of raw predictions (B, C, H, W); ``soft``: the softmax for class ids instead of the
    hard Gumbel one-hot."""
    kind = spec.behaviour
    if kind.joint_space == "probability":
        if kind.class_ids:
            prob = pred.softmax(dim=1) if soft else kind.joint_prediction(pred, gumbel)
        else:
            prob = torch.sigmoid(pred)
        return prob * mask
    if kind.joint_space == "direction":
        return (F.normalize(pred, dim=1) * mask + 1) / 2
    return squash(pred * mask, *depth)


def encode_label(spec: TaskSpec, target: torch.Tensor, depth: tuple[float, float], dtype):
    """e_t(y) of a batch of targets (invalid pixels: 0 before the encoding)."""
    kind = spec.behaviour
    valid = kind.valid_pixels(spec, target)
    safe = torch.where(valid, target, torch.zeros((), dtype=target.dtype, device=target.device))
    if kind.joint_space == "value":
        return squash(safe.to(dtype), *depth)
    return kind.joint_label(spec, safe, valid, dtype)


def raw_label(spec: TaskSpec, target: torch.Tensor, dtype) -> torch.Tensor:
    """A value or direction target as the network predicts it, 0 where invalid."""
    valid = spec.behaviour.valid_pixels(spec, target)
    zero = torch.zeros((), dtype=target.dtype, device=target.device)
    return torch.where(valid, target, zero).to(dtype)


def reconstruction_loss(
    spec: TaskSpec,
    logits: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    depth: tuple[float, float],
) -> torch.Tensor:
    """The task's reconstruction loss per sample (B,); ``target`` detached by the caller.

    For ``value`` tasks ``target`` is raw (it is squashed here), for ``direction`` tasks a
    vector, for ``probability`` tasks a probability map.
    """
    kind = spec.behaviour
    nnz = (target != 0).flatten(1).sum(1).clamp(min=1).to(logits.dtype)
    if kind.joint_space == "probability":
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none") * mask
        count = nnz if kind.class_ids else mask.flatten(1).sum(1).clamp(min=1)
        return bce.flatten(1).sum(1) / count
    if kind.joint_space == "direction":
        cos = F.normalize(logits, dim=1) * target * mask
        return 1 - cos.flatten(1).sum(1) / nnz
    value = (torch.sigmoid(logits) - 0.5) * (1 - SQUASH_SHRINK) + 0.5
    error = (value - squash(target, *depth)).abs() * mask
    return error.flatten(1).sum(1) / nnz
