"""``dmtl predict --ckpt_path X --data.predict_dir=D``: the data options the checkpoint knows.

A checkpoint saves the dataset, the task list and the class counts it was trained with (the
module's hyper-parameters). ``predict`` takes them from it unless the command line gives them, so
that a checkpoint of one's own data (``folder``) predicts without the training config; with
``--data.predict_dir`` the dataset's root is not needed either (``dmtl.data.option_checks``).
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

from dmtl.checkpoint_check import saved_classes, trained_tasks
from dmtl.checkpoint_compat import grouped_hparams, read_checkpoint

DATA_KEYS = ("dataset", "tasks", "num_classes")  # data options a checkpoint's hparams hold


def given_data_keys(argv: Sequence[str]) -> set[str]:
    """The keys of ``DATA_KEYS`` that the command line sets (``--data.tasks=...``, ...)."""
    given = set()
    for token in argv:
        key = token.removeprefix("--data.").split("=", 1)[0].split(".", 1)[0]
        if token.startswith("--data.") and key in DATA_KEYS:
            given.add(key)
    return given


def take_data_from_checkpoint(
    data: MutableMapping[str, Any], path: Path, argv: Sequence[str]
) -> dict[str, Any]:
    """Set ``data``'s dataset, tasks and class counts to the checkpoint's, where ``argv`` does not
    set them; return what was taken.

    Args:
        data: the parsed ``data`` section (changed in place).
        path: the checkpoint file.
        argv: the command line.

    Raises:
        ConfigError: the file is not a readable checkpoint, or its saved task set is unknown.
    """
    raw = read_checkpoint(path)
    hparams = grouped_hparams(raw.get("hyper_parameters") or {}, str(path))
    saved = {
        "dataset": hparams.get("dataset"),
        "tasks": trained_tasks(path, hparams, raw.get("state_dict")),
        "num_classes": saved_classes(hparams),
    }
    taken = {
        key: value
        for key, value in saved.items()
        if value is not None and key not in given_data_keys(argv)
    }
    for key, value in taken.items():
        data[key] = value
    return taken
