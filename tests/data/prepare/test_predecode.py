"""``dmtl prepare pascal_context`` writes the pre-decoded form; ``--predecode-only`` rewrites it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from dmtl.cli import main
from dmtl.data.prepare import predecode
from dmtl.data.prepare.tree import MARKER
from dmtl.data.readers.pascal_context import TASKS, PascalContextDataset
from dmtl.data.readers.predecoded import FOLDER, INDEX_NAME, split_folder
from dmtl.errors import DataError
from support.pascal import TRAIN_IDS, write_pascal_context


def _run(capsys, *args: str) -> list[str]:
    main(["prepare", *args])
    return capsys.readouterr().err.splitlines()


def _fails(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(["prepare", *args])
    assert exit_info.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines()
              if not line.startswith("dmtl prepare:")]  # fmt: skip
    assert len(errors) == 1 and errors[0].startswith("dmtl: error: ")
    return errors[0]


def test_prepare_writes_the_form_and_the_reader_uses_it(pascal_source, tmp_path, capsys):
    root = tmp_path / "PASCALContext"
    err = _run(capsys, "pascal_context", "--root", str(root))
    assert any(f"pre-decoded train (4 samples; {', '.join(TASKS)}) into {root}/" in line
               for line in err)  # fmt: skip
    assert not any(".staging-" in line for line in err)
    assert json.loads((root / MARKER).read_text())["predecoded"] is True
    index = json.loads((split_folder(root, "train") / INDEX_NAME).read_text())
    assert index["ids"] == TRAIN_IDS and index["tasks"] == list(TASKS)
    fast = PascalContextDataset(root, "train", list(TASKS))
    assert fast.predecoded is not None
    decoded = PascalContextDataset(root, "train", list(TASKS), predecoded=False)
    for key, value in decoded.load_sample(1).items():
        assert np.array_equal(fast.load_sample(1)[key], value)


def test_no_predecode_skips_it(pascal_source, tmp_path, capsys) -> None:
    root = tmp_path / "PASCALContext"
    _run(capsys, "pascal_context", "--root", str(root), "--no-predecode")
    assert not (root / FOLDER).exists()
    assert json.loads((root / MARKER).read_text())["predecoded"] is False


def test_predecode_only_on_an_existing_tree_replaces_a_stale_form(tmp_path, capsys) -> None:
    root = write_pascal_context(tmp_path / "PASCAL_MT")
    shutil.rmtree(root / "human_parts")  # a tree without one task: the others are written
    err = _run(capsys, "pascal_context", "--root", str(root), "--predecode-only")
    assert any("pre-decoded val (2 samples; semseg, sal, normals, edge)" in line for line in err)
    (root / "ImageSets/Context/train.txt").write_text("\n".join(TRAIN_IDS[:2]) + "\n")
    assert PascalContextDataset(root, "train", ["semseg"]).predecoded is None  # stale
    _run(capsys, "pascal_context", "--root", str(root), "--predecode-only")
    assert PascalContextDataset(root, "train", ["semseg"]).predecoded is not None
    assert sorted(p.name for p in (root / FOLDER).iterdir()) == ["train", "val"]  # no leftovers


def test_predecode_only_failures_are_one_line(tmp_path, capsys) -> None:
    assert "nyuv2 has no pre-decoded form" in _fails(
        capsys, "nyuv2", "--root", str(tmp_path), "--predecode-only"
    )
    line = _fails(capsys, "pascal_context", "--root", str(tmp_path / "none"), "--predecode-only")
    assert f"--root {tmp_path / 'none'} does not exist" in line
    root = write_pascal_context(tmp_path / "PASCAL_MT")
    (root / "JPEGImages" / f"{TRAIN_IDS[2]}.jpg").write_bytes(b"not a jpeg")
    line = _fails(capsys, "pascal_context", "--root", str(root), "--predecode-only")
    assert "cannot pre-decode" in line and f"{TRAIN_IDS[2]}.jpg" in line
    assert not (root / FOLDER / "train").exists()
    assert not list((root / FOLDER).glob(".train.partial-*"))  # nothing half-written kept


def test_short_disk_space_stops_before_writing(tmp_path, monkeypatch) -> None:
    root = write_pascal_context(tmp_path / "PASCAL_MT")
    monkeypatch.setattr(predecode, "BYTES_PER_PIXEL", 2**40)
    with pytest.raises(DataError, match="needs .* GiB.*--no-predecode"):
        predecode.predecode_tree(root)
    assert not list((root / FOLDER).iterdir())
