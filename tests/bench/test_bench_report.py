"""dmtl bench report: Δm against the grid's single-task cells, paired by seed, tables and plots."""

import json
import statistics

import pytest

from dmtl.bench.cell import CELL_FILE
from dmtl.bench.report import REPORT, write_report
from dmtl.bench.results import load_cells, paired, signs, single_task_reference
from dmtl.bench.spec import load_spec

SPEC = """\
base: [base.yaml]
seeds: [0, 1, 2]
methods:
  mtl: []
  refine_only: []
  feature: []
  stl_semseg: []
  stl_depth: []
  stl_normals: []
settings:
  onelabel: []
single_task: {stl_semseg: semseg, stl_depth: depth, stl_normals: normals}
baselines: {feature: [mtl, refine_only], refine_only: [mtl]}
metrics: {semseg: [miou, pixel_acc], depth: [abs_err], normals: [mean]}
"""


@pytest.fixture()
def grid(tmp_path):
    (tmp_path / "base.yaml").write_text("seed_everything: 0\n")
    (tmp_path / "spec.yaml").write_text(SPEC)
    return load_spec(tmp_path / "spec.yaml"), tmp_path / "out"


def _cell(out, method, seed, miou, abs_err, mean, curve=None):
    folder = out / "onelabel" / method / f"seed{seed}"
    folder.mkdir(parents=True)
    metrics = {
        "semseg": {"miou": miou, "pixel_acc": 70.0},
        "depth": {"abs_err": abs_err, "rel_err": 0.1},
        "normals": {"mean": mean, "median": 9.0},
        "std": {"semseg": {"miou": 0.5}},  # over inference seeds: no task
    }
    record = {"setting": "onelabel", "method": method, "seed": seed, "test": metrics}
    (folder / CELL_FILE).write_text(json.dumps(record))
    if curve:
        rows = ["epoch,step,val/semseg/miou,val/depth/abs_err,val/normals/mean,train/loss"]
        rows += [f"{e},{e},{m},{d},{n}," for e, (m, d, n) in enumerate(curve)]
        rows += ["0,0,,,,1.0"]  # a training row
        (folder / "metrics.csv").write_text("\n".join(rows) + "\n")


def _stl(out, seeds=(0, 1), values=((48.0, 0.38, 19.0), (52.0, 0.42, 21.0))):
    """Single-task cells as ``dmtl test`` writes them: the metrics of their one task only."""
    for seed, (m, d, n) in zip(seeds, values, strict=True):
        for method, task in [("stl_semseg", "semseg"), ("stl_depth", "depth"),
                             ("stl_normals", "normals")]:  # fmt: skip
            _cell(out, method, seed, m, d, n)
            record = json.loads((out / "onelabel" / method / f"seed{seed}" / CELL_FILE).read_text())
            record["test"] = {task: record["test"][task]}
            (out / "onelabel" / method / f"seed{seed}" / CELL_FILE).write_text(json.dumps(record))


def _row(text, *start):
    return next(line for line in text.splitlines() if line.startswith("| " + " | ".join(start)))


def test_delta_m_against_the_seed_mean_of_the_single_task_cells(grid):
    spec, out = grid
    _stl(out)  # the reference: 50 / 0.4 / 20
    _cell(out, "mtl", 0, 55.0, 0.40, 20.0)  # Δm = (10 + 0 + 0) / 3
    _cell(out, "mtl", 1, 50.0, 0.36, 22.0)  # Δm = (0 + 10 - 10) / 3
    reference, seeds = single_task_reference(load_cells(out)["onelabel"], spec.single_task)
    assert seeds == [0, 1]
    assert reference["semseg"]["miou"] == pytest.approx(50.0)
    assert reference["depth"]["abs_err"] == pytest.approx(0.40)
    text = write_report(spec, out).read_text()
    deltas = [10 / 3, 0.0]
    expected = f"{statistics.fmean(deltas):.2f} ± {statistics.stdev(deltas):.2f}"
    row = _row(text, "mtl")
    assert row.endswith(f"| {expected} | – |")  # no curves: no best-epoch Δm
    assert "| 52.50 ± 3.54 | 70.00 ± 0.00 |" in row  # mIoU, pixel accuracy over the 2 seeds
    assert "| single-task | 0,1 | 50.00 ± 2.83 |" in text


def test_paired_differences_use_the_same_seed_and_show_the_signs(grid):
    spec, out = grid
    _stl(out, (0, 1, 2), [(50.0, 0.4, 20.0)] * 3)
    # Δm = (mIoU - 50) / 50 x 100 / 3: mIoU 50 + 1.5 x has Δm x
    for seed, dm in enumerate((0.0, 4.0, 1.0)):
        _cell(out, "mtl", seed, 50.0 + 1.5 * dm, 0.40, 20.0)
    _cell(out, "feature", 0, 53.0, 0.40, 20.0)  # Δm 2: +2 over seed 0's baseline
    _cell(out, "feature", 1, 56.0, 0.40, 20.0)  # Δm 4: 0 against seed 1's
    _cell(out, "feature", 2, 50.0, 0.40, 20.0)  # Δm 0: -1 against seed 2's
    _cell(out, "refine_only", 3, 80.0, 0.40, 20.0)  # no shared seed with feature: no pair
    text = write_report(spec, out).read_text()
    row = _row(text, "feature", "mtl")
    expected = f"{statistics.fmean([2, 0, -1]):.2f} ± {statistics.stdev([2, 0, -1]):.2f}"
    assert row == f"| feature | mtl | 0,1,2 | {expected} | + 0 − |"
    assert "| feature | refine_only |" not in text
    assert paired({0: 1.0, 1: 2.0}, {1: 0.5, 2: 9.0}) == {1: 1.5}
    assert signs({2: -0.1, 0: 0.3}) == "+ −"


def test_each_task_paired_by_seed_with_the_sign_of_better_and_worse(grid):
    """Per task, without a Δm reference: the metric differences at the same seed, the signs
    saying where the method was better (higher mIoU, lower errors)."""
    spec, out = grid
    _cell(out, "mtl", 0, 50.0, 0.40, 20.0)
    _cell(out, "mtl", 1, 52.0, 0.50, 21.0)
    _cell(out, "feature", 0, 49.0, 0.38, 20.5)  # worse mIoU, better depth, worse normals
    _cell(out, "feature", 1, 50.0, 0.46, 20.0)
    text = write_report(spec, out).read_text()
    assert "Δm difference" not in text  # no Δm pair without a reference
    heads = "| method | − baseline | seeds | semseg miou ↑ | depth abs_err ↓ | normals mean ↓ |"
    assert heads in text
    row = _row(text, "feature", "mtl", "0,1")
    miou = f"{statistics.fmean([-1, -2]):.2f} ± {statistics.stdev([-1, -2]):.2f} (− −)"
    depth = f"{statistics.fmean([-0.02, -0.04]):.4f} ± {statistics.stdev([-0.02, -0.04]):.4f} (+ +)"
    normals = f"{statistics.fmean([0.5, -1.0]):.2f} ± {statistics.stdev([0.5, -1.0]):.2f} (− +)"
    assert row == f"| feature | mtl | 0,1 | {miou} | {depth} | {normals} |"


def test_no_delta_m_until_every_task_has_a_single_task_cell(grid):
    spec, out = grid
    _cell(out, "stl_semseg", 0, 50.0, 9.0, 90.0)
    _cell(out, "mtl", 0, 55.0, 0.40, 20.0)
    assert single_task_reference(load_cells(out)["onelabel"], spec.single_task) == ({}, [])
    assert _row(write_report(spec, out).read_text(), "mtl").endswith("| – | – |")


def test_best_epoch_delta_m_from_the_curves_and_the_plots(grid):
    spec, out = grid
    _stl(out, (0,), [(50.0, 0.4, 20.0)])
    # Δm per epoch: 0, +10/3 (epoch 1), then -10/3: the best is epoch 1's, not the last
    _cell(out, "mtl", 0, 45.0, 0.40, 20.0, curve=[(50, 0.4, 20), (55, 0.4, 20), (45, 0.4, 20)])
    _cell(out, "feature", 0, 50.0, 0.40, 20.0, curve=[(50, 0.4, 20), (50, 0.4, 20)])
    text = write_report(spec, out).read_text()
    assert _row(text, "mtl").endswith(f"| {-10 / 3:.2f} (1 seed) | {10 / 3:.2f} (1 seed) |")
    assert "![paired_onelabel](plots/paired_onelabel.png)" in text
    assert "![curves_onelabel](plots/curves_onelabel.png)" in text
    for name in ("paired_onelabel.png", "curves_onelabel.png"):
        data = (out / "plots" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert (out / REPORT).is_file()


def test_what_the_denoising_stage_changes(grid):
    spec, out = grid
    for seed, gain in ((0, 1.0), (1, 3.0)):
        _cell(out, "feature", seed, 50.0 + gain, 0.40, 20.0)
        path = out / "onelabel" / "feature" / f"seed{seed}" / CELL_FILE
        record = json.loads(path.read_text())
        record["val"] = json.loads(json.dumps(record["test"]))
        record["val_initial"] = json.loads(json.dumps(record["test"]))
        record["val_initial"]["semseg"]["miou"] = 50.0
        record["val_initial"]["depth"]["abs_err"] = 0.45
        path.write_text(json.dumps(record))
    _cell(out, "mtl", 0, 50.0, 0.40, 20.0)  # no initial predictions: no row
    text = write_report(spec, out).read_text()
    assert "| method | seeds | semseg miou | depth abs_err | normals mean |" in text
    assert "| feature | 0,1 | 2.00 ± 1.41 | -0.0500 ± 0.0000 | 0.00 ± 0.00 |" in text
    assert "| mtl | 0 | " not in text.split("Final minus initial")[1]


def test_a_reference_file_instead_of_single_task_cells(tmp_path):
    (tmp_path / "base.yaml").write_text("seed_everything: 0\n")
    (tmp_path / "ref.yaml").write_text("semseg: {miou: 40.0}\ndepth: {abs_err: 0.5}\n")
    (tmp_path / "spec.yaml").write_text(
        "base: base.yaml\nseeds: [0]\nmethods: {mtl: []}\nsettings: {onelabel: []}\n"
        "reference: ref.yaml\n"
    )
    out = tmp_path / "out"
    _cell(out, "mtl", 0, 44.0, 0.45, 20.0)  # Δm = (10 + 10) / 2
    text = write_report(load_spec(tmp_path / "spec.yaml"), out).read_text()
    assert _row(text, "mtl").endswith(f"| {10.0:.2f} (1 seed) | – |")
    assert "the reference results ref.yaml" in text
