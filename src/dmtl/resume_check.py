"""Which checkpoint a ``fit`` resumes from, checked before it is loaded; what a resume may change.

A resume (``fit`` started again in its run folder, ``--ckpt_path last`` or ``--ckpt_path FILE``)
reads each candidate, newest first, and passes over one that does not load into the configured
model: a dangling ``last.ckpt`` link, a truncated or foreign file, another task set, weights of
another architecture. Each one passed over gets a line ``dmtl: skipping <path>: <why>``; when no
candidate loads, the run ends with one line naming them all, never from scratch by surprise.

A resumed ``fit`` continues the saved optimiser, schedule and data order, so the options that
shape them must be the checkpoint's: ``model.optim.*`` and the data options outside
``DATA_MAY_CHANGE`` given with another value end the run with one line naming the option and both
values. The trainer's options (``max_epochs``, ``max_steps``, ...), the loss, evaluation, speed
and noise options and the data options in ``DATA_MAY_CHANGE`` take effect.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from dmtl.callbacks.resume import checkpoint_dir, resume_candidates
from dmtl.checkpoint_check import checkpoint_file, read_checked
from dmtl.checkpoint_compat import read_checkpoint
from dmtl.checkpoint_overrides import is_runtime
from dmtl.errors import ConfigError, DMTLError

# Data options that only change how the data is read, not which batches training sees.
DATA_MAY_CHANGE = frozenset(
    ("root", "eval_batch_size", "num_workers", "pin_memory", "persistent_workers")
    + ("prefetch_factor", "predict_dir")
)
MODEL_FIXED_ON_RESUME = ("optim",)  # the optimiser state and schedule come from the checkpoint
IGNORED = ("_instantiator", "_class_path")
CHECKED_APART = ("dataset", "tasks")  # by ``read_checked``, which knows equivalent task lists


class Unloadable(DMTLError):
    """A checkpoint that the configured model cannot resume from; the message says why."""


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys to plain leaf values of nested mappings, dataclasses and namespaces."""
    if dataclasses.is_dataclass(tree) and not isinstance(tree, type):
        tree = dataclasses.asdict(tree)
    elif hasattr(tree, "as_dict"):
        tree = tree.as_dict()
    if not isinstance(tree, Mapping):
        return {prefix: list(tree) if isinstance(tree, tuple) else tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if key not in IGNORED:
            out.update(flatten(value, f"{prefix}{key}."))
    return {key.rstrip("."): value for key, value in out.items()} if not prefix else out


def check_loads(path: Path, model: torch.nn.Module, data: Mapping[str, Any]) -> dict[str, Any]:
    """The checkpoint ``path`` (options grouped), once checked to be one ``model`` resumes from.

    Args:
        path: the candidate (a link is followed).
        model: the configured module.
        data: the configured data module's hyper-parameters.

    Raises:
        Unloadable: a dangling link, a file that is not a whole weights-only checkpoint, another
            task set or dataset, or weights of another shape.
    """
    if path.is_symlink() and not path.exists():
        raise Unloadable(f"a link to {os.readlink(path)}, which does not exist")
    try:
        grouped = read_checked(path, data["dataset"], data.get("tasks"), data.get("num_classes"))
        raw = {**read_checkpoint(path), "hyper_parameters": grouped}  # either layout of options
    except ConfigError as err:
        raise Unloadable(str(err).replace(f"checkpoint {path}", "it")) from err
    saved = flatten(grouped)
    ours = flatten(getattr(model, "hparams", {}))
    shaped = [
        key
        for key in sorted(set(saved) & set(ours))
        if not is_runtime(key) and key not in CHECKED_APART and saved[key] != ours[key]
    ]
    if shaped:
        given = ", ".join(f"{k}={saved[k]!r} (config: {ours[k]!r})" for k in shaped)
        raise Unloadable(f"it was trained with other weight-shaping options: {given}")
    weights = raw.get("state_dict") or {}
    for name, tensor in model.state_dict().items():
        theirs = weights.get(name)
        if theirs is None or tuple(theirs.shape) != tuple(tensor.shape):
            what = "lacks it" if theirs is None else f"has {tuple(theirs.shape)}"
            raise Unloadable(
                f"its weights do not fit the configured network ({name}: the model has "
                f"{tuple(tensor.shape)}, the checkpoint {what})"
            )
    return raw


def check_unchanged(
    raw: Mapping[str, Any], model: Any, data: Mapping[str, Any], path: Path
) -> None:
    """Refuse a resume whose options would be silently overruled by the checkpoint.

    Raises:
        ConfigError: a ``model.optim`` option, or a data option outside ``DATA_MAY_CHANGE``,
            differs from the checkpoint's.
    """
    saved_model = flatten(raw.get("hyper_parameters") or {})
    ours_model = flatten(getattr(model, "hparams", {}))
    saved_data = flatten(raw.get("datamodule_hyper_parameters") or {})
    ours_data = flatten(dict(data))
    changed = [
        (f"model.{k}", saved_model[k], ours_model[k])
        for k in sorted(set(saved_model) & set(ours_model))
        if k.split(".")[0] in MODEL_FIXED_ON_RESUME and saved_model[k] != ours_model[k]
    ]
    changed += [
        (f"data.{k}", saved_data[k], ours_data[k])
        for k in sorted(set(saved_data) & set(ours_data))
        if k.split(".")[0] not in DATA_MAY_CHANGE and saved_data[k] != ours_data[k]
    ]
    if changed:
        given = ", ".join(f"--{k}={new!r} (the checkpoint's: {old!r})" for k, old, new in changed)
        raise ConfigError(
            f"a resumed fit continues checkpoint {path} with its optimiser, schedule and data "
            f"order, which {given} would change; drop the option(s), or start a new run folder "
            f"(another --trainer.logger.init_args.version). Options a resume may change: the "
            f"trainer's (e.g. max_epochs), model.loss, model.evaluation, model.speed, the noise "
            f"options, data.{', data.'.join(sorted(DATA_MAY_CHANGE))}"
        )


def choose(
    candidates: list[Path],
    model: torch.nn.Module,
    data: Mapping[str, Any],
    where: Path,
    say: bool = True,
) -> Path:
    """The newest of ``candidates`` (newest first) that ``model`` can resume from.

    Prints ``dmtl: skipping <path>: <why>`` for each one passed over (with ``say``: rank 0),
    then checks that the
    chosen one's fixed options are the config's (``check_unchanged``).

    Raises:
        ConfigError: none of them loads (one line naming each and why), or a fixed option differs.
    """
    reasons = []
    for path in candidates:
        try:
            raw = check_loads(path, model, data)
        except Unloadable as why:
            reasons.append(f"{path.name}: {why}")
            if say:
                print(f"dmtl: skipping {path}: {why}", file=sys.stderr, flush=True)
            continue
        check_unchanged(raw, model, data, path)
        return path
    raise ConfigError(
        f"no checkpoint in {where} can be resumed from ({'; '.join(reasons)}); fix or remove "
        "them, or start a new run folder (another --trainer.logger.init_args.version)"
    )


def resume_from(
    trainer: pl.Trainer,
    model: torch.nn.Module,
    datamodule: pl.LightningDataModule,
    given: str | None,
    auto_resume: bool,
) -> str | None:
    """The ``ckpt_path`` that ``fit`` is to load: ``given``, checked, or the run folder's choice.

    An explicit file (its model section was already read from it) is checked to load and to keep
    the fixed options; ``None`` (with ``auto_resume``) and ``last`` take the newest candidate of
    the run folder that loads (``choose``); anything else (Lightning's ``hpc``, a URL) is left
    to Lightning. Rank 0 says what it resumes from.
    """
    data = dict(datamodule.hparams)
    say = trainer.is_global_zero
    path = checkpoint_file(given)
    if path is not None:
        check_unchanged(check_loads(path, model, data), model, data, path)
        return given
    if given not in (None, "last") or (given is None and not auto_resume):
        return given
    folder = checkpoint_dir(trainer)
    candidates = resume_candidates(trainer)
    if not candidates:
        if given == "last" and say:
            print(
                f"dmtl: --ckpt_path last: no checkpoint in {folder}; starting from scratch",
                file=sys.stderr,
            )
        return None
    found = choose(candidates, model, data, folder, say)
    if say:
        print(f"dmtl: resuming from {found}", file=sys.stderr, flush=True)
    return str(found)
