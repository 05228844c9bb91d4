"""The cross-task consistency loss of XTC* (MTPSL), batched over (sample, source, target) pairs.

For every pair of a sample i, a *source* task s and a labelled *target* task t ≠ s (``pairs``:
``unlabelled`` takes only sources that i does not label, MTPSL's partial settings; ``all`` any
source, MTPSL's full setting), the mapping network conditioned on (s, t) embeds s's prediction
(m_s) and t's label (m_t); with d the distance (``cosine``: 1 − cos over channels; ``l1``: the
absolute difference over channels), each averaged over the pixels of the joint space and f_i the
detached shared feature of the sample,

    loss_ist = d(m_s, m_t) + reg_weight · (d(m_s, f_i) + d(m_t, f_i)),

and the loss of the batch is Σ loss_ist / B (MTPSL sums a sample's pairs and averages over the
batch). The pairs are found on the host once, then every step is batched: the task-specific input
layers run once per task over the rows that need them, and the shared levels once over all 2P
rows, each with its own pair's FiLM. No Python loop over samples or pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dmtl.config import XTCDistance, XTCPairs
from dmtl.errors import ConfigError
from dmtl.tasks import TaskSpec
from dmtl.xtc.mapper import CrossTaskMapper, joint_label, joint_prediction, pair_index

COSINE_EPS = 1e-12  # MTPSL's eps of the cosine similarity


@dataclass
class XTCOutput:
    """The consistency loss of one batch.

    Attributes:
        total: Σ over pairs of (consistency + reg_weight · regularisation), over the batch size.
        consistency: mean over pairs of d(m_s, m_t) (detached; 0 without pairs).
        regularisation: mean over pairs of d(m_s, f) + d(m_t, f) (detached; 0 without pairs).
        pairs: the number of (sample, source, target) pairs.
    """

    total: torch.Tensor
    consistency: torch.Tensor
    regularisation: torch.Tensor
    pairs: int


def xtc_pairs(labelled: torch.Tensor, pairs: XTCPairs = "unlabelled") -> torch.Tensor:
    """The (sample, source, target) rows of a (B, K) label mask, row-major (P, 3) long, on CPU.

    Raises:
        ConfigError: an unknown ``pairs``.
    """
    if pairs not in ("unlabelled", "all"):
        raise ConfigError(f"unknown xtc.pairs {pairs!r}; use 'unlabelled' or 'all'")
    host = labelled.detach().to("cpu", torch.bool)
    k = host.shape[1]
    source = ~host if pairs == "unlabelled" else torch.ones_like(host)
    distinct = ~torch.eye(k, dtype=torch.bool)
    mask = source[:, :, None] & host[:, None, :] & distinct  # (B, source, target)
    return mask.nonzero()


def distance(a: torch.Tensor, b: torch.Tensor, kind: XTCDistance = "cosine") -> torch.Tensor:
    """d of every row of two (N, C, h, w) maps, a mean over pixels: (N,).

    Raises:
        ConfigError: an unknown ``kind``.
    """
    if kind == "cosine":
        return 1 - F.cosine_similarity(a, b, dim=1, eps=COSINE_EPS).flatten(1).mean(dim=1)
    if kind == "l1":
        return (a - b).abs().sum(dim=1).flatten(1).mean(dim=1)
    raise ConfigError(f"unknown xtc.distance {kind!r}; use 'cosine' or 'l1'")


def xtc_loss(
    mapper: CrossTaskMapper,
    specs: Sequence[TaskSpec],
    predictions: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    labelled: torch.Tensor,
    feature: torch.Tensor,
    *,
    gumbel: Mapping[str, torch.Tensor] | None = None,
    reg_weight: float = 0.5,
    kind: XTCDistance = "cosine",
    pairs: XTCPairs = "unlabelled",
) -> XTCOutput:
    """The cross-task consistency loss of a batch (see the module's docstring).

    Args:
        mapper: the mapping network.
        specs: the tasks, in the column order of ``labelled`` (and of the mapper's pairs).
        predictions: task -> raw predictions (B, C, H, W) of every sample.
        targets: task -> targets at (H, W), every task present (unlabelled rows are not read).
        labelled: bool (B, K).
        feature: the shared feature (B, E, h, w); it is detached here.
        gumbel: task -> Gumbel noise like the pooled prediction, for the class-id tasks
            (``dmtl.xtc.mapper.draw_gumbel`` with the mapper's input stride); None: no noise.
        reg_weight: weight of the regularisation to the feature.
        kind: the distance, ``cosine`` or ``l1``.
        pairs: ``unlabelled`` or ``all`` source tasks.
    """
    rows = xtc_pairs(labelled, pairs)
    batch, device = labelled.shape[0], feature.device
    if rows.shape[0] == 0:
        zero = feature.new_zeros(())
        return XTCOutput(zero, zero, zero, 0)
    sample, source, target = rows.unbind(dim=1)
    gumbel = gumbel or {}
    dtype = feature.dtype

    def source_input(spec: TaskSpec, idx: torch.Tensor) -> torch.Tensor:
        noise = gumbel.get(spec.name)
        pred = mapper.pool(predictions[spec.name][idx])
        return joint_prediction(spec, pred, None if noise is None else noise[idx])

    def target_input(spec: TaskSpec, idx: torch.Tensor) -> torch.Tensor:
        return mapper.pool(joint_label(spec, targets[spec.name][idx], dtype))

    m_in = _by_task(mapper, specs, sample, source, source_input, device)
    t_in = _by_task(mapper, specs, sample, target, target_input, device)
    pair = pair_index(source, target, len(specs)).to(device)
    joint = mapper.trunk(torch.cat([m_in, t_in]), torch.cat([pair, pair]))
    m_s, m_t = joint.chunk(2)
    f = feature.detach()[sample.to(device)]
    if f.shape[-2:] != joint.shape[-2:]:
        f = F.interpolate(f, joint.shape[-2:], mode="bilinear", align_corners=False)
    consistency = distance(m_s, m_t, kind)
    regularisation = distance(m_s, f, kind) + distance(m_t, f, kind)
    total = (consistency + reg_weight * regularisation).sum() / batch
    return XTCOutput(
        total, consistency.detach().mean(), regularisation.detach().mean(), rows.shape[0]
    )


def _by_task(
    mapper: CrossTaskMapper,
    specs: Sequence[TaskSpec],
    sample: torch.Tensor,
    task: torch.Tensor,
    make: Callable[[TaskSpec, torch.Tensor], torch.Tensor],
    device: torch.device,
) -> torch.Tensor:
    """The input layer of each row's ``task`` on ``make(spec, sample_indices)``, in row order.

    One input-layer call per task over the rows whose task it is; the rows are put back in order
    by the inverse of the grouping permutation.
    """
    parts, order = [], []
    for k, spec in enumerate(specs):
        sel = (task == k).nonzero().squeeze(1)
        if sel.numel():
            parts.append(mapper.embed(spec.name, make(spec, sample[sel].to(device))))
            order.append(sel)
    inverse = torch.argsort(torch.cat(order)).to(device)
    return torch.cat(parts)[inverse]
