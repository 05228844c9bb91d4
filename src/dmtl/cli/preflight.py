"""Checks of the machine against the parsed options, before anything is built.

Lightning finds these late and says them in a traceback: a GPU accelerator without a usable GPU
("No supported gpu backend found!"), the W&B logger without wandb installed (a chained
``ModuleNotFoundError`` whose hint is Lightning's, not dmtl's extra), gradient clipping or
accumulation with a Jacobian aggregator, which trains by manual optimisation. One check is of the
options alone: a view term (SS, JTR) left to zoom a dataset's inverse depth as metric depth, which
would train on wrong targets without any error.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import torch

from dmtl.data.datasets import find_dataset
from dmtl.errors import ConfigError
from dmtl.losses.aggregation import check_trainer, is_aggregator
from dmtl.tasks import TASKS

GPU_ACCELERATORS = ("gpu", "cuda")
# the method terms whose scale-crop views zoom the depth maps (``dmtl.terms.views``)
VIEW_TERMS = ("consistency", "jtr")
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


def check_view_terms_depth(dataset: Any, tasks: Any, terms: dict[str, tuple[Any, Any]]) -> None:
    """Refuse a view term that would zoom a dataset's inverse depth as metric depth.

    SS and JTR compare predictions across scale-crops, and a zoom by s divides metric depth by s
    but multiplies inverse depth by s. The data pipeline takes that from the dataset; the terms
    take it from their own ``inverse_depth`` option (the module is not told the dataset's units),
    so left false on Cityscapes their depth targets are off by s² and nothing fails.

    Args:
        dataset: ``data.dataset``.
        tasks: ``data.tasks`` (``None``: the dataset's standard tasks).
        terms: view term -> (``model.<term>.enabled``, ``model.<term>.inverse_depth``).

    Raises:
        ConfigError: an enabled view term without ``inverse_depth`` on a dataset of inverse depth
            whose tasks include one that a zoom rescales (depth).
    """
    info = find_dataset(dataset) if isinstance(dataset, str) else None
    if info is None or not info.inverse_depth:
        return
    names = tasks if tasks else info.standard_tasks
    if not any(name in TASKS and TASKS[name].behaviour.zoom_power for name in names):
        return
    for term, (enabled, inverse_depth) in terms.items():
        if enabled and not inverse_depth:
            raise ConfigError(
                f"model.{term}.enabled on {dataset}, whose depth is inverse depth (a zoom "
                f"multiplies it): set --model.{term}.inverse_depth=true"
            )
