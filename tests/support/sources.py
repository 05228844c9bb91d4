"""A dataset's `dmtl prepare` source pointed elsewhere for one test (its registry entry patched)."""

from __future__ import annotations

import dataclasses

import pytest

from dmtl.data.datasets import DATASETS, preparation_of
from dmtl.data.prepare.sources import Source


def published_source(dataset: str) -> Source:
    """The source the registry holds for ``dataset``."""
    return preparation_of(dataset).source


def use_source(monkeypatch: pytest.MonkeyPatch, dataset: str, source: Source) -> None:
    """Make ``dmtl prepare <dataset>`` get ``source`` until the test ends."""
    info = DATASETS[dataset]
    preparation = dataclasses.replace(info.preparation, source=source)
    monkeypatch.setitem(DATASETS, dataset, dataclasses.replace(info, preparation=preparation))
