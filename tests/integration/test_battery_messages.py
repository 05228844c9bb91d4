"""Battery: an error of several lines (a YAML parse error) is printed as one readable line."""

from __future__ import annotations

import pytest

from dmtl.errors import ConfigError, one_line
from support.battery import fails_with_one_line
from support.cli import _args


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("battery-messages-cache")


def test_a_malformed_reference_yaml_names_the_file_line_and_column(cache, tmp_path, capsys):
    ref = tmp_path / "stl.yaml"
    ref.write_text("semseg: {miou: 10.0\ndepth: {abs_err: 1.0}\n")
    args = _args("validate", cache, tmp_path, f"--model.evaluation.reference={ref}")
    line = fails_with_one_line(args, tmp_path / "run" / "validate", capsys)
    assert line.startswith(f"dmtl: error: reference results file {ref} does not parse: ")
    assert "at line 2, column 6" in line and "line 1, column 9" in line
    assert not line.rstrip().endswith("^")


def test_a_malformed_reference_json_names_the_file_and_position(cache, tmp_path, capsys):
    ref = tmp_path / "stl.json"
    ref.write_text('{"semseg": {"miou": 10.0,}}')
    args = _args("validate", cache, tmp_path, f"--model.evaluation.reference={ref}")
    line = fails_with_one_line(args, tmp_path / "run" / "validate", capsys)
    assert str(ref) in line and "line 1 column" in line


def test_other_multi_line_messages_are_joined_without_pointer_lines():
    err = ConfigError("file x.yaml: bad value\n    key: [1,\n         ^\nexpected ']'")
    assert one_line(err) == "file x.yaml: bad value key: [1, expected ']'"


def test_a_worker_traceback_keeps_the_original_message():
    err = ConfigError(
        "Caught ConfigError in DataLoader worker process 0.\nTraceback (most recent call last):\n"
        '  File "x.py", line 1, in f\ndmtl.errors.ConfigError: data.tasks names a task twice'
    )
    assert one_line(err) == "data.tasks names a task twice"
