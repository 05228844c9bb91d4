"""Checks of the machine against the parsed options, before anything is built.

Lightning finds these late and says them in a traceback: a GPU accelerator without a usable GPU
("No supported gpu backend found!"), the W&B logger without wandb installed (a chained
``ModuleNotFoundError`` whose hint is Lightning's, not dmtl's extra), gradient clipping or
accumulation with a Jacobian aggregator, which trains by manual optimisation.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import torch

from dmtl.errors import ConfigError
from dmtl.losses.aggregation import check_trainer, is_aggregator

GPU_ACCELERATORS = ("gpu", "cuda")
# logger class -> (module it needs, the pip command that installs it with dmtl)
LOGGER_EXTRAS = {
    "WandbLogger": ("wandb", "pip install 'dmtl[wandb]'"),
}


def check_accelerator(accelerator: Any) -> None:
    """Refuse ``--trainer.accelerator=gpu`` (or ``cuda``) where no GPU is visible.

    Raises:
        ConfigError: a GPU accelerator and ``torch.cuda.is_available()`` false.
    """
    if not isinstance(accelerator, str) or accelerator.lower() not in GPU_ACCELERATORS:
        return
    if torch.cuda.is_available():
        return
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA (a CPU-only build)"
    raise ConfigError(
        f"--trainer.accelerator={accelerator}: no GPU is visible: use --trainer.accelerator=cpu "
        f"or check the driver (this torch {torch.__version__} is built for {build})"
    )


def check_logger_extras(logger: Any) -> None:
    """Refuse a logger whose package is not installed, naming the pip command of dmtl's extra.

    Args:
        logger: the parsed ``trainer.logger`` (a class path with its arguments, a list of them,
            a bool or ``None``).

    Raises:
        ConfigError: e.g. the W&B logger without the ``wandb`` package.
    """
    for entry in logger if isinstance(logger, list) else [logger]:
        class_path = _class_path(entry)
        name = class_path.rpartition(".")[2]
        if name not in LOGGER_EXTRAS:
            continue
        module, command = LOGGER_EXTRAS[name]
        if importlib.util.find_spec(module) is None:
            raise ConfigError(
                f"the logger {class_path} needs the {module} package, which is not installed: "
                f"{command}"
            )


def _class_path(entry: Any) -> str:
    """The class path of one parsed logger entry ('' for a bool or ``None``)."""
    if isinstance(entry, str):
        return entry
    class_path = getattr(entry, "class_path", None)
    if class_path is None and isinstance(entry, dict):
        class_path = entry.get("class_path")
    if class_path is None and entry is not None and not isinstance(entry, bool):
        class_path = f"{type(entry).__module__}.{type(entry).__qualname__}"
    return class_path or ""


def check_jacobian_descent(
    weighting: Any, precision: Any, gradient_clip_val: Any, accumulate: Any, compile: Any
) -> None:
    """Refuse the trainer options a Jacobian aggregator cannot honour (``check_trainer``).

    Raises:
        ConfigError: e.g. ``--model.loss.weighting=upgrad`` with ``--trainer.gradient_clip_val``.
    """
    if isinstance(weighting, str) and is_aggregator(weighting):
        check_trainer(weighting, precision, gradient_clip_val, accumulate, bool(compile))
