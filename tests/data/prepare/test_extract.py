"""Extraction: zip and tar.gz by content, members outside the folder refused, damage detected."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from dmtl.data.prepare.extract import extract
from dmtl.errors import DataError


def _tree(tmp_path: Path) -> Path:
    folder = tmp_path / "tree"
    (folder / "train" / "image").mkdir(parents=True)
    (folder / "train" / "image" / "0.npy").write_bytes(b"a" * 5000)
    (folder / "README").write_text("hello")
    return folder


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, data in members.items():
            zipped.writestr(name, data)
    return path


def _tar(path: Path, members: list[tarfile.TarInfo]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info in members:
            data = b"x" * info.size
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def _info(
    name: str, kind: bytes = tarfile.REGTYPE, size: int = 3, link: str = ""
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, size if kind == tarfile.REGTYPE else 0, link
    return info


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_extracts_zip_and_tar_gz_whatever_their_name(tmp_path: Path, kind: str) -> None:
    from support.archives import tar_folder, zip_folder

    folder = _tree(tmp_path)
    archive = tmp_path / "download.bin"  # no telling suffix: the content decides
    if kind == "zip":
        zip_folder(folder, archive, "top")
    else:
        tar_folder(folder, archive, "top")
    assert extract(archive, tmp_path / "out") == 2
    assert (tmp_path / "out" / "top" / "train" / "image" / "0.npy").read_bytes() == b"a" * 5000
    assert (tmp_path / "out" / "top" / "README").read_text() == "hello"


@pytest.mark.parametrize("name", ["../evil.txt", "top/../../evil.txt", "/etc/evil.txt", "C:/x"])
def test_zip_members_outside_the_folder_are_refused(tmp_path: Path, name: str) -> None:
    archive = _zip(tmp_path / "a.zip", {"top/ok.txt": b"ok", name: b"evil"})
    with pytest.raises(DataError, match="leads outside the extraction folder") as info:
        extract(archive, tmp_path / "out" / "x")
    assert repr(name) in str(info.value)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "evil.txt").exists()


@pytest.mark.parametrize(
    "member",
    [
        _info("../evil.txt"),
        _info("/tmp/evil.txt"),
        _info("top/link", tarfile.SYMTYPE, link="/etc/passwd"),
        _info("top/hard", tarfile.LNKTYPE, link="../../evil.txt"),
        _info("top/fifo", tarfile.FIFOTYPE),
    ],
    ids=["dotdot", "absolute", "symlink", "hardlink", "fifo"],
)
def test_tar_members_outside_the_folder_or_links_are_refused(tmp_path: Path, member) -> None:
    archive = _tar(tmp_path / "a.tar.gz", [_info("top/ok.txt"), member])
    with pytest.raises(DataError, match="refusing to extract it") as info:
        extract(archive, tmp_path / "out")
    assert repr(member.name) in str(info.value)
    assert not (tmp_path / "out" / "top" / "link").exists()


def test_zip_symlink_members_are_refused(tmp_path: Path) -> None:
    info = zipfile.ZipInfo("top/link")
    info.external_attr = 0o120777 << 16  # a symbolic link, as Info-ZIP stores one
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zipped:
        zipped.writestr(info, "/etc/passwd")
    with pytest.raises(DataError, match="link or special file"):
        extract(tmp_path / "a.zip", tmp_path / "out")


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_truncated_archives_are_corrupt(tmp_path: Path, kind: str) -> None:
    from support.archives import tar_folder, zip_folder

    folder = _tree(tmp_path)
    (folder / "big.bin").write_bytes(bytes(range(256)) * 2000)
    whole = tmp_path / f"whole.{kind}"
    zip_folder(folder, whole, "top") if kind == "zip" else tar_folder(folder, whole, "top")
    cut = tmp_path / f"cut.{kind}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(DataError, match="corrupt or truncated") as info:
        extract(cut, tmp_path / "out")
    assert str(cut) in str(info.value) and "\n" not in str(info.value)


def test_zip_with_a_damaged_member_is_corrupt(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "a.zip", {"top/data.bin": b"z" * 20000})
    raw = bytearray(archive.read_bytes())
    raw[60] ^= 0xFF  # inside the compressed data: the CRC check fails
    archive.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="corrupt or truncated"):
        extract(archive, tmp_path / "out")


@pytest.mark.parametrize("content", [b"<html>gone</html>", b"", b"\x1f\x8b garbage"])
def test_neither_zip_nor_tar_is_named(tmp_path: Path, content: bytes) -> None:
    archive = tmp_path / "a.zip"
    archive.write_bytes(content)
    with pytest.raises(DataError, match="a.zip") as info:
        extract(archive, tmp_path / "out")
    assert "\n" not in str(info.value)
