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


def test_cells_carry_the_direction_and_unit_of_each_metric():
    results = {
        "semseg": {"miou": 41.5, "pixel_acc": 70.0},
        "depth": {"abs_err": 0.5, "rel_err": 0.2, "delta1": 80.0},
        "normals": {"mean": 20.0, "within_11.25": 40.0},
        "edge": {"f1": 60.0},
        "sal": {"maxf": 80.0},
    }
    lines = format_table(results, "T", {"delta_m": -1.0}).splitlines()
    assert "miou ↑  41.5000 %" in lines[2] and "pixel_acc ↑  70.0000 %" in lines[2]
    assert "abs_err ↓   0.5000 m" in lines[3] and "delta1 ↑  80.0000 %" in lines[3]
    assert lines[3].rstrip().endswith("%") and "rel_err ↓   0.2000  " in lines[3]
    assert "mean ↓  20.0000 °" in lines[4] and "within_11.25 ↑  40.0000 %" in lines[4]
    assert "f1 ↑  60.0000 %" in lines[5] and "maxf ↑  80.0000 %" in lines[6]
    assert lines[-1].split() == ["delta_m", "↑", "-1.0000", "%"]


def test_inverse_depth_has_no_metre_unit_and_unknown_tasks_no_marks():
    line = format_table({"depth": {"abs_err": 0.02}}, "T", dataset="cityscapes").splitlines()[2]
    assert line.split() == ["depth", "abs_err", "↓", "0.0200"]
    line = format_table({"mine": {"score": 1.0}}, "T").splitlines()[2]
    assert line.split() == ["mine", "score", "1.0000"]
