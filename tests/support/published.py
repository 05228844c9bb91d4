"""Published files as the prepare registry records them, for tests that serve their own."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from dmtl.data.labels import save_split_file
from dmtl.data.prepare.sources import Remote


def pinned(name: str, data: bytes, url: str) -> Remote:
    """A file served at ``url`` with its size and sha256 pinned, as the split files are."""
    digest = hashlib.sha256(data).hexdigest()
    return Remote(name, url, "the test server", size=len(data), sha256=digest, pinned_by="test")


def mtpsl_split(path: Path, rows: list[list[int]]) -> bytes:
    """Write an MTPSL split file ``{'labels_weights': rows}`` at ``path``; return its bytes."""
    save_split_file(torch.tensor(rows, dtype=torch.bool), path)
    return path.read_bytes()
