"""SS, the consistency baseline: a scale-crop view's predictions agree with the crop of the image's.

For a training batch x the term draws x' = RandomScaleCrop(x) (a box and a scale s per sample,
``dmtl.terms.views``) and, for every (sample i, task t) that the sample does not label,

    L = λ · ramp(step) · (1 / B) Σ_i Σ_{t ∈ U_i} w_t · mean_pixels d_t(ŷ_t(x'_i), R(ŷ_t(x_i)))

where R crops the prediction of the whole image to the box and resizes it to the view (depth / s),
and d_t is the task kind's ``view_distance``. With ``stop_gradient`` the target side R(ŷ(x)) is
detached, so only the view's prediction moves. MTPSL released no code for this baseline: the
distance, the stop-gradient and the single view are ``dmtl``'s choices (docs/consistency.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from dmtl.config.consistency import ConsistencyConfig
from dmtl.config.groups import as_group
from dmtl.errors import ConfigError
from dmtl.tasks import TaskSpec
from dmtl.terms.base import TermInputs, TermOutput, TrainingTerm
from dmtl.terms.predictions import every_sample, predict_every_sample
from dmtl.terms.views import crop_like, draw_boxes, resample


class ConsistencyTerm(TrainingTerm):
    """The consistency term of ``ConsistencyConfig`` over the tasks ``specs``."""

    name = "consistency"

    def __init__(self, specs: Sequence[TaskSpec], config: ConsistencyConfig) -> None:
        super().__init__()
        self.specs = list(specs)
        self.config = config
        weights = dict(config.task_weights or {})
        unknown = sorted(set(weights) - {s.name for s in self.specs})
        if unknown:
            raise ConfigError(
                f"model.consistency.task_weights names unknown tasks {unknown}; tasks are "
                f"{[s.name for s in self.specs]}"
            )
        self.task_weights = [float(weights.get(s.name, 1.0)) for s in self.specs]

    def ramp(self, step: int, total_steps: int) -> float:
        """The weight's linear ramp: step / (rampup · total), at most 1 (1 without a ramp)."""
        length = self.config.rampup * total_steps
        return 1.0 if length <= 0 else min(1.0, step / length)

    def forward(self, inputs: TermInputs) -> TermOutput:
        cfg, batch = self.config, inputs.batch
        image = batch["image"]
        b = image.shape[0]
        boxes = draw_boxes(b, tuple(image.shape[-2:]), cfg.scales, inputs.generator, image.device)
        view = resample(image, boxes, "bilinear")
        whole = every_sample(inputs.out, cfg.predictions)
        if whole is None:  # final predictions of every pair: one forward of x and x' together
            both = predict_every_sample(inputs, torch.cat([image, view]), "final", len(self.specs))
            whole = {n: p[:b] for n, p in both.items()}
            seen = {n: p[b:] for n, p in both.items()}
        else:
            seen = predict_every_sample(inputs, view, cfg.predictions, len(self.specs))
        unlabelled = (~batch["labelled"].bool()).to(image.dtype)
        per_task = {}
        for k, spec in enumerate(self.specs):
            target = crop_like(whole[spec.name], boxes, spec, cfg.inverse_depth)
            if cfg.stop_gradient:
                target = target.detach()
            distance = spec.behaviour.view_distance(seen[spec.name], target).flatten(1).mean(1)
            per_task[spec.name] = (distance * unlabelled[:, k]).sum() / b
        weighted = sum(w * per_task[s.name] for w, s in zip(self.task_weights, self.specs))
        scale = cfg.weight * self.ramp(inputs.step, inputs.total_steps)
        logs = {name: value.detach() for name, value in per_task.items()}
        return TermOutput(scale * weighted, logs)


def build_consistency(
    specs: Sequence[TaskSpec], groups: Mapping[str, Any], net: nn.Module
) -> ConsistencyTerm | None:
    """The term when ``consistency.enabled``, else ``None``."""
    config = as_group(ConsistencyConfig, groups.get("consistency"))
    return ConsistencyTerm(specs, config) if config.enabled else None
