"""Where each dataset's archive and split files are published, and what is known about them.

Every URL is the one its anchor published, with the place it was published. A size or sha256 is
recorded only where it is fixed by a published source: the split files live in git, so the
commit-pinned raw URL always serves the same bytes (the git blob named in ``pinned_by``) and their
size and sha256 are those of that blob. No archive has a published checksum: archives are
unpinned, ``dmtl prepare`` checks that they open and hold the layout, and prints the sha256 it
measured so that a user can pin their copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MTPSL_RAW = "https://raw.githubusercontent.com/VICO-UoE/MTPSL"
DIFFUSIONMTL_RAW = "https://raw.githubusercontent.com/prismformore/DiffusionMTL"
MTAN_README = "the README of lorenmt/mtan, which the README of VICO-UoE/MTPSL points to"


@dataclass(frozen=True)
class Remote:
    """One file to download.

    Args:
        filename: the name it is stored under (downloads folder, ``splits/``).
        url: the URL it is downloaded from.
        published: where the URL (or the page it derives from) was published.
        page: the link as published, when ``url`` is its direct-download form.
        size: its size in bytes, where fixed by a published source.
        sha256: its sha256, where fixed by a published source.
        pinned_by: what fixes ``size`` and ``sha256``.
    """

    filename: str
    url: str
    published: str
    page: str | None = None
    size: int | None = None
    sha256: str | None = None
    pinned_by: str | None = None

    @property
    def pinned(self) -> bool:
        """Whether the file's sha256 is known before it is downloaded."""
        return self.sha256 is not None


@dataclass(frozen=True)
class Source:
    """A dataset as ``dmtl prepare`` gets it.

    Args:
        dataset: the ``--data.dataset`` name the prepared tree is read as.
        archive: the archive that holds the layout (zip or tar.gz, one top folder or none).
        splits: split files, stored under ``<root>/splits/``.
        counts: the published number of samples per split (a check, printed when they differ).
        note: said with every download error (logins, licences, other published copies).
    """

    dataset: str
    archive: Remote
    splits: tuple[Remote, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    note: str = ""


def _git_file(base: str, repo: str, commit: str, path: str, blob: str, size: int, sha256: str):
    """A file of a public git repository, downloaded from its commit-pinned raw URL."""
    return Remote(
        filename=path.rsplit("/", 1)[-1],
        url=f"{base}/{commit}/{path}",
        published=f"{path} in the git repository {repo} (commit {commit[:7]})",
        size=size,
        sha256=sha256,
        pinned_by=f"git blob {blob} of {repo} at commit {commit[:7]}",
    )


MTPSL_NYU = "f3662a04fc53d5161cf12296515c3cb4f7e6e93e"
MTPSL_CITYSCAPES = "8ea702c63022b73b46b9036038f0bcac84093fe3"
DIFFUSIONMTL_SPLITS = "bd3e23e7cd6d827e68ce2e4f74569c2263615768"

# Each source is the ``preparation`` of its dataset in ``dmtl.data.datasets.registry``.
NYUV2 = Source(
    dataset="nyuv2",
    archive=Remote(
        filename="nyuv2.zip",
        url="https://www.dropbox.com/s/p2nn02wijg7peiy/nyuv2.zip?dl=1",
        page="https://www.dropbox.com/s/p2nn02wijg7peiy/nyuv2.zip?dl=0",
        published=MTAN_README,
    ),
    splits=(
        _git_file(
            MTPSL_RAW,
            "VICO-UoE/MTPSL",
            MTPSL_NYU,
            "data/nyuv2_settings/onelabel.pth",
            "c629fdf0ccb1c689c0f35c3adeb28c18ddcfeeb2",
            9908,
            "757b3a95e1bc5145c1e72a783a489539f4c52004de338cb9798d8e227df6f389",
        ),
        _git_file(
            MTPSL_RAW,
            "VICO-UoE/MTPSL",
            MTPSL_NYU,
            "data/nyuv2_settings/randomlabels.pth",
            "9bf574d5191904dbf06fa8c23b917d9a5f106d24",
            9908,
            "54e7bcbb739bb071d097fd77e4654ab830daeea41730fadaf0a4741ac7436a12",
        ),
    ),  # fmt: skip
    counts={"train": 795, "val": 654},
    note=(
        "the same files are in the Dropbox folder of the README of VICO-UoE/MTPSL: "
        "https://www.dropbox.com/sh/86nssgwm6hm3vkb/AACrnUQ4GxpdrBbLjb6n-mWNa?dl=0"
    ),
)

CITYSCAPES = Source(
    dataset="cityscapes",
    archive=Remote(
        filename="cityscapes2.zip",
        url="https://www.dropbox.com/s/lg2ktu7o8hzwf99/cityscapes2.zip?dl=1",
        page="https://www.dropbox.com/s/lg2ktu7o8hzwf99/cityscapes2.zip?dl=0",
        published=MTAN_README + ", the 128x256 version (about 651 MB)",
    ),
    splits=(
        _git_file(
            MTPSL_RAW,
            "VICO-UoE/MTPSL",
            MTPSL_CITYSCAPES,
            "data/cityscapes_settings/onelabel.pth",
            "5445acd33a4f0b3f3aabf29e65e2d898b9567500",
            24168,
            "3ded35572b875fc36865354418b7f3c1ef23628d00987f8b5d260de8f0aa90d0",
        ),
    ),  # fmt: skip
    counts={"train": 2975, "val": 500},
    note=(
        "this is MTAN's preprocessed copy (label_7, label_19, inverse depth); the original "
        "Cityscapes needs a login at https://www.cityscapes-dataset.com, so a copy built from "
        "it in the MTPSL layout is prepared with --archive FILE"
    ),
)

# ATRC's NYUD-v2 (the NYUDv2 tree of dmtl.data.readers.nyud_atrc). No checksum or size is
# published for it and no split file exists for its image ids: the archive is checked by its
# layout and its sha256 is printed; the label setting is drawn (data.label_setting) or given
# as a split file of your own keyed by image id.
NYUD = Source(
    dataset="nyud",
    archive=Remote(
        filename="NYUDv2.tar.gz",
        url="https://data.vision.ee.ethz.ch/brdavid/atrc/NYUDv2.tar.gz",
        published=(
            "InvPT/README.md of prismformore/Multi-Task-Transformer and the README of "
            "brdav/atrc up to commit 3525804 (ATRC's data)"
        ),
    ),
    counts={"train": 795, "val": 654},
    note=(
        "the README of prismformore/DiffusionMTL links the same archive on OneDrive: "
        "https://hkustconnect-my.sharepoint.com/:u:/g/personal/hyeae_connect_ust_hk/"
        "EZ-2tWIDYSFKk7SCcHRimskBhgecungms4WFa_L-255GrQ?e=6jAt4c; MTI-Net's NYUD_MT.tgz "
        "(Google Drive file 14EAEMXmd3zs2hIMY63UhHPSFPDAkiTzw, which brdav/atrc downloads "
        "since commit 3525804) holds the same layout with .jpg images and .npy normals and "
        "edges, and is prepared with --archive FILE as well"
    ),
)

PASCAL_CONTEXT = Source(
    dataset="pascal_context",
    archive=Remote(
        filename="PASCALContext.tar.gz",
        url="https://data.vision.ee.ethz.ch/brdavid/atrc/PASCALContext.tar.gz",
        published="InvPT/README.md of prismformore/Multi-Task-Transformer (ATRC's data)",
    ),
    splits=(
        _git_file(
            DIFFUSIONMTL_RAW,
            "prismformore/DiffusionMTL",
            DIFFUSIONMTL_SPLITS,
            "data/ssl_mapping/pascal/new_onelabel.pth",
            "d2c4dd44c150ed7154033a6792b4974c55253099",
            759407,
            "1f7577c3dfb2bf8906922f48288994775f5bede0325df4d8e0d606c5a2a1e4a8",
        ),
        _git_file(
            DIFFUSIONMTL_RAW,
            "prismformore/DiffusionMTL",
            DIFFUSIONMTL_SPLITS,
            "data/ssl_mapping/pascal/new_randomlabels.pth",
            "517190c0284394194449e932d072a41cfa343d37",
            759407,
            "f8a0e6a00990ed7e173c226d1e2b6d0000a7cb08a567a68402aa6480fdcf5a0b",
        ),
    ),  # fmt: skip
    counts={"train": 4998, "val": 5105},
    note=(
        "the README of prismformore/DiffusionMTL links the same archive on OneDrive: "
        "https://hkustconnect-my.sharepoint.com/:u:/g/personal/hyeae_connect_ust_hk/"
        "ER57KyZdEdxPtgMCai7ioV0BXCmAhYzwFftCwkTiMmuM7w?e=2Ex4ab"
    ),
)
