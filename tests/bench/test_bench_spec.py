"""dmtl.bench.spec: the grid spec's cells, configs, arguments and checks."""

import pytest

from dmtl.bench.spec import Cell, load_spec
from dmtl.errors import ConfigError, MissingDataError
from support import REPO

SPECS = REPO / "experiments" / "synthetic" / "bench"


def _write(tmp_path, text):
    (tmp_path / "base.yaml").write_text("seed_everything: 0\n")
    (tmp_path / "a.yaml").write_text("model: {}\n")
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_regime_spec_is_the_issue_grid():
    spec = load_spec(SPECS / "regime.yaml")
    cells = spec.cells()
    onelabel = {c.method for c in cells if c.setting == "onelabel"}
    randomlabels = {c.method for c in cells if c.setting == "randomlabels"}
    mtl = {"mtl", "feature", "refine_only", "prediction", "prediction_refine_only", "xtc"}
    stl = {"stl_semseg", "stl_depth", "stl_normals"}
    noise = {"feature_s0.423", "feature_s0.211", "feature_noskip"}  # where the noise goes
    field = {"mtl_teacher", "feature_teacher"}  # the field's two best (issue 24)
    assert onelabel == mtl | stl | noise | field
    assert randomlabels == {"mtl", "feature", "refine_only"} | stl
    assert {c.seed for c in cells} == {0, 1, 2} and len(cells) == 3 * (14 + 6)
    for method in noise:
        assert spec.baselines[method] == ("feature", "refine_only")
    assert spec.baselines["feature"] == ("mtl", "refine_only")
    assert spec.baselines["prediction"] == ("mtl", "prediction_refine_only")
    student = Cell("onelabel", "feature_teacher", 2)
    assert spec.teacher_cell(student) == Cell("onelabel", "feature", 2)
    assert spec.teacher_cell(Cell("onelabel", "mtl_teacher", 0)) == Cell("onelabel", "mtl", 0)
    configs = [p.rsplit("/", 2)[-2:] for p in spec.configs(Cell("randomlabels", "feature", 1))]
    assert configs == [
        ["synthetic", "default.yaml"],
        ["method", "feature.yaml"],
        ["setting", "randomlabels.yaml"],
        ["protocol", "regime.yaml"],
    ]  # the protocol comes after the method and setting overlays


def test_study_spec_loads_and_every_config_exists():
    spec = load_spec(SPECS / "study.yaml")
    assert len(spec.cells()) == 3 * 2 * 12
    assert set(spec.single_task.values()) == {"semseg", "depth", "normals"}


def test_field_spec_loads_with_every_method_and_its_teachers():
    spec = load_spec(SPECS / "field.yaml")
    assert len(spec.cells()) == 22 * 2 * 3
    methods = set(spec.methods)
    assert {"mtl", "xtc", "jtr", "consistency", "mean_teacher", "mtl_teacher"} <= methods
    assert {"feature", "refine_only", "prediction", "prediction_refine_only"} <= methods
    assert {"mtl_uncertainty", "mtl_dwa", "mtl_famo", "mtl_upgrad"} <= methods
    assert "--model.loss.weighting_options.famo_update=previous_batch" in (
        spec.methods["mtl_famo_previous"].args
    )
    assert all(spec.baselines[m][0] in methods for m in spec.baselines)


def test_cells_run_seed_by_seed_and_filter():
    spec = load_spec(SPECS / "regime.yaml")
    cells = spec.cells(methods=["mtl", "feature"], settings=["onelabel"], seeds=[2, 0])
    assert [c.name for c in cells] == [
        "onelabel/mtl/seed0",
        "onelabel/feature/seed0",
        "onelabel/mtl/seed2",
        "onelabel/feature/seed2",
    ]
    with pytest.raises(ConfigError, match="not in the spec"):
        spec.cells(methods=["nope"])


def test_methods_with_arguments_and_setting_restrictions(tmp_path):
    path = _write(
        tmp_path,
        "base: base.yaml\nseeds: [0]\nargs: [--trainer.max_steps=2]\n"
        "methods:\n  m: {configs: [a.yaml], args: [--model.diffusion.steps=3]}\n  n: []\n"
        "settings:\n  s: {configs: [a.yaml], args: [--data.label_setting=full], methods: [n]}\n"
        "  t: []\n",
    )
    spec = load_spec(path)
    assert [c.name for c in spec.cells()] == ["s/n/seed0", "t/m/seed0", "t/n/seed0"]
    assert spec.cell_args(Cell("s", "n", 0)) == [
        "--trainer.max_steps=2",
        "--data.label_setting=full",
    ]
    assert spec.cell_args(Cell("t", "m", 0))[-1] == "--model.diffusion.steps=3"
    assert spec.configs(Cell("t", "m", 0)) == [
        str(tmp_path / "base.yaml"),
        str(tmp_path / "a.yaml"),
    ]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "base: base.yaml\nseeds: [0]\nmethods: {m: []}\nsettings: {s: []}\nmethod: x\n",
            "unknown",
        ),
        ("base: base.yaml\nseeds: [0]\nmethods: {m: [b.yaml]}\nsettings: {s: []}\n", "no file"),
        ("base: base.yaml\nmethods: {m: []}\nsettings: {s: []}\n", "needs `seeds:`"),
        (
            "base: base.yaml\nseeds: [0]\nmethods: {m: []}\nsettings: {s: []}\n"
            "baselines: {m: [mtl]}\n",
            "does not define: \\['mtl'\\]",
        ),
    ],
)
def test_bad_specs_are_refused_with_what_is_wrong(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_spec(_write(tmp_path, text))


def test_missing_spec():
    with pytest.raises(MissingDataError):
        load_spec("no/such/spec.yaml")


@pytest.mark.parametrize(
    ("name", "tasks", "methods"),
    [
        ("field_cityscapes.yaml", {"semseg", "depth"}, 18),
        ("field_pascal.yaml", {"semseg", "human_parts", "sal", "normals", "edge"}, 20),
    ],
)
def test_the_field_specs_of_the_other_scene_families_load(name, tasks, methods):
    spec = load_spec(SPECS / name)
    assert len(spec.methods) == methods
    assert len(spec.cells()) == methods * 1 * 3  # onelabel, seeds 0-2
    assert set(spec.single_task.values()) == tasks == set(spec.metrics)
    base = (spec.path.parent / spec.base[0]).resolve()
    assert base.parent.name.startswith("synthetic_") and base.is_file()
    assert all(spec.baselines[m][0] in spec.methods for m in spec.baselines)
    if name == "field_cityscapes.yaml":  # MTPSL's Cityscapes script: consistency weight 1
        assert "--model.xtc.weight=1.0" in spec.methods["xtc"].args
