"""The prepared tree: its marker file, its staging folder and the rename that puts it in place.

A tree is prepared when it holds ``.dmtl-prepared.json``, written last into the staging folder
after every check passed; the staging folder is a hidden sibling of the root, so the final step
is a rename on one file system. A root without the marker is never trusted, and an interrupted run
leaves at most a staging folder, which the next run removes.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dmtl.errors import ConfigError

MARKER = ".dmtl-prepared.json"
SPLITS_FOLDER = "splits"


def downloads_folder(root: Path) -> Path:
    """Where the downloads of ``root`` are kept until it is prepared: ``<root>.downloads``."""
    return root.with_name(root.name + ".downloads")


def _staging_prefix(root: Path) -> str:
    return f".{root.name}.staging-"


def read_marker(root: Path) -> dict[str, Any] | None:
    """The content of the root's marker, or ``None`` if it has none (or an unreadable one)."""
    try:
        content = json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return content if isinstance(content, dict) and "dataset" in content else None


def write_marker(root: Path, content: dict[str, Any]) -> None:
    """Write the marker: the last step before the tree is renamed into place."""
    (root / MARKER).write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")


def check_target(root: Path, force: bool) -> None:
    """Refuse to replace a root that holds anything dmtl did not prepare, unless ``force``.

    Raises:
        ConfigError: ``root`` is a file, or a non-empty folder without the marker.
    """
    if root.exists() and not root.is_dir():
        raise ConfigError(f"--root {root} is a file; name a folder to prepare the dataset in")
    if force or not root.is_dir() or read_marker(root) is not None:
        return
    if any(root.iterdir()):
        raise ConfigError(
            f"--root {root} holds files that dmtl prepare did not put there (no {MARKER}); "
            "name an empty or new folder, or pass --force to replace it"
        )


def remove_stale_staging(root: Path) -> None:
    """Remove the staging folders that interrupted runs left beside ``root``."""
    if root.parent.is_dir():
        for stale in root.parent.glob(_staging_prefix(root) + "*"):
            shutil.rmtree(stale, ignore_errors=True)


@contextmanager
def staging(root: Path) -> Iterator[Path]:
    """A fresh hidden sibling folder of ``root``, removed when the block ends (however it ends)."""
    root.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=_staging_prefix(root), dir=root.parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def install(built: Path, root: Path) -> None:
    """Rename the checked tree ``built`` to ``root``, replacing what is there.

    The old root is first renamed into the staging folder that holds ``built`` (so it is removed
    with it), then ``built`` takes its name: at no moment does ``root`` hold a partial tree.
    """
    if root.exists():
        old = built.parent / f".replaced-{root.name}"
        while old.exists():
            old = old.with_name(old.name + "_")
        root.replace(old)
    built.replace(root)
