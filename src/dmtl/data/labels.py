"""Label settings: which (sample, task) labels a partially supervised run may use.

A label mask is ``bool[N, K]``: row i is sample i, column k is task k of the label task list
(the dataset's standard tasks, the column order of MTPSL split files). True means the sample's
label for that task may reach a training loss.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from dmtl.errors import ConfigError, DataError, MissingDataError

LABEL_SETTINGS = ("full", "onelabel", "randomlabels")
log = logging.getLogger(__name__)

SPLIT_FILE_KEY = "labels_weights"  # the key MTPSL split files store their [N, K] matrix under


def make_label_mask(setting: str, num_samples: int, num_tasks: int, seed: int = 0) -> torch.Tensor:
    """Draw a label mask for a named setting.

    Args:
        setting: ``full`` (every label), ``onelabel`` (exactly one task per sample, balanced:
            task counts differ by at most one), or ``randomlabels`` (a uniformly drawn number
            1..K-1 of tasks per sample, then a uniformly drawn subset of that size, as in MTPSL;
            with K = 1 every sample keeps its one label).
        num_samples: N.
        num_tasks: K.
        seed: the draw is a pure function of (setting, N, K, seed).

    Returns:
        bool[N, K]
    """
    if setting not in LABEL_SETTINGS:
        raise ConfigError(
            f"unknown label setting {setting!r}; choose one of {', '.join(LABEL_SETTINGS)} "
            "or give a split file"
        )
    if num_samples <= 0 or num_tasks <= 0:
        raise ConfigError(f"a label mask needs N > 0 and K > 0, got N={num_samples}, K={num_tasks}")
    gen = torch.Generator().manual_seed(seed)
    if setting == "full":
        return torch.ones(num_samples, num_tasks, dtype=torch.bool)
    if setting == "onelabel":
        # Task k goes to the samples whose position in a random permutation is k mod K: balanced.
        order = torch.randperm(num_samples, generator=gen)
        task_of = torch.empty(num_samples, dtype=torch.long)
        task_of[order] = torch.arange(num_samples) % num_tasks
        return torch.nn.functional.one_hot(task_of, num_tasks).bool()
    # randomlabels: size c_i ~ U{1..K-1}, then the c_i tasks of lowest random key are labelled.
    max_count = max(num_tasks - 1, 1)
    counts = torch.randint(1, max_count + 1, (num_samples, 1), generator=gen)
    keys = torch.rand(num_samples, num_tasks, generator=gen)
    ranks = keys.argsort(dim=1).argsort(dim=1)
    return ranks < counts


def load_split_file(path: str | Path, num_samples: int, num_tasks: int) -> torch.Tensor:
    """Read an MTPSL split file (``{'labels_weights': FloatTensor[N, K]}``) as bool[N, K].

    The file is read with ``weights_only=True``, so no pickled code is ever executed.

    Raises:
        MissingDataError: the file does not exist.
        DataError: unreadable, not of the MTPSL form, or N, K that do not match the dataset.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"split file {path} does not exist")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe pickles
        raise DataError(
            f"split file {path} could not be read safely: {err}".splitlines()[0]
        ) from err
    if not isinstance(content, dict) or SPLIT_FILE_KEY not in content:
        raise DataError(
            f"split file {path} is not an MTPSL split: expected a dict with key {SPLIT_FILE_KEY!r}"
        )
    weights = torch.as_tensor(content[SPLIT_FILE_KEY])
    if weights.ndim != 2:
        raise DataError(
            f"split file {path}: {SPLIT_FILE_KEY!r} must be [N, K], got shape "
            f"{tuple(weights.shape)}"
        )
    if tuple(weights.shape) != (num_samples, num_tasks):
        raise DataError(
            f"split file {path} has shape [N={weights.shape[0]}, K={weights.shape[1]}] but the "
            f"dataset has N={num_samples} training samples and K={num_tasks} label tasks"
        )
    if not torch.isin(weights, torch.tensor([0.0, 1.0], dtype=weights.dtype)).all():
        raise DataError(f"split file {path}: {SPLIT_FILE_KEY!r} must hold only 0 and 1")
    return weights.bool()


def save_split_file(mask: torch.Tensor, path: str | Path) -> None:
    """Write a bool[N, K] label mask in the MTPSL split-file format."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({SPLIT_FILE_KEY: mask.float()}, path)


def check_label_mask(mask: torch.Tensor, tasks: list[str], source: str) -> None:
    """A run's label mask labels something; a task without any labelled sample is warned about.

    Args:
        mask: bool[N, K], the columns of ``tasks``.
        tasks: the run's task names.
        source: where the mask comes from (the split file, or the label setting), for the message.

    Raises:
        DataError: no labelled (sample, task) pair at all (the run would train on nothing).
    """
    counts = mask.sum(0).tolist()
    if not any(counts):
        raise DataError(
            f"{source} labels no (sample, task) pair of the tasks {', '.join(tasks)}: the run "
            "would train on nothing"
        )
    empty = [task for task, count in zip(tasks, counts, strict=True) if count == 0]
    if empty:
        log.warning(
            "%s labels no training sample for task(s) %s: they train on nothing (labelled "
            "samples per task %s)",
            source,
            ", ".join(empty),
            dict(zip(tasks, counts, strict=True)),
        )
