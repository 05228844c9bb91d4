"""What ``--ckpt_path`` names, checked before anything is built: one line for each bad kind.

A missing file, a folder, an empty, truncated or foreign file, a pickle payload and a checkpoint of
another task set each end the run with a ``ConfigError`` that names the file and what is wrong,
instead of Lightning's traceback (or three screens of state-dict keys) after the model was built.
Lightning's own names (``last``, ``best``, ``hpc``, ``registry``) and remote URLs are left to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dmtl.checkpoint_compat import grouped_hparams, read_checkpoint
from dmtl.errors import ConfigError, DMTLError
from dmtl.tasks import resolve_tasks

LIGHTNING_NAMES = frozenset({"last", "best", "hpc", "registry"})
DECODERS = "net.decoders."  # state-dict prefix of the per-task initial decoders


def checkpoint_file(ckpt_path: str | Path | None) -> Path | None:
    """The local file ``ckpt_path`` names, or ``None`` for none, Lightning's names and URLs.

    Raises:
        ConfigError: the path does not exist or is a folder.
    """
    if ckpt_path is None:
        return None
    text = str(ckpt_path)
    if text in LIGHTNING_NAMES or text.startswith("registry:") or "://" in text:
        return None
    path = Path(text)
    if path.is_dir():
        raise ConfigError(f"--ckpt_path {path} is a folder; name a checkpoint file in it")
    if not path.is_file():
        raise ConfigError(f"--ckpt_path {path} does not exist")
    return path


def read_checked(
    path: Path,
    dataset: str,
    tasks: Sequence[str] | None,
    num_classes: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The grouped hyper-parameters of the checkpoint ``path``, after checking its task set.

    Args:
        path: the checkpoint file.
        dataset: the configured dataset (``data.dataset``).
        tasks: the configured tasks (``data.tasks``; ``None``: the dataset's standard ones).
        num_classes: the configured class counts (``data.num_classes``; the folder dataset).

    Raises:
        ConfigError: the file is not a readable checkpoint (``read_checkpoint``), its
            hyper-parameters are of no known layout, or it was trained on another task set.
    """
    raw = read_checkpoint(path)
    hparams = grouped_hparams(raw.get("hyper_parameters") or {}, str(path))
    trained = trained_tasks(path, hparams, raw.get("state_dict"))
    specs = resolve_tasks(dataset, tasks, num_classes)
    configured = [spec.name for spec in specs]
    if trained is not None and trained != configured:
        raise ConfigError(
            f"checkpoint {path} was trained on [{', '.join(trained)}], the config has "
            f"[{', '.join(configured)}] (data.tasks of dataset {dataset!r}); set "
            f"--data.tasks=[{','.join(trained)}] or use a checkpoint of these tasks"
        )
    saved = hparams.get("dataset")
    if trained is not None and saved is not None:
        classes = saved_classes(hparams)
        theirs = {s.name: s.channels for s in resolve_tasks(saved, trained, classes)}
        ours = {s.name: s.channels for s in specs}
        if theirs != ours:
            raise ConfigError(
                f"checkpoint {path} was trained on dataset {saved!r} with output channels "
                f"{theirs}, the config's dataset {dataset!r} has {ours}; use a checkpoint of "
                f"{dataset!r} or set --data.dataset={saved}"
            )
    return hparams


def trained_tasks(path: Path, hparams: Mapping[str, Any], state_dict: Any) -> list[str] | None:
    """The task list a checkpoint was trained on: its hyper-parameters', else its decoders'.

    ``None`` when neither tells (a checkpoint of no dmtl module); the decoders give the names in
    the order of the state dict, which is the task order.

    Raises:
        ConfigError: the saved dataset or tasks are of no known task set.
    """
    if "dataset" in hparams or hparams.get("tasks") is not None:
        try:
            dataset, names = hparams.get("dataset", "synthetic"), hparams.get("tasks")
            specs = resolve_tasks(dataset, names, saved_classes(hparams))
        except DMTLError as err:
            raise ConfigError(f"checkpoint {path}: its saved task set is unknown: {err}") from err
        return [spec.name for spec in specs]
    if not isinstance(state_dict, Mapping):
        return None
    names: list[str] = []
    for key in state_dict:
        if isinstance(key, str) and key.startswith(DECODERS):
            name = key[len(DECODERS) :].split(".", 1)[0]
            if name not in names:
                names.append(name)
    return names or None


def saved_classes(hparams: Mapping[str, Any]) -> Mapping[str, int] | None:
    """The class counts a checkpoint saved with its network options (the folder dataset)."""
    network = hparams.get("network")
    return network.get("num_classes") if isinstance(network, Mapping) else None
