"""docs/datasets.md lists every source URL and every option of ``dmtl prepare``."""

import re

import pytest

from dmtl.data.datasets import preparation_of, prepared_datasets
from dmtl.data.prepare.command import main
from dmtl.data.prepare.mirror import MIRROR_VARIABLE
from support import REPO

DOC = (REPO / "docs" / "datasets.md").read_text()


def test_every_archive_and_split_file_url_is_listed():
    sources = [preparation_of(name).source for name in prepared_datasets()]
    urls = [r.url for s in sources for r in (s.archive, *s.splits)]
    assert [url for url in urls if url not in DOC] == []


def test_every_option_and_the_mirror_variable_are_listed(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    options = set(re.findall(r"--[a-z][a-z0-9-]+", capsys.readouterr().out)) - {"--help"}
    assert {"--mirror", "--sha256", "--url", "--no-splits", "--keep-download"} <= options
    assert [o for o in sorted(options) if f"`{o}" not in DOC] == []
    assert MIRROR_VARIABLE in DOC
