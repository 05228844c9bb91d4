"""``DatasetInfo``: the facts of one dataset, and the contract its reader keeps.

An entry is pure data: it imports no reader (the reader is named by its import path and imported
when a split is opened), so ``dmtl.tasks``, the reports and the pictures read the facts without
loading torch datasets, PIL or the renderer.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from dmtl.data.datasets.labelsets import LabelSet
from dmtl.data.prepare.sources import Source

# the protocol a dataset follows (its augmentation and evaluation, dmtl.data.augment): MTPSL's
# scale-crop at the native size, or ATRC's scaling, crop and padding to data.crop_size
ProtocolName = Literal["mtpsl", "atrc"]


class Reader(Protocol):
    """What the data module and ``dmtl prepare`` need of a reader (one split of a dataset).

    Built as ``reader(root, split, tasks, transform=None)`` (plus ``num_classes=`` where the
    dataset leaves class counts to the config); checks its folders and lists at construction.
    """

    tasks: list[str]
    sample_ids: list[str]
    transform: Callable[[dict], Any] | None

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Any: ...

    def load_sample(self, index: int) -> dict[str, Any]:
        """Sample ``index`` as a numpy dict, without the transform."""
        ...

    def task_file(self, index: int, task: str) -> Path:
        """The file that holds ``task`` of sample ``index`` (for messages)."""
        ...

    def check_files(self, min_size: int | None = None) -> None:
        """Check every file of the split cheaply (headers), and a few samples in full.

        ``min_size`` is the backbone's coarsest stride, the least image side it takes.
        """
        ...


@dataclass(frozen=True)
class Reading:
    """One reading of a prepared tree: ``dataset``'s reader over ``tasks`` of both splits.

    Attributes:
        dataset: the registry name whose reader reads the tree.
        tasks: the tasks read (``None``: that dataset's standard tasks).
        required: an optional reading is checked only when its semseg folder exists.
    """

    dataset: str
    tasks: tuple[str, ...] | None = None
    required: bool = True


@dataclass(frozen=True)
class Preparation:
    """How ``dmtl prepare`` gets a dataset: where from, and how the extracted tree is checked.

    Attributes:
        source: the archive and split files (``dmtl.data.prepare.sources``).
        readings: the readings that check the extracted tree (``dmtl.data.prepare.layout``).
        predecoded: whether the dataset has a pre-decoded form (``--predecode``).
    """

    source: Source
    readings: tuple[Reading, ...]
    predecoded: bool = False


@dataclass(frozen=True)
class DatasetInfo:
    """Everything dmtl knows of one ``data.dataset`` value, read by name from the registry.

    Attributes:
        name: the ``data.dataset`` value.
        reader: the reader class (``Reader``), or its ``module:Class`` path, imported when a
            split is opened (dmtl's entries name theirs so that the registry imports no reader).
        standard_tasks: the standard tasks, in split-file column order (``()``: the config
            names the tasks).
        channels: task -> channels of every task the dataset has (classes of segmentation);
            0 for a class count that comes from ``data.num_classes`` (``configurable_classes``).
        protocol: the augmentation and evaluation protocol (``ProtocolName``).
        inverse_depth: depth targets are inverse depth (no unit; zoom multiplies them).
        label_set: the class names and colours of the class-id tasks.
        synthetic: rendered on first use into ``data.root`` (the cache directory); no root needed.
        configurable_classes: tasks whose class count ``data.num_classes`` sets.
        preparation: how ``dmtl prepare`` gets it (``None``: not prepared by dmtl).
    """

    name: str
    reader: str | type
    standard_tasks: tuple[str, ...]
    channels: Mapping[str, int]
    protocol: ProtocolName = "mtpsl"
    inverse_depth: bool = False
    label_set: LabelSet | None = None
    synthetic: bool = False
    configurable_classes: tuple[str, ...] = ()
    preparation: Preparation | None = None

    def reader_class(self) -> type:
        """The reader class (imported now where ``reader`` names it)."""
        if not isinstance(self.reader, str):
            return self.reader
        module, _, name = self.reader.partition(":")
        return getattr(importlib.import_module(module), name)

    def open(
        self,
        root: str | Path,
        split: str,
        tasks: Sequence[str],
        transform: Callable[[dict], Any] | None = None,
        num_classes: Mapping[str, int] | None = None,
    ) -> Reader:
        """Split ``split`` of the dataset under ``root``, read for ``tasks``.

        ``num_classes`` reaches the reader only where the dataset leaves class counts to the
        config; the others know theirs.

        Raises:
            ConfigError, MissingDataError, DataError: the reader's, naming the folder or file.
        """
        extra = {"num_classes": num_classes} if self.configurable_classes else {}
        return self.reader_class()(root, split, list(tasks), transform=transform, **extra)
