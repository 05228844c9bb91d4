"""``dmtl prepare`` through the CLI: success, idempotence, resume, and one-line failures."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from dmtl.cli import main
from dmtl.data.prepare.download import part_path, rejected_path
from dmtl.data.prepare.tree import MARKER
from support.http_server import closed_port_url
from support.sources import use_source


def prepare(capsys, *args: str) -> tuple[str, list[str]]:
    """Run ``dmtl prepare ARGS``; return stdout and the stderr lines that are not progress."""
    main(["prepare", *args])
    captured = capsys.readouterr()
    return captured.out, captured.err.splitlines()


def fails(capsys, *args: str) -> str:
    """Run ``dmtl prepare ARGS``, which must fail with exit 2 and one error line; return it."""
    with pytest.raises(SystemExit) as exit_info:
        main(["prepare", *args])
    assert exit_info.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines()
              if not line.startswith("dmtl prepare:")]  # fmt: skip
    assert len(errors) == 1 and errors[0].startswith("dmtl: error: ")
    return errors[0]


def no_tree(root: Path) -> bool:
    """Nothing prepared at ``root`` and no staging folder beside it."""
    staging = list(root.parent.glob(f".{root.name}.staging-*"))
    return not (root / MARKER).exists() and not staging


def test_nyuv2_over_http_then_a_second_run_does_nothing(nyu_source, server, tmp_path, capsys):
    root = tmp_path / "data" / "nyuv2"
    _, err = prepare(capsys, "nyuv2", "--root", str(root))
    assert any(line.startswith("dmtl prepare: downloading nyuv2.zip") for line in err)
    assert any("complete" in line for line in err)
    assert any(f"prepared nyuv2 in {root} (train 4, val 2 samples)" in line for line in err)
    assert any("published nyuv2 archive holds train 795, val 654" in line for line in err)
    assert any("no published checksum: pin this value" in line for line in err)
    assert sorted(p.name for p in root.iterdir()) == [MARKER, "splits", "train", "val"]
    assert sorted(p.name for p in (root / "splits").iterdir()) == [
        "onelabel.pth",
        "randomlabels.pth",
    ]
    marker = json.loads((root / MARKER).read_text())
    assert marker["dataset"] == "nyuv2" and marker["counts"] == {"train": 4, "val": 2}
    assert marker["archive"]["pinned"] is False and len(marker["archive"]["sha256"]) == 64
    assert not (tmp_path / "data" / "nyuv2.downloads").exists()  # removed once prepared
    assert not list((tmp_path / "data").glob(".nyuv2.staging-*"))
    requests = len(server.requests)
    _, err = prepare(capsys, "nyuv2", "--root", str(root))
    assert err == [f"dmtl prepare: {root} is already prepared (nyuv2, {marker['prepared_at']}); "
                   "nothing to do (--force prepares it again)"]  # fmt: skip
    assert len(server.requests) == requests  # nothing downloaded


def test_the_prepared_tree_reads_as_nyuv2(nyu_source, tmp_path, capsys) -> None:
    from dmtl.data.datamodule import MultiTaskDataModule
    from support.mtpsl import nyuv2_sample

    root = tmp_path / "nyuv2"
    prepare(capsys, "nyuv2", "--root", str(root))
    data = MultiTaskDataModule(dataset="nyuv2", root=str(root), num_workers=0, augment=False,
                               split_file=str(root / "splits" / "onelabel.pth"))  # fmt: skip
    data.setup("fit")
    assert data.labelled.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]]
    sample = np.load(root / "val" / "depth" / "1.npy")
    np.testing.assert_array_equal(sample[..., 0], nyuv2_sample(1, 32, 40)["depth"])


def test_force_prepares_again_and_replaces_the_tree(nyu_source, tmp_path, capsys) -> None:
    root = tmp_path / "nyuv2"
    prepare(capsys, "nyuv2", "--root", str(root))
    (root / "train" / "label" / "0.npy").unlink()  # damage the prepared tree
    prepare(capsys, "nyuv2", "--root", str(root), "--force", "--keep-download")
    assert (root / "train" / "label" / "0.npy").is_file()
    assert (tmp_path / "nyuv2.downloads" / "nyuv2.zip").is_file()


def test_a_truncated_part_is_resumed(nyu_source, server, files, tmp_path, capsys) -> None:
    root = tmp_path / "nyuv2"
    downloads = tmp_path / "nyuv2.downloads"
    downloads.mkdir()
    part_path(downloads / "nyuv2.zip").write_bytes(files["nyuv2.zip"][:1000])
    _, err = prepare(capsys, "nyuv2", "--root", str(root))
    assert ("/nyuv2.zip", "bytes=1000-") in server.requests
    assert any("resuming after 1000 B" in line for line in err)
    assert (root / MARKER).is_file()


def test_broken_download_is_one_line_keeps_the_part_and_resumes(
    nyu_source, server, files, tmp_path, capsys
) -> None:
    root = tmp_path / "nyuv2"
    server.add("/nyuv2.zip", files["nyuv2.zip"], mode="truncate")
    line = fails(capsys, "nyuv2", "--root", str(root))
    assert "broke off" in line and server.url("/nyuv2.zip") in line and "--archive FILE" in line
    part = part_path(tmp_path / "nyuv2.downloads" / "nyuv2.zip")
    assert part.stat().st_size == len(files["nyuv2.zip"]) // 2
    assert not (tmp_path / "nyuv2.downloads" / "nyuv2.zip").exists() and no_tree(root)
    server.add("/nyuv2.zip", files["nyuv2.zip"])
    prepare(capsys, "nyuv2", "--root", str(root))
    assert (root / MARKER).is_file()


def test_no_network_is_one_line_with_the_manual_steps(nyu_source, monkeypatch, tmp_path, capsys):
    url = closed_port_url("/nyuv2.zip")
    archive = dataclasses.replace(nyu_source.archive, url=url)
    use_source(monkeypatch, "nyuv2", dataclasses.replace(nyu_source, archive=archive))
    root = tmp_path / "nyuv2"
    line = fails(capsys, "nyuv2", "--root", str(root))
    assert "cannot reach" in line and url in line
    assert f"put it at {tmp_path / 'nyuv2.downloads' / 'nyuv2.zip'}" in line
    assert "--archive FILE" in line and no_tree(root) and not root.exists()
    assert not (tmp_path / "nyuv2.downloads").exists()  # no empty folder left behind


def test_a_pinned_file_with_another_checksum_is_rejected(nyu_source, server, files, tmp_path,
                                                        capsys) -> None:  # fmt: skip
    good = files["onelabel.pth"]
    server.add("/splits/onelabel.pth", good[:-1] + bytes([good[-1] ^ 1]))  # same size
    root = tmp_path / "nyuv2"
    line = fails(capsys, "nyuv2", "--root", str(root))
    assert "onelabel.pth has sha256" in line and "checksum mismatch" in line
    assert "run again to download it anew" in line
    assert rejected_path(tmp_path / "nyuv2.downloads" / "onelabel.pth").is_file()
    assert no_tree(root) and not root.exists()


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (lambda data: data[: len(data) // 2], "corrupt or truncated"),  # a truncated archive
        (lambda data: b"<html>quota exceeded</html>" + data[27:], "neither a zip nor a tar"),
    ],
    ids=["truncated", "corrupt"],
)
def test_bad_archive_is_one_line_and_set_aside(nyu_source, server, files, tmp_path, capsys,
                                               damage, needle) -> None:  # fmt: skip
    server.add("/nyuv2.zip", damage(files["nyuv2.zip"]))
    root = tmp_path / "nyuv2"
    line = fails(capsys, "nyuv2", "--root", str(root))
    assert needle in line and "nyuv2.zip" in line and "run again to download it anew" in line
    assert rejected_path(tmp_path / "nyuv2.downloads" / "nyuv2.zip").is_file()
    assert not (tmp_path / "nyuv2.downloads" / "nyuv2.zip").exists()
    assert no_tree(root) and not root.exists()


def test_missing_layout_member_is_one_line_naming_it(nyu_source, tmp_path, capsys) -> None:
    from support.archives import zip_folder
    from support.mtpsl import write_nyuv2

    tree = write_nyuv2(tmp_path / "built", {"train": 4, "val": 2}, 32, 40)
    for path in (tree / "val" / "normal").iterdir():
        path.unlink()
    (tree / "val" / "normal").rmdir()
    archive = zip_folder(tree, tmp_path / "mine.zip", "nyuv2")
    root = tmp_path / "nyuv2"
    line = fails(capsys, "nyuv2", "--root", str(root), "--archive", str(archive))
    assert "mine.zip does not hold the nyuv2 layout" in line
    assert "mine.zip:nyuv2/val/normal does not exist" in line and "staging" not in line
    assert "pass --archive a good copy" in line
    assert archive.is_file() and no_tree(root) and not root.exists()  # the user's file is kept


def test_a_pinned_file_of_another_size_is_refused_before_download(nyu_source, server, tmp_path,
                                                                 capsys) -> None:  # fmt: skip
    server.add("/splits/onelabel.pth", b"an HTTP body of another size")
    line = fails(capsys, "nyuv2", "--root", str(tmp_path / "nyuv2"))
    assert "offers 28 bytes, but the pinned file has" in line and "onelabel.pth" in line
    assert no_tree(tmp_path / "nyuv2")


def test_split_file_of_another_size_is_one_line(nyu_source, server, monkeypatch, tmp_path,
                                                capsys) -> None:  # fmt: skip
    from support.published import mtpsl_split, pinned

    data = mtpsl_split(tmp_path / "x" / "onelabel.pth", [[1, 0, 0]] * 795)
    remote = pinned("onelabel.pth", data, server.add("/splits/795.pth", data))
    use_source(monkeypatch, "nyuv2", dataclasses.replace(nyu_source, splits=(remote,)))
    root = tmp_path / "nyuv2"
    line = fails(capsys, "nyuv2", "--root", str(root))
    assert "does not fit the archive nyuv2.zip" in line and "795" in line and "--no-splits" in line
    assert no_tree(root)
    prepare(capsys, "nyuv2", "--root", str(root), "--no-splits")
    assert (root / MARKER).is_file() and not (root / "splits").exists()


def test_a_folder_with_other_files_is_not_replaced(nyu_source, tmp_path, capsys) -> None:
    root = tmp_path / "nyuv2"
    root.mkdir()
    (root / "notes.txt").write_text("mine")
    line = fails(capsys, "nyuv2", "--root", str(root))
    assert str(root) in line and MARKER in line and "--force" in line
    assert (root / "notes.txt").read_text() == "mine"


def test_a_tree_of_another_dataset_is_not_taken_for_this_one(nyu_source, city_source, tmp_path,
                                                             capsys) -> None:  # fmt: skip
    root = tmp_path / "data"
    prepare(capsys, "cityscapes", "--root", str(root))
    line = fails(capsys, "nyuv2", "--root", str(root))
    assert "holds a prepared cityscapes tree, not nyuv2" in line


def test_cityscapes_from_a_file_url_reads_as_both_label_sets(city_source, files, tmp_path, capsys):
    from dmtl.data.readers.cityscapes import Cityscapes19Dataset, CityscapesDataset

    local = tmp_path / "mirror" / "cityscapes2.zip"
    local.parent.mkdir()
    local.write_bytes(files["cityscapes2.zip"])
    root = tmp_path / "cityscapes"
    prepare(capsys, "cityscapes", "--root", str(root), "--url", local.as_uri())
    marker = json.loads((root / MARKER).read_text())
    assert marker["archive"]["source"] == local.as_uri()
    assert len(CityscapesDataset(root, "val", ["semseg", "depth"])) == 2
    assert Cityscapes19Dataset(root, "train", ["semseg"])[0]["semseg"].max() == 18


def test_cityscapes_download_error_says_the_originals_need_a_login(city_source, server, tmp_path,
                                                                   capsys) -> None:  # fmt: skip
    server.files.pop("/cityscapes2.zip")
    line = fails(capsys, "cityscapes", "--root", str(tmp_path / "c"))
    assert "HTTP 404" in line and "needs a login" in line and "--archive FILE" in line


def test_pascal_context_from_a_tar_gz(pascal_source, tmp_path, capsys) -> None:
    from dmtl.data.readers.pascal_context import PascalContextDataset
    from support.pascal import TRAIN_IDS

    root = tmp_path / "PASCALContext"
    prepare(capsys, "pascal_context", "--root", str(root))
    assert (root / "splits" / "new_onelabel.pth").is_file()
    data = PascalContextDataset(root, "train", ["semseg", "human_parts", "sal", "normals", "edge"])
    assert data.sample_ids == TRAIN_IDS


def test_a_local_archive_needs_no_archive_download(nyu_source, server, files, tmp_path, capsys):
    archive = tmp_path / "nyuv2.tar.gz"
    archive.write_bytes(files["nyuv2.tar.gz"])
    root = tmp_path / "nyuv2"
    prepare(capsys, "nyuv2", "--root", str(root), "--archive", str(archive))
    assert "/nyuv2.zip" not in [path for path, _ in server.requests]
    assert (root / MARKER).is_file() and archive.is_file()


def test_unknown_dataset_and_missing_archive_are_one_line(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["prepare", "kitti", "--root", str(tmp_path / "x")])
    assert exit_info.value.code == 2 and "invalid choice: 'kitti'" in capsys.readouterr().err
    line = fails(capsys, "nyuv2", "--root", str(tmp_path / "x"), "--archive", "/no/such.zip")
    assert "--archive /no/such.zip does not exist" in line


def test_nyud_over_http_reads_as_nyud(nyud_source, server, tmp_path, capsys) -> None:
    from dmtl.data.readers.nyud_atrc import NYUDDataset
    from support.nyud import expected_sample, split_ids

    root = tmp_path / "data" / "NYUDv2"
    _, err = prepare(capsys, "nyud", "--root", str(root))
    assert any(line.startswith("dmtl prepare: downloading NYUDv2.tar.gz") for line in err)
    assert any(f"prepared nyud in {root} (train 4, val 2 samples)" in line for line in err)
    assert any("published nyud archive holds train 795, val 654" in line for line in err)
    assert any("no published checksum: pin this value" in line for line in err)
    folders = ["depth", "edge", "gt_sets", "images", "normals", "segmentation"]
    assert sorted(p.name for p in root.iterdir()) == sorted([MARKER, *folders])  # no splits/
    marker = json.loads((root / MARKER).read_text())
    assert marker["dataset"] == "nyud" and marker["splits"] == {} and not marker["predecoded"]
    data = NYUDDataset(root, "val", ["semseg", "depth", "normals", "edge"])
    assert data.sample_ids == split_ids({"train": 4, "val": 2})["val"]
    np.testing.assert_array_equal(data[1]["semseg"], expected_sample(5, "atrc", 32, 40)["semseg"])
    requests = len(server.requests)
    _, err = prepare(capsys, "nyud", "--root", str(root))
    assert "is already prepared (nyud" in err[0] and len(server.requests) == requests


def test_nyud_takes_mti_nets_nyud_mt_archive_from_a_file(nyud_source, files, tmp_path, capsys):
    from dmtl.data.readers.nyud_atrc import NYUDDataset

    archive = tmp_path / "NYUD_MT.tgz"
    archive.write_bytes(files["NYUD_MT.tgz"])
    root = tmp_path / "NYUD_MT"
    prepare(capsys, "nyud", "--root", str(root), "--archive", str(archive))
    data = NYUDDataset(root, "train", ["normals", "edge"])
    assert data.files[0]["normals"].suffix == ".npy" and data.files[0]["image"].suffix == ".jpg"
    assert data[0]["edge"].sum() == 32  # one boundary column


@pytest.mark.parametrize(
    ("member", "needle"),
    [
        ("gt_sets/val.txt", "split list NYUDv2.tar.gz:NYUDv2/gt_sets/val.txt does not exist"),
        ("edge", "folder NYUDv2.tar.gz:NYUDv2/edge does not exist"),
        (
            "normals/0002.png",
            "image '0002' has no normals label: "
            "NYUDv2.tar.gz:NYUDv2/normals/0002.png does not exist (nor .npy)",
        ),
    ],
)
def test_nyud_missing_layout_member_is_one_line_naming_it(nyud_source, server, tmp_path, capsys,
                                                          member, needle) -> None:  # fmt: skip
    import shutil

    from support.archives import tar_folder
    from support.nyud import write_nyud

    tree = write_nyud(tmp_path / "built", {"train": 4, "val": 2}, 32, 40)
    path = tree / member
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    server.add("/NYUDv2.tar.gz", tar_folder(tree, tmp_path / "x.tar.gz", "NYUDv2").read_bytes())
    root = tmp_path / "NYUDv2"
    line = fails(capsys, "nyud", "--root", str(root))
    assert "NYUDv2.tar.gz does not hold the nyud layout" in line and needle in line
    assert "staging" not in line and "run again to download it anew" in line
    assert rejected_path(tmp_path / "NYUDv2.downloads" / "NYUDv2.tar.gz").is_file()
    assert no_tree(root) and not root.exists()


def test_nyud_download_error_names_the_other_published_copies(nyud_source, server, tmp_path,
                                                              capsys) -> None:  # fmt: skip
    server.files.pop("/NYUDv2.tar.gz")
    line = fails(capsys, "nyud", "--root", str(tmp_path / "n"))
    assert "HTTP 404" in line and "--archive FILE" in line
    assert "OneDrive" in line and "NYUD_MT.tgz" in line
