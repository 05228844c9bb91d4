"""The pseudo-label loss L_p: a teacher's confident predictions supervise the unlabelled pairs.

For each task t and each sample i that does not label t (the labelled pairs have their real
labels in the supervised loss and contribute nothing here), the teacher's prediction gives a
pseudo-label ŷ and a per-pixel confidence c; the student's prediction P is scored with the kind's
own supervised pixel loss ℓ against ŷ, on the pixels whose confidence exceeds the task's threshold
θ_t, and averaged over *all* pixels (the masked ones count in the denominator, as HiTTs does):

    ℓ^PL_{i,t} = mean_pixels( 𝟙[c > θ_t] · g(c) · ℓ(P, ŷ) ),
    L_p = T / B · Σ_t β_t w_t Σ_{i : t ∉ L_i} ℓ^PL_{i,t},

with g(c) = c for depth and normals (their confidence also weights) and 1 otherwise, w_t the
supervised loss weight, β_t the kind's scale (boundaries: 0.05) and T / B HiTTs' scale per
(sample, task) term (docs/teachers.md). What is kind-specific (label, confidence, default threshold,
β, how a flipped prediction is flipped back) is a ``PseudoLabelRule`` in ``RULES``, keyed by kind
class: no kind name is compared.

Depth and normals have no bins here (HiTTs' confidence is its bin head's max softmax): their
confidence is 1 (no mask), or, with ``confidence="flip"``, exp(-d / σ) where d is the kind's loss
between the teacher's prediction and its prediction of the mirrored image mirrored back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F

from dmtl.errors import ConfigError
from dmtl.models.output import MultiTaskOutput
from dmtl.tasks import TaskSpec
from dmtl.tasks.kinds import BoundaryKind, DepthKind, NormalsKind, SaliencyKind, SegmentationKind
from dmtl.tasks.kinds.base import TaskKind


class PseudoLabelRule(ABC):
    """How a kind's teacher prediction becomes a pseudo-label with a confidence.

    Attributes:
        threshold: the default θ (HiTTs' value for the kind; ``source`` says which).
        source: where ``threshold`` comes from.
        beta: the kind's scale β of its L_p term.
        weighted: the confidence also weights the loss (g(c) = c), not only masks it.
    """

    threshold: ClassVar[float]
    source: ClassVar[str]
    beta: ClassVar[float] = 1.0
    weighted: ClassVar[bool] = False

    @abstractmethod
    def label(self, teacher: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The pseudo-label of a raw teacher prediction (B, C, H, W) and its confidence.

        Returns:
            the label in the kind's target format and the confidence shaped like the kind's
            pixel loss, or ``None`` where the prediction carries none (regression).
        """

    def unflip(self, pred: torch.Tensor) -> torch.Tensor:
        """The prediction of a horizontally mirrored image, mirrored back (B, C, H, W)."""
        return pred.flip(-1)


class ClassRule(PseudoLabelRule):
    """Class logits: ŷ = argmax, c = max softmax probability (HiTTs' semseg and parts)."""

    threshold = 0.9
    source = "HiTTs semseg (PASCAL, NYUD); parts: 0.85"

    def label(self, teacher: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Class ids (B, H, W) and the max probability (B, H, W)."""
        confidence, label = teacher.float().softmax(dim=1).max(dim=1)
        return label, confidence


class SaliencyRule(ClassRule):
    """Saliency's two classes: ŷ = 𝟙[p > 0.5] (the argmax), c = max probability (HiTTs' sal)."""

    threshold = 0.7
    source = "HiTTs sal (PASCAL)"


class BoundaryRule(PseudoLabelRule):
    """One edge logit: ŷ = 𝟙[σ > 0.5], c = |σ - 0.5| · 2 (HiTTs' edge), β = 0.05."""

    threshold = 0.99
    source = "HiTTs edge (PASCAL)"
    beta = 0.05

    def label(self, teacher: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """0/1 maps (B, 1, H, W) and the confidence (B, 1, H, W)."""
        p = teacher.float().sigmoid()
        return (p > 0.5).to(p.dtype), (p - 0.5).abs() * 2


class DepthRule(PseudoLabelRule):
    """Depth: ŷ = the teacher's depth; no confidence of its own (no bins)."""

    threshold = 0.85
    source = "HiTTs depth (NYUD one-label; random-label: 0.95)"
    weighted = True

    def label(self, teacher: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The depth (B, 1, H, W) itself."""
        return teacher.float(), None


class NormalsRule(DepthRule):
    """Normals: ŷ = the teacher's unit vectors; a mirror negates x."""

    threshold = 0.85
    source = "HiTTs normals (NYUD; PASCAL: 0.7)"

    def label(self, teacher: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Unit vectors (B, 3, H, W)."""
        return F.normalize(teacher.float(), dim=1), None

    def unflip(self, pred: torch.Tensor) -> torch.Tensor:
        """Mirrored back, x negated."""
        back = pred.flip(-1)
        return torch.cat([-back[:, :1], back[:, 1:]], dim=1)


RULES: dict[type[TaskKind], PseudoLabelRule] = {
    SegmentationKind: ClassRule(),
    SaliencyKind: SaliencyRule(),
    BoundaryKind: BoundaryRule(),
    DepthKind: DepthRule(),
    NormalsKind: NormalsRule(),
}


def rule_of(kind: TaskKind) -> PseudoLabelRule:
    """The rule of ``kind``'s class or its nearest base class in ``RULES``.

    Raises:
        ConfigError: a kind with no rule.
    """
    for cls in type(kind).__mro__:
        if cls in RULES:
            return RULES[cls]
    raise ConfigError(f"no pseudo-label rule for the kind {type(kind).__name__}")


def resolve_thresholds(
    specs: Sequence[TaskSpec], given: Mapping[str, float] | None, key: str
) -> dict[str, float]:
    """Each task's θ: the one ``given`` names, else its kind's default.

    Raises:
        ConfigError: ``given`` names a task the model does not have (``key`` names the option).
    """
    names = [s.name for s in specs]
    unknown = sorted(set(given or {}) - set(names))
    if unknown:
        raise ConfigError(f"{key} names unknown tasks {unknown}; the tasks are {names}")
    return {s.name: float((given or {}).get(s.name, rule_of(s.behaviour).threshold)) for s in specs}


def every_sample(out: MultiTaskOutput) -> dict[str, torch.Tensor]:
    """Each task's prediction of every sample (B, C, H, W).

    DiffusionMTL denoises only the labelled pairs in training: a task whose ``predictions`` hold
    some rows only is represented by its initial prediction (every sample; the one the denoiser
    starts from), the student's only prediction of its unlabelled pairs.
    """
    maps = {}
    for name, initial in out.initial.items():
        maps[name] = initial
    for name, pred in out.predictions.items():
        if out.rows.get(name) is None:
            maps[name] = pred
    return maps


def flip_confidence(
    spec: TaskSpec, teacher: torch.Tensor, flipped: torch.Tensor, sigma: float, normals_loss: str
) -> torch.Tensor:
    """exp(-d / σ): d the kind's pixel loss between the teacher's label and that of its
    prediction of the mirrored image, mirrored back; shaped like the kind's pixel loss."""
    rule = rule_of(spec.behaviour)
    label, _ = rule.label(teacher)
    back, _ = rule.label(rule.unflip(flipped))
    valid = torch.ones_like(back, dtype=torch.bool)
    d, _ = spec.behaviour.pixel_loss(label, back, valid, normals_loss)
    return torch.exp(-d / sigma)


def pseudo_label_loss(
    specs: Sequence[TaskSpec],
    student: Mapping[str, torch.Tensor],
    teacher: Mapping[str, torch.Tensor],
    labelled: torch.Tensor,
    thresholds: Mapping[str, float],
    weights: Mapping[str, float],
    normals_loss: str = "l1",
    teacher_flipped: Mapping[str, torch.Tensor] | None = None,
    flip_sigma: float = 0.1,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L_p of a batch (see the module docstring).

    Args:
        specs: the tasks in the column order of ``labelled``.
        student: task -> the student's raw prediction of every sample (B, C, H, W).
        teacher: task -> the teacher's raw prediction (B, C, H, W), detached.
        labelled: bool (B, K); only the pairs it marks False count.
        thresholds: task -> θ.
        weights: task -> supervised loss weight w_t.
        normals_loss: the normals' pixel loss (``l1`` or ``cosine``).
        teacher_flipped: task -> the teacher's prediction of the mirrored images: depth and
            normals then take the flip confidence instead of 1.
        flip_sigma: σ of the flip confidence.

    Returns:
        L_p (a scalar) and, to log, ``<task>`` (the mean ℓ^PL over the task's unlabelled samples)
        and ``kept/<task>`` (the fraction of their pixels above the threshold).
    """
    b, k = labelled.shape
    total = next(iter(student.values())).sum() * 0  # zero, in the graph, when nothing counts
    logs: dict[str, torch.Tensor] = {}
    for column, spec in enumerate(specs):
        use = ~labelled[:, column]
        if not bool(use.any()):
            continue
        rule = rule_of(spec.behaviour)
        label, confidence = rule.label(teacher[spec.name].detach())
        pred = student[spec.name]
        if pred.shape[-2:] != label.shape[-2:]:
            pred = F.interpolate(pred, label.shape[-2:], mode="bilinear", align_corners=False)
        valid = torch.ones_like(label, dtype=torch.bool)
        pixel, _ = spec.behaviour.pixel_loss(pred, label, valid, normals_loss)
        if confidence is None:
            confidence = (
                torch.ones_like(pixel, dtype=torch.float32)
                if teacher_flipped is None
                else flip_confidence(
                    spec, teacher[spec.name].detach(), teacher_flipped[spec.name].detach(),
                    flip_sigma, normals_loss,
                )
            )  # fmt: skip
        kept = confidence > thresholds[spec.name]
        weight = kept * confidence if rule.weighted else kept.to(confidence.dtype)
        per_sample = (pixel * weight.to(pixel.dtype)).flatten(1).mean(dim=1)  # (B,)
        n = use.sum()
        total = total + rule.beta * weights[spec.name] * (per_sample * use).sum() * k / b
        logs[spec.name] = (per_sample.detach() * use).sum() / n
        logs[f"kept/{spec.name}"] = (kept.flatten(1).float().mean(1) * use).sum() / n
    return total, logs
