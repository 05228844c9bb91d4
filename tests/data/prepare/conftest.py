"""Fixtures of the prepare tests: small archives in the real layouts, served from loopback."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import dmtl  # noqa: F401  (sets NO_ALBUMENTATIONS_UPDATE before albumentations is imported)
from dmtl.data.prepare import progress
from dmtl.data.prepare.sources import Source
from support.archives import tar_folder, zip_folder
from support.http_server import FileServer
from support.mtpsl import write_cityscapes, write_nyuv2
from support.nyud import write_nyud
from support.pascal import TRAIN_IDS, write_pascal_context
from support.published import mtpsl_split, pinned
from support.sources import published_source, use_source

NYU_COUNTS = {"train": 4, "val": 2}
NYU_SIZE = (32, 40)  # big enough for a ResNet-18 training step
ONELABEL_ROWS = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]]
NYUD_COUNTS = {"train": 4, "val": 2}


@pytest.fixture(scope="session")
def files(tmp_path_factory) -> dict[str, bytes]:
    """The archives and split files, by the names the server serves them under."""
    base = tmp_path_factory.mktemp("published")
    nyu = write_nyuv2(base / "nyu", NYU_COUNTS, *NYU_SIZE)
    city = write_cityscapes(base / "city")
    pascal = write_pascal_context(base / "pascal")
    nyud = write_nyud(base / "nyud", NYUD_COUNTS, *NYU_SIZE)
    nyud_mt = write_nyud(base / "nyud_mt", NYUD_COUNTS, *NYU_SIZE, variant="mti")
    torch.save({image_id: [1, 0, 0, 0, 0] for image_id in TRAIN_IDS}, base / "new_onelabel.pth")
    return {
        "nyuv2.zip": zip_folder(nyu, base / "nyuv2.zip", "nyuv2").read_bytes(),
        "nyuv2.tar.gz": tar_folder(nyu, base / "nyuv2.tar.gz", "nyuv2").read_bytes(),
        "onelabel.pth": mtpsl_split(base / "a/onelabel.pth", ONELABEL_ROWS),
        "randomlabels.pth": mtpsl_split(base / "b/randomlabels.pth", [[1, 1, 0]] * 4),
        "cityscapes2.zip": zip_folder(city, base / "cityscapes2.zip", "cityscapes2").read_bytes(),
        "city/onelabel.pth": mtpsl_split(base / "c/onelabel.pth", [[1, 0], [0, 1]] * 2),
        "PASCALContext.tar.gz": tar_folder(pascal, base / "p.tar.gz", "PASCALContext").read_bytes(),
        "new_onelabel.pth": (base / "new_onelabel.pth").read_bytes(),
        "NYUDv2.tar.gz": tar_folder(nyud, base / "n.tar.gz", "NYUDv2").read_bytes(),
        "NYUD_MT.tgz": tar_folder(nyud_mt, base / "n.tgz", "NYUD_MT").read_bytes(),
    }  # fmt: skip


@pytest.fixture()
def server():
    with FileServer() as running:
        yield running


@pytest.fixture(autouse=True)
def _small_progress_steps(monkeypatch) -> None:
    monkeypatch.setattr(progress, "STEP_BYTES", 4096)  # progress lines even for tiny archives


def _serve(monkeypatch, server, files, dataset, archive, splits) -> Source:
    """Point the registry's ``dataset`` at the test server; return the patched source."""
    published = published_source(dataset)
    archive_url = server.add(f"/{archive}", files[archive])
    remotes = tuple(
        pinned(name.rsplit("/", 1)[-1], files[name], server.add(f"/splits/{name}", files[name]))
        for name in splits
    )
    source = dataclasses.replace(
        published,
        archive=dataclasses.replace(published.archive, url=archive_url, page=None),
        splits=remotes,
    )
    use_source(monkeypatch, dataset, source)
    return source


@pytest.fixture()
def nyu_source(monkeypatch, server, files) -> Source:
    return _serve(monkeypatch, server, files, "nyuv2", "nyuv2.zip",
                  ["onelabel.pth", "randomlabels.pth"])  # fmt: skip


@pytest.fixture()
def city_source(monkeypatch, server, files) -> Source:
    return _serve(
        monkeypatch, server, files, "cityscapes", "cityscapes2.zip", ["city/onelabel.pth"]
    )


@pytest.fixture()
def pascal_source(monkeypatch, server, files) -> Source:
    return _serve(monkeypatch, server, files, "pascal_context", "PASCALContext.tar.gz",
                  ["new_onelabel.pth"])  # fmt: skip


@pytest.fixture()
def nyud_source(monkeypatch, server, files) -> Source:
    return _serve(monkeypatch, server, files, "nyud", "NYUDv2.tar.gz", [])
