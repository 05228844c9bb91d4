"""``dmtl prepare <dataset> --root DIR``: get a real dataset into the layout dmtl reads.

Usage::

    dmtl prepare nyuv2 --root data/nyuv2             # MTAN's NYUv2 archive, MTPSL's split files
    dmtl prepare cityscapes --root data/cityscapes   # MTAN's 128x256 Cityscapes (label_7/19)
    dmtl prepare pascal_context --root data/PASCALContext   # ATRC's PASCAL-Context
    dmtl prepare nyud --root data/NYUDv2             # ATRC's NYUD-v2 (40 classes, 4 tasks)
    dmtl prepare nyuv2 --root data/nyuv2 --archive ~/Downloads/nyuv2.zip   # a copy you have
    dmtl prepare nyuv2 --root data/nyuv2 --url https://mirror.example/nyuv2.zip
    dmtl prepare nyuv2 --root data/nyuv2 --mirror file:///shared/dmtl-mirror   # every file
    dmtl prepare nyuv2 --root data/nyuv2 --sha256 <64 hex digits>   # pin the archive

Datasets, with their sources in ``dmtl.data.prepare.sources`` (docs/datasets.md lists them):
``nyuv2`` (MTPSL .npy layout), ``cityscapes`` (MTPSL .npy layout, read as ``cityscapes`` and
``cityscapes19``; the original Cityscapes needs a login at cityscapes-dataset.com, so a copy of
your own is prepared with ``--archive``), ``pascal_context`` and ``nyud`` (ATRC/InvPT layouts;
``nyud`` also takes MTI-Net's ``NYUD_MT.tgz`` with ``--archive``).

What it does: download the archive into ``DIR.downloads/`` (resumable: an interrupted download is
kept as ``<name>.part`` and continued with an HTTP Range request; progress is printed on stderr
every 64 MiB), or take ``--archive FILE``; download the split files (MTPSL's onelabel/randomlabels,
DiffusionMTL's PASCAL ``new_onelabel.pth``/``new_randomlabels.pth``), whose size and sha256 are
pinned; extract the archive (zip or tar.gz, members that would land outside refused) into a hidden
sibling of DIR; check it with dmtl's readers (every split, its first sample, each split file
against the training split); put the split files under ``DIR/splits/``; write the marker
``DIR/.dmtl-prepared.json``; and rename the tree to DIR. PASCAL-Context is also written
pre-decoded under ``DIR/predecoded/`` (``dmtl.data.prepare.predecode``; ``--no-predecode`` skips
it, ``--predecode-only`` writes it for a tree that exists already). An archive without a
published checksum is checked by opening it, and its measured sha256 is printed so that it can be
pinned.

A second run on a prepared DIR does nothing and says so (``--force`` prepares it again). Any
failure (offline, an HTTP error, a checksum mismatch, a corrupt or truncated archive, a missing
layout member) leaves no prepared tree, and ends with one line ``dmtl: error: ...`` that names the
URL and the manual steps (where to put a file downloaded by hand, or ``--archive FILE``), exit
status 2. Then train with, e.g., ``dmtl fit --config experiments/nyuv2/base.yaml
--data.root=data/nyuv2 --data.split_file=data/nyuv2/splits/onelabel.pth``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import urllib.parse
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import dmtl
from dmtl.data.datasets import preparation_of, prepared_datasets
from dmtl.data.prepare import tree
from dmtl.data.prepare.download import DownloadError, fetch, rejected_path, sha256_of
from dmtl.data.prepare.extract import extract
from dmtl.data.prepare.layout import check_layout, check_split_file, layout_root
from dmtl.data.prepare.mirror import MIRROR_VARIABLE, checked_sha256, mirrored
from dmtl.data.prepare.predecode import predecode_tree
from dmtl.data.prepare.progress import PREFIX, Progress
from dmtl.data.prepare.sources import Remote, Source
from dmtl.errors import ConfigError, DataError, MissingDataError

COMMAND = "prepare"


def say(text: str) -> None:
    """A status line on stderr, beside the progress lines."""
    print(f"{PREFIX} {text}", file=sys.stderr, flush=True)


def manual_steps(source: Source, remote: Remote, dest: Path, url: str, archive: bool) -> str:
    """What to do by hand when a file cannot be fetched, on one line."""
    where = remote.page if url == remote.url and remote.page else url
    steps = f"download {where} by hand (published in {remote.published}) and put it at {dest}"
    if archive:
        steps += ", or pass a copy you have with --archive FILE"
    return steps + ", then run again" + (f"; {source.note}" if source.note else "")


def get_file(
    source: Source, remote: Remote, folder: Path, url: str | None = None, archive: bool = False
) -> tuple[Path, str]:
    """Fetch ``remote`` (from ``url`` if given) into ``folder``; return its path and sha256.

    Raises:
        DownloadError, DataError: the fetch failed; the message ends with the manual steps.
    """
    url = url or remote.url
    dest = folder / remote.filename
    pinned = url == remote.url  # a pin holds for the published URL, not for a mirror's file
    size, sha256 = (remote.size, remote.sha256) if pinned else (None, None)
    try:
        return dest, fetch(url, dest, size, sha256, Progress(remote.filename, size))
    except DownloadError as err:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # nothing was downloaded: leave no empty folder behind
        raise DownloadError(f"{err}; {manual_steps(source, remote, dest, url, archive)}") from err
    except DataError as err:
        raise DataError(
            f"{err}; run again to download it anew, or put a good copy at {dest}"
        ) from err


def archive_name(remote: Remote, url: str | None) -> str:
    """The archive's file name: the registry's, or the last part of ``--url``'s path."""
    if url is None:
        return remote.filename
    name = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name
    return name or remote.filename


def prepare(
    dataset: str,
    root: str | Path,
    url: str | None = None,
    archive: str | Path | None = None,
    force: bool = False,
    splits: bool = True,
    keep_download: bool = False,
    predecode: bool = True,
    mirror: str | None = None,
    sha256: str | None = None,
) -> Path:
    """Prepare ``dataset`` under ``root`` (see the module's docstring); return the root.

    ``mirror`` takes every file from a mirror (``dmtl.data.prepare.mirror``); ``sha256`` pins the
    archive (downloaded, from ``url`` or ``archive``), which is refused when it differs.

    Raises:
        ConfigError: unknown dataset, a root that holds other files, a bad ``--url``,
            ``--mirror`` or ``--sha256``.
        MissingDataError: ``archive`` does not exist.
        DownloadError: a file cannot be downloaded.
        DataError: a checksum mismatch, a corrupt archive, a layout or split file that does not
            check out.
    """
    preparation = preparation_of(dataset)
    source = preparation.source
    if mirror:
        source = mirrored(source, mirror)
    sha256 = checked_sha256(sha256)
    root = Path(root).expanduser().absolute()
    marker = tree.read_marker(root)
    if marker is not None and not force:
        if marker["dataset"] != dataset:
            raise ConfigError(
                f"--root {root} holds a prepared {marker['dataset']} tree, not {dataset}; name "
                "another folder, or pass --force to replace it"
            )
        say(f"{root} is already prepared ({dataset}, {marker.get('prepared_at', '?')}); "
            "nothing to do (--force prepares it again)")  # fmt: skip
        return root
    tree.check_target(root, force)
    tree.remove_stale_staging(root)
    downloads = tree.downloads_folder(root)
    remote = source.archive
    if archive is not None:
        archive_path = Path(archive).expanduser().absolute()
        if not archive_path.is_file():
            raise MissingDataError(f"--archive {archive_path} does not exist")
        archive_sha, origin = sha256_of(archive_path), str(archive_path)
    else:
        origin = url or remote.url
        named = dataclasses.replace(remote, filename=archive_name(remote, url))
        archive_path, archive_sha = get_file(source, named, downloads, url, archive=True)
    if sha256 is not None and archive_sha != sha256:
        raise DataError(
            f"archive {archive_path.name} has sha256 {archive_sha}, but --sha256 pins {sha256}; "
            f"{_after_bad_archive(archive_path, archive is None)}"
        )
    split_files = [(r, *get_file(source, r, downloads)) for r in source.splits] if splits else []
    with tree.staging(root) as work:
        extracted = work / "archive"
        try:
            extract(archive_path, extracted)
            built = layout_root(extracted)
            layout = check_layout(dataset, built, extracted, archive_path.name)
        except DataError as err:
            raise DataError(f"{err}; {_after_bad_archive(archive_path, archive is None)}") from err
        for _, path, _ in split_files:  # the split files of the published archive
            check_split_file(dataset, path, layout.train_ids, archive_path.name)
        for split_remote, path, _ in split_files:
            (built / tree.SPLITS_FOLDER).mkdir(exist_ok=True)
            shutil.copyfile(path, built / tree.SPLITS_FOLDER / split_remote.filename)
        predecoded = predecode and preparation.predecoded
        if predecoded:
            predecode_tree(built, say=lambda text: say(text.replace(str(built), str(root))))
        pinned = sha256 is not None or (archive is None and url is None and remote.pinned)
        tree.write_marker(built, {
            "dataset": dataset,
            "prepared_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "dmtl_version": dmtl.__version__,
            "archive": {"name": archive_path.name, "source": origin, "sha256": archive_sha,
                        "pinned": pinned},
            "splits": {r.filename: {"url": r.url, "sha256": sha} for r, _, sha in split_files},
            "counts": layout.counts,
            "predecoded": predecoded,
        })  # fmt: skip
        tree.install(built, root)
    _report(source, root, archive_path.name, archive_sha, pinned, layout.counts, split_files)
    if archive is None and not keep_download:
        _remove_downloads(downloads, [archive_path] + [path for _, path, _ in split_files])
    return root


def _after_bad_archive(path: Path, downloaded: bool) -> str:
    """Set a downloaded archive that failed its checks aside; say what to do next."""
    if not downloaded:
        return "pass --archive a good copy"
    path.replace(rejected_path(path))
    return f"it was moved to {rejected_path(path)}; run again to download it anew"


def _report(source, root, name, sha, pinned, counts, split_files) -> None:
    sizes = ", ".join(f"{split} {num}" for split, num in counts.items())
    say(f"prepared {source.dataset} in {root} ({sizes} samples)")
    if source.counts and counts != source.counts:
        published = ", ".join(f"{split} {num}" for split, num in source.counts.items())
        say(f"note: the published {source.dataset} archive holds {published} samples")
    if pinned:
        say(f"sha256 of {name}: {sha} (matches the pinned value)")
    else:
        say(f"sha256 of {name}: {sha} (no published checksum: pin this value to recognise it)")
    for remote, _, _ in split_files:
        say(f"split file {root / tree.SPLITS_FOLDER / remote.filename} (sha256 verified)")


def _remove_downloads(folder: Path, files: Sequence[Path]) -> None:
    for path in files:
        path.unlink(missing_ok=True)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def main(argv: Sequence[str]) -> None:
    """``dmtl prepare <dataset> --root DIR [--url URL] [--archive FILE] [--force] ...``."""
    parser = argparse.ArgumentParser(
        prog=f"dmtl {COMMAND}",
        description="Download, verify, extract and check a real dataset in the layout dmtl "
        "reads (docs/datasets.md).",
    )
    parser.add_argument("dataset", choices=prepared_datasets(), help="the dataset to prepare")
    parser.add_argument("--root", required=True, help="the folder to prepare (--data.root)")
    parser.add_argument("--url", help="download the archive from this URL (http(s):// or file://)")
    parser.add_argument("--archive", help="use this archive file instead of downloading one")
    parser.add_argument(
        "--mirror",
        default=os.environ.get(MIRROR_VARIABLE) or None,
        help="download the archive and the split files from MIRROR/<dataset>/<file name> "
        f"(http(s):// or file://; default: ${MIRROR_VARIABLE})",
    )
    parser.add_argument(
        "--sha256", help="the archive's sha256: refuse an archive with another checksum"
    )
    parser.add_argument("--force", action="store_true", help="prepare again, replacing --root")
    parser.add_argument("--no-splits", action="store_true", help="skip the split files")
    parser.add_argument(
        "--keep-download",
        action="store_true",
        help="keep the downloaded files in DIR.downloads (removed once DIR is prepared)",
    )
    parser.add_argument(
        "--no-predecode", action="store_true", help="do not write the pre-decoded form"
    )
    parser.add_argument(
        "--predecode-only",
        action="store_true",
        help="only (re)write the pre-decoded form of the tree at --root",
    )
    args = parser.parse_args(list(argv))
    if args.url and args.archive:
        parser.error("--url and --archive exclude each other")
    if args.predecode_only:
        if not preparation_of(args.dataset).predecoded:
            raise ConfigError(f"--predecode-only: {args.dataset} has no pre-decoded form")
        predecode_tree(args.root, say=say)
        return
    prepare(
        args.dataset,
        args.root,
        args.url,
        args.archive,
        args.force,
        not args.no_splits,
        args.keep_download,
        not args.no_predecode,
        mirror=args.mirror,
        sha256=args.sha256,
    )
