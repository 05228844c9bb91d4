"""``dmtl prepare --mirror`` / ``DMTL_PREPARE_MIRROR`` (every file from one mirror) and
``--sha256`` (the archive pinned), on the loopback server."""

from __future__ import annotations

import hashlib
import json

import pytest

from dmtl.cli import main
from dmtl.data.prepare.mirror import MIRROR_VARIABLE
from dmtl.data.prepare.tree import MARKER

SPLITS = ("onelabel.pth", "randomlabels.pth")


def run(capsys, *args: str) -> list[str]:
    """``dmtl prepare ARGS``; its stderr lines."""
    main(["prepare", *args])
    return capsys.readouterr().err.splitlines()


def fails(capsys, *args: str) -> str:
    """``dmtl prepare ARGS`` must end with exit 2 and one error line; return it."""
    with pytest.raises(SystemExit) as exit_info:
        main(["prepare", *args])
    assert exit_info.value.code == 2
    errors = [
        line
        for line in capsys.readouterr().err.splitlines()
        if not line.startswith("dmtl prepare:")
    ]
    assert len(errors) == 1 and errors[0].startswith("dmtl: error: ")
    return errors[0]


@pytest.fixture()
def mirror(nyu_source, server, files) -> str:
    """A mirror on the server holding nyuv2's archive and split files; its base URL."""
    for name in ("nyuv2.zip", *SPLITS):
        server.add(f"/mirror/nyuv2/{name}", files[name])
    return server.url("/mirror")


def asked(server) -> list[str]:
    return [path for path, _ in server.requests]


def test_a_mirror_serves_the_archive_and_the_split_files(mirror, server, tmp_path, capsys):
    root = tmp_path / "nyuv2"
    run(capsys, "nyuv2", "--root", str(root), "--mirror", mirror + "/")
    assert sorted(asked(server)) == sorted(f"/mirror/nyuv2/{n}" for n in ("nyuv2.zip", *SPLITS))
    marker = json.loads((root / MARKER).read_text())
    assert marker["archive"]["source"] == f"{mirror}/nyuv2/nyuv2.zip"
    assert {s["url"] for s in marker["splits"].values()} == {f"{mirror}/nyuv2/{n}" for n in SPLITS}
    assert sorted(p.name for p in (root / "splits").iterdir()) == sorted(SPLITS)


def test_the_environment_variable_is_a_site_wide_mirror(
    mirror, server, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv(MIRROR_VARIABLE, mirror)
    run(capsys, "nyuv2", "--root", str(tmp_path / "nyuv2"))
    assert asked(server) and all(path.startswith("/mirror/nyuv2/") for path in asked(server))


def test_a_file_url_mirror_needs_no_server(nyu_source, files, server, tmp_path, capsys):
    folder = tmp_path / "shared" / "nyuv2"
    folder.mkdir(parents=True)
    for name in ("nyuv2.zip", *SPLITS):
        (folder / name).write_bytes(files[name])
    root = tmp_path / "nyuv2"
    run(capsys, "nyuv2", "--root", str(root), "--mirror", folder.parent.as_uri())
    assert (root / MARKER).is_file() and server.requests == []


def test_a_mirror_split_file_must_still_match_its_pin(mirror, server, files, tmp_path, capsys):
    good = files["onelabel.pth"]
    server.add("/mirror/nyuv2/onelabel.pth", good[:-1] + bytes([good[-1] ^ 1]))
    line = fails(capsys, "nyuv2", "--root", str(tmp_path / "nyuv2"), "--mirror", mirror)
    assert "onelabel.pth has sha256" in line and "checksum mismatch" in line
    assert not (tmp_path / "nyuv2").exists()


def test_a_mirror_without_the_file_names_its_url(mirror, server, tmp_path, capsys):
    del server.files["/mirror/nyuv2/nyuv2.zip"]
    line = fails(capsys, "nyuv2", "--root", str(tmp_path / "nyuv2"), "--mirror", mirror)
    assert f"{mirror}/nyuv2/nyuv2.zip" in line


def test_sha256_pins_the_archive(nyu_source, files, tmp_path, capsys):
    good = hashlib.sha256(files["nyuv2.zip"]).hexdigest()
    root = tmp_path / "nyuv2"
    err = run(capsys, "nyuv2", "--root", str(root), "--sha256", good.upper())
    assert any(f"{good} (matches the pinned value)" in line for line in err)
    assert json.loads((root / MARKER).read_text())["archive"]["pinned"] is True


def test_an_archive_of_another_sha256_is_refused(nyu_source, files, tmp_path, capsys):
    archive = tmp_path / "nyuv2.zip"
    archive.write_bytes(files["nyuv2.zip"])
    other = "0" * 64
    line = fails(
        capsys,
        "nyuv2",
        "--root",
        str(tmp_path / "nyuv2"),
        "--archive",
        str(archive),
        "--sha256",
        other,
    )
    actual = hashlib.sha256(files["nyuv2.zip"]).hexdigest()
    assert f"has sha256 {actual}, but --sha256 pins {other}" in line
    assert "pass --archive a good copy" in line and not (tmp_path / "nyuv2").exists()


@pytest.mark.parametrize(
    ("option", "value", "needle"),
    [("--sha256", "abc", "is not a sha256"), ("--mirror", "ftp://x", "is not an http://")],
)
def test_a_bad_mirror_or_sha256_is_one_line(nyu_source, tmp_path, capsys, option, value, needle):
    line = fails(capsys, "nyuv2", "--root", str(tmp_path / "nyuv2"), option, value)
    assert needle in line and value in line
