"""The registry of datasets: one ``DatasetInfo`` per ``data.dataset`` value, and its lookups.

This is the one place keyed by dataset name (tests/data/test_dataset_registry.py checks that no
other module keys a table or a branch on one). Adding a dataset is a reader file under
``dmtl/data/readers/`` and an entry here (docs/datasets.md, "Adding a dataset").
"""

from __future__ import annotations

from dataclasses import replace

import dmtl.data.datasets.labelsets as labelsets
from dmtl.data.datasets.info import DatasetInfo, Preparation, Reading
from dmtl.data.prepare import sources
from dmtl.errors import ConfigError

READERS = "dmtl.data.readers"

# NYUv2 of the MTPSL/MTAN .npy layout; edge exists on the synthetic scenes only
NYUV2 = DatasetInfo(
    name="nyuv2",
    reader=f"{READERS}.nyuv2:NYUv2Dataset",
    standard_tasks=("semseg", "depth", "normals"),
    channels={"semseg": 13, "depth": 1, "normals": 3},
    label_set=labelsets.NYUV2,
    preparation=Preparation(sources.NYUV2, (Reading("nyuv2"),)),
)
# Cityscapes of the MTPSL/MTAN layout: label_7 (the protocol's default), depth is inverse depth
CITYSCAPES = DatasetInfo(
    name="cityscapes",
    reader=f"{READERS}.cityscapes:CityscapesDataset",
    standard_tasks=("semseg", "depth"),
    channels={"semseg": 7, "depth": 1},
    inverse_depth=True,
    label_set=labelsets.CITYSCAPES,
    # the archive holds label_19 too: checked as cityscapes19 when its folder is there
    preparation=Preparation(
        sources.CITYSCAPES,
        (Reading("cityscapes"), Reading("cityscapes19", ("semseg",), required=False)),
    ),
)
# the same tree read with label_19 (prepared as cityscapes)
CITYSCAPES19 = replace(
    CITYSCAPES,
    name="cityscapes19",
    reader=f"{READERS}.cityscapes:Cityscapes19Dataset",
    channels={"semseg": 19, "depth": 1},
    label_set=labelsets.CITYSCAPES19,
    preparation=None,
)
# NYUD-v2 in the ATRC/InvPT layout: the 40 classes of Gupta et al., depth in metres
NYUD = DatasetInfo(
    name="nyud",
    reader=f"{READERS}.nyud_atrc:NYUDDataset",
    standard_tasks=("semseg", "depth", "normals", "edge"),
    channels={"semseg": 40, "depth": 1, "normals": 3, "edge": 1},
    protocol="atrc",
    label_set=labelsets.NYUD,
    preparation=Preparation(sources.NYUD, (Reading("nyud"),)),
)
PASCAL_CONTEXT = DatasetInfo(
    name="pascal_context",
    reader=f"{READERS}.pascal_context:PascalContextDataset",
    standard_tasks=("semseg", "human_parts", "sal", "normals", "edge"),
    channels={"semseg": 21, "human_parts": 7, "sal": 2, "normals": 3, "edge": 1},
    protocol="atrc",
    label_set=labelsets.PASCAL_CONTEXT,
    preparation=Preparation(sources.PASCAL_CONTEXT, (Reading("pascal_context"),), True),
)
# The synthetic scenes (dmtl.data.synthetic) are rendered into the real layouts and read by the
# real readers, with the task sets and label sets of the datasets they imitate.
SYNTHETIC = replace(
    NYUV2,
    name="synthetic",
    channels={**NYUV2.channels, "edge": 1},
    synthetic=True,
    preparation=None,
)
SYNTHETIC_PASCAL = replace(
    PASCAL_CONTEXT, name="synthetic_pascal", synthetic=True, preparation=None
)
SYNTHETIC_CITYSCAPES = replace(
    CITYSCAPES, name="synthetic_cityscapes", synthetic=True, preparation=None
)
# One's own data (dmtl.data.readers.folder): no standard task list; the class count of semseg
# (0 here) comes from data.num_classes.
FOLDER = DatasetInfo(
    name="folder",
    reader=f"{READERS}.folder:FolderDataset",
    standard_tasks=(),
    channels={"semseg": 0, "depth": 1, "normals": 3, "edge": 1, "sal": 2},
    label_set=labelsets.FOLDER,
    configurable_classes=("semseg",),
)

DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        SYNTHETIC,
        NYUV2,
        CITYSCAPES,
        CITYSCAPES19,
        NYUD,
        PASCAL_CONTEXT,
        SYNTHETIC_PASCAL,
        SYNTHETIC_CITYSCAPES,
        FOLDER,
    )
}


def dataset_names() -> list[str]:
    """The names of the registered datasets, sorted."""
    return sorted(DATASETS)


def dataset_info(name: str) -> DatasetInfo:
    """The entry of dataset ``name``.

    Raises:
        ConfigError: no dataset of that name; the message lists the known ones.
    """
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; known datasets: {', '.join(dataset_names())}")
    return DATASETS[name]


def find_dataset(name: str | None) -> DatasetInfo | None:
    """The entry of dataset ``name``, ``None`` for no name or an unknown one (reports, pictures)."""
    return DATASETS.get(name) if name is not None else None


def has_inverse_depth(name: str | None) -> bool:
    """Whether ``name``'s depth is inverse depth (``False`` for an unknown dataset)."""
    info = find_dataset(name)
    return info is not None and info.inverse_depth


def prepared_datasets() -> list[str]:
    """The datasets ``dmtl prepare`` gets, sorted."""
    return sorted(name for name, info in DATASETS.items() if info.preparation is not None)


def preparation_of(name: str) -> Preparation:
    """How ``dmtl prepare`` gets dataset ``name``.

    Raises:
        ConfigError: a dataset dmtl does not prepare; the message lists those it does.
    """
    info = DATASETS.get(name)
    if info is None or info.preparation is None:
        known = ", ".join(prepared_datasets())
        raise ConfigError(f"dmtl prepare knows no dataset {name!r}; choose one of {known}")
    return info.preparation
