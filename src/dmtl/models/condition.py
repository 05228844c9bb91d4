"""The condition feature of the denoiser, fused from the tasks' initial predictions."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from dmtl.config import ConditionMode
from dmtl.errors import ConfigError
from dmtl.models.encoding import encode_prediction
from dmtl.tasks import TaskSpec

ConditionInputFn = Callable[[TaskSpec, torch.Tensor, float], torch.Tensor]


def _encoded(spec: TaskSpec, raw: torch.Tensor, depth_scale: float) -> torch.Tensor:
    """The task's encoded map (``dmtl.models.encoding``): the paper's condition input."""
    return encode_prediction(spec, raw, depth_scale)


def _raw(spec: TaskSpec, raw: torch.Tensor, depth_scale: float) -> torch.Tensor:
    """The raw prediction itself (logits, metres, vectors): the released network's input."""
    return raw


# ``DiffusionConfig.condition_input`` -> (spec, detached raw initial prediction, depth_scale) ->
# the map the condition conv reads.
CONDITION_INPUTS: dict[str, ConditionInputFn] = {"encoded": _encoded, "raw": _raw}
CONDITION_MODES = ("multitask", "single", "none")


class ConditionFusion(nn.Module):
    """Turns the tasks' initial predictions into the condition feature each task's denoising sees.

    The maps it reads are the detached initial predictions as ``CONDITION_INPUTS`` makes them.

    ``multitask`` (the paper's multi-task conditioning): one 3x3 conv over the concatenation of
    every task's map, so each task is denoised knowing all tasks' initial predictions. ``single``:
    a 3x3 conv per task over its own map only. ``none`` (the paper's ablation "w/o multi-task
    conditioning", which removes the condition): no conv; every task gets a condition feature of
    zero channels, so the denoiser is built without a condition input (``channels`` is 0).

    Args:
        tasks: the task specs (their channels set the input widths).
        channels: width of the condition feature (0 with ``none``).
        mode: ``multitask``, ``single`` or ``none``.

    Raises:
        ConfigError: an unknown mode.
    """

    def __init__(self, tasks: Sequence[TaskSpec], channels: int, mode: ConditionMode) -> None:
        super().__init__()
        if mode not in CONDITION_MODES:
            raise ConfigError(
                f"unknown condition {mode!r} (diffusion.condition); use 'multitask', 'single' "
                "or 'none'"
            )
        self.mode = mode
        self.task_names = [t.name for t in tasks]
        if mode == "multitask":
            self.fuse = nn.Conv2d(sum(t.channels for t in tasks), channels, 3, padding=1)
        elif mode == "single":
            self.per_task = nn.ModuleDict(
                {t.name: nn.Conv2d(t.channels, channels, 3, padding=1) for t in tasks}
            )

    def forward(self, maps: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """task -> (B, C_τ, h, w) input maps (detached by the caller) -> task -> (B, C_c, h, w).

        With ``multitask`` every task gets the same tensor; with ``none`` a (B, 0, h, w) one.
        """
        if self.mode == "none":
            any_map = next(iter(maps.values()))
            empty = any_map.new_zeros((any_map.shape[0], 0, *any_map.shape[-2:]))
            return dict.fromkeys(self.task_names, empty)
        if self.mode == "multitask":
            fused = self.fuse(torch.cat([maps[n] for n in self.task_names], dim=1))
            return dict.fromkeys(self.task_names, fused)
        return {n: self.per_task[n](maps[n]) for n in self.task_names}
