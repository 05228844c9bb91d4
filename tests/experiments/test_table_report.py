"""synthetic/table.py: Δm against seed-averaged single-task references, and the report."""

import importlib.util
import json
import statistics

import pytest

from support import REPO

PATH = REPO / "experiments" / "synthetic" / "table.py"


@pytest.fixture()
def table(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("synthetic_table", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path)
    return module


def _cell(table, setting, method, seed, miou, abs_err, mean):
    metrics = {
        "semseg": {"miou": miou, "pixel_acc": 70.0},
        "depth": {"abs_err": abs_err, "rel_err": 0.1, "rmse": 0.5},
        "normals": {"mean": mean, "median": 9.0, "within_11.25": 50.0},
    }
    path = table.result_path(setting, method, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"metrics": metrics}))


def test_delta_m_against_the_seed_mean_of_the_single_task_cells(table, capsys):
    # single-task cells: two seeds; their mean is the reference 50 / 0.4 / 20
    for seed, (m, d, n) in enumerate([(48.0, 0.38, 19.0), (52.0, 0.42, 21.0)]):
        _cell(table, "onelabel", "stl_semseg", seed, m, 9.0, 90.0)
        _cell(table, "onelabel", "stl_depth", seed, 1.0, d, 90.0)
        _cell(table, "onelabel", "stl_normals", seed, 1.0, 9.0, n)
    _cell(table, "onelabel", "mtl", 0, 55.0, 0.40, 20.0)  # Δm = (10 + 0 + 0) / 3
    _cell(table, "onelabel", "mtl", 1, 50.0, 0.36, 22.0)  # Δm = (0 + 10 - 10) / 3
    reference, seeds = table.single_task_reference("onelabel")
    assert seeds == [0, 1]
    assert reference["semseg"]["miou"] == pytest.approx(50.0)
    assert reference["depth"]["abs_err"] == pytest.approx(0.40)
    assert reference["normals"]["mean"] == pytest.approx(20.0)
    deltas = [10 / 3, 0.0]
    table.report()
    out = capsys.readouterr().out
    mtl_row = next(line for line in out.splitlines() if line.startswith("| mtl |"))
    expected = f"{statistics.fmean(deltas):.2f} ± {statistics.stdev(deltas):.2f}"
    assert mtl_row.endswith(f"| {expected} | – | – |")
    assert "| single-task | 0,1 |" in out
    assert "52.50 ± 3.54" in mtl_row  # mIoU mean ± std of the two seeds


def test_paired_difference_to_the_baseline_uses_the_same_seed(table, capsys):
    for method in ("stl_semseg", "stl_depth", "stl_normals"):
        for seed in (0, 1, 2):
            _cell(table, "onelabel", method, seed, 50.0, 0.4, 20.0)
    _cell(table, "onelabel", "mtl", 0, 50.0, 0.40, 20.0)  # Δm 0
    _cell(table, "onelabel", "mtl", 1, 56.0, 0.40, 20.0)  # Δm 4
    _cell(table, "onelabel", "feature", 0, 53.0, 0.40, 20.0)  # Δm 2: +2 over seed 0's baseline
    _cell(table, "onelabel", "feature", 1, 62.0, 0.40, 20.0)  # Δm 8: +4 over seed 1's baseline
    _cell(table, "onelabel", "feature", 2, 80.0, 0.40, 20.0)  # no baseline at seed 2: not paired
    table.report()
    rows = capsys.readouterr().out.splitlines()
    feature_row = next(line for line in rows if line.startswith("| feature |"))
    assert feature_row.endswith(f"| {3.0:.2f} ± {statistics.stdev([2.0, 4.0]):.2f} | – |")


def test_no_reference_until_every_task_has_a_single_task_cell(table, capsys):
    _cell(table, "randomlabels", "stl_semseg", 0, 50.0, 9.0, 90.0)
    _cell(table, "randomlabels", "mtl", 0, 55.0, 0.40, 20.0)
    assert table.single_task_reference("randomlabels") == ({}, [])
    table.report()
    mtl_row = next(
        line for line in capsys.readouterr().out.splitlines() if line.startswith("| mtl |")
    )
    assert mtl_row.endswith("| – |")


def test_denoising_report_shows_final_minus_initial(table, capsys):
    for seed, gain in ((0, 1.0), (1, 3.0)):
        _cell(table, "randomlabels", "feature", seed, 50.0 + gain, 0.40, 20.0)
        path = table.result_path("randomlabels", "feature", seed)
        record = json.loads(path.read_text())
        initial = json.loads(json.dumps(record["metrics"]))
        initial["semseg"]["miou"] = 50.0
        initial["depth"]["abs_err"] = 0.45
        record["initial_metrics"] = initial
        path.write_text(json.dumps(record))
    _cell(table, "randomlabels", "mtl", 0, 50.0, 0.40, 20.0)  # no initial metrics: no row
    table.report_denoising()
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| random")]
    assert rows == [
        "| randomlabels | feature | 0,1 | 2.00 ± 1.41 | -0.0500 ± 0.0000 | 0.00 ± 0.00 |"
    ]


def test_paired_difference_to_the_own_ablation(table, capsys):
    for method in ("stl_semseg", "stl_depth", "stl_normals"):
        _cell(table, "onelabel", method, 0, 50.0, 0.4, 20.0)
        _cell(table, "onelabel", method, 1, 50.0, 0.4, 20.0)
    for seed in (0, 1):
        _cell(table, "onelabel", "mtl", seed, 50.0, 0.40, 20.0)  # Δm 0
    _cell(table, "onelabel", "refine_only", 0, 56.0, 0.40, 20.0)  # Δm 4
    _cell(table, "onelabel", "refine_only", 1, 50.0, 0.40, 20.0)  # Δm 0
    _cell(table, "onelabel", "feature", 0, 59.0, 0.40, 20.0)  # Δm 6: +2 over its ablation
    _cell(table, "onelabel", "feature", 1, 53.0, 0.40, 20.0)  # Δm 2: +2 over its ablation
    table.report()
    rows = capsys.readouterr().out.splitlines()
    feature_row = next(line for line in rows if line.startswith("| feature |"))
    assert feature_row.endswith("| 4.00 ± 2.83 | 4.00 ± 2.83 | 2.00 ± 0.00 |")
    refine_row = next(line for line in rows if line.startswith("| refine_only |"))
    assert refine_row.endswith("| – |")  # an ablation has no ablation of its own


def test_study_grid_has_its_own_folder_and_overlays(table):
    study = table.Grid("study", "cityscapes")
    assert study.root == table.RESULTS / "study" / "cityscapes"
    assert table.Grid().root == table.RESULTS  # the full indoor cells keep their folder
    names = [path.name for path in study.overlays()]
    assert names == ["cpu_network.yaml", "study.yaml"]  # the study protocol comes last
    assert all(path.exists() for path in study.overlays())
    assert [p.name for p in table.Grid("study", "indoor").overlays()] == ["study.yaml"]


def test_noise_cells_name_their_steps_and_scale(table):
    assert table.method_overlay("feature_S3_x0.249") == (
        "feature",
        ["--model.diffusion.steps=3", "--model.diffusion.feature_scale=0.249"],
    )
    assert table.method_overlay("refine_only_S1") == ("refine_only", ["--model.diffusion.steps=1"])
    assert table.method_overlay("mtl_matched") == ("mtl_matched", [])
    cells = table.noise_methods((1, 2))
    assert cells[0] == "refine_only_S1" and "refine_only" in cells  # S = 2: the table's own
    assert len(cells) == 2 * (1 + len(table.NOISE_LEVELS))
    # each scale puts the schedule's start noise at its level of the features' RMS
    for cell in cells:
        match = table.NOISE_CELL.match(cell)
        if match and match["scale"]:
            steps, scale = int(match["steps"]), float(match["scale"])
            level = table.START_NOISE[steps] / (scale * table.FEATURE_RMS)
            assert min(abs(level - x) / x for x in table.NOISE_LEVELS) < 0.01
    for overlay in {table.method_overlay(c)[0] for c in cells}:
        assert (table.HERE / "method" / f"{overlay}.yaml").exists()


def test_last_noise_stats_average_the_last_logged_steps(table, tmp_path):
    path = tmp_path / "metrics.csv"
    rows = ["epoch,step,train/loss,train/noise/semseg/relative_noise"]
    rows += [f"0,{i},1.0,{0.1 * i}" for i in range(30)] + ["0,30,1.0,"]  # a row without it
    path.write_text("\n".join(rows) + "\n")
    stats = table.last_noise_stats(path, last=10)
    expected = statistics.fmean(0.1 * i for i in range(20, 30))
    assert stats == {"semseg/relative_noise": pytest.approx(expected)}
    assert table.last_noise_stats(tmp_path / "missing.csv") == {}


def test_study_methods_have_overlays(table):
    for method in table.STUDY_METHODS + table.METHODS:
        assert (table.HERE / "method" / f"{method}.yaml").exists(), method
    for method, ablation in table.ABLATION.items():
        assert method in table.STUDY_METHODS and ablation in table.STUDY_METHODS


def test_every_scene_has_its_single_task_overlays_and_config(table):
    for name, scene in table.SCENES.items():
        assert (table.HERE.parent / scene.config).exists(), name
        assert set(scene.stl.values()) == set(scene.tasks), name  # one reference per task
        for method in scene.stl:
            overlay = (table.HERE / "method" / f"{method}.yaml").read_text()
            assert f"tasks: [{scene.stl[method]}]" in overlay, (name, method)
    pascal = table.SCENES["pascal"]
    assert list(pascal.tasks) == ["semseg", "human_parts", "sal", "normals", "edge"]


def test_confirm_grid_runs_the_full_job_apart_and_borrows_its_references(table):
    confirm = table.Grid("confirm", "indoor")
    assert confirm.root == table.RESULTS / "confirm" / "indoor" and confirm.overlays() == []
    for seed in (0, 1):  # single-task cells of the full grid only
        _cell(table, "onelabel", "stl_semseg", seed, 40.0, 0.0, 0.0)
        _cell(table, "onelabel", "stl_depth", seed, 0.0, 0.5, 0.0)
        _cell(table, "onelabel", "stl_normals", seed, 0.0, 0.0, 20.0)
    reference, seeds = table.single_task_reference("onelabel", confirm)
    assert seeds == [0, 1] and reference["semseg"]["miou"] == 40.0
