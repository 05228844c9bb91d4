import json

from dmtl.report import format_table, write_results


def test_table_has_a_row_per_task_and_extras():
    text = format_table(
        {"semseg": {"miou": 41.5}, "depth": {"abs_err": 0.5}}, "T", {"delta_m": -1.0}
    )
    lines = text.splitlines()
    assert lines[0] == "T" and lines[2].startswith("semseg") and "41.5000" in lines[2]
    assert lines[-1].startswith("delta_m") and "-1.0000" in lines[-1]


def test_results_round_trip(tmp_path):
    path = write_results({"depth": {"abs_err": 0.25}}, tmp_path / "x" / "r.json", {"delta_m": 2.0})
    assert json.loads(path.read_text()) == {"depth": {"abs_err": 0.25}, "delta_m": 2.0}
