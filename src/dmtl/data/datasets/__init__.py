"""The datasets dmtl reads: one registry entry of facts per ``data.dataset`` value.

``DatasetInfo`` (``info.py``) holds a dataset's tasks and channels, protocol, depth convention,
label set (class names and colours, ``labelsets.py``), reader and how ``dmtl prepare`` gets it;
``registry.py`` holds the entries and the lookups that the data module, ``dmtl.tasks``, the
reports, the pictures and ``dmtl prepare`` read.
"""

from dmtl.data.datasets.info import DatasetInfo, Preparation, Reader, Reading
from dmtl.data.datasets.labelsets import ClassList, LabelSet
from dmtl.data.datasets.registry import (
    DATASETS,
    dataset_info,
    dataset_names,
    find_dataset,
    has_inverse_depth,
    preparation_of,
    prepared_datasets,
)

__all__ = [
    "DATASETS",
    "ClassList",
    "DatasetInfo",
    "LabelSet",
    "Preparation",
    "Reader",
    "Reading",
    "dataset_info",
    "dataset_names",
    "find_dataset",
    "has_inverse_depth",
    "preparation_of",
    "prepared_datasets",
]
