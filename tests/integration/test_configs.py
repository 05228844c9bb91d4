"""Every shipped config parses, composes with the default job and means what its name says."""

from pathlib import Path

import pytest

from dmtl.cli import DMTLCLI
from dmtl.data.datamodule import MultiTaskDataModule
from dmtl.module import DiffusionMTLModule
from support import REPO

EXPERIMENTS = REPO / "experiments"
SYNTHETIC = EXPERIMENTS / "synthetic"
DEFAULT = SYNTHETIC / "default.yaml"
PASCAL_DEFAULT = EXPERIMENTS / "synthetic_pascal" / "default.yaml"
PASCAL_ONLY = {"human_parts", "sal", "edge"}  # single-task overlays of the PASCAL-like scenes
# weighting_*.yaml are loss weightings that compose after a method overlay, not methods
WEIGHTINGS = sorted((SYNTHETIC / "method").glob("weighting_*.yaml"))
METHODS = sorted(set((SYNTHETIC / "method").glob("*.yaml")) - set(WEIGHTINGS))
SETTINGS = sorted((SYNTHETIC / "setting").glob("*.yaml"))
# method overlay -> (diffusion, condition, refine_only) it must select
METHOD_MEANS = {
    "mtl": ("none", None, None),
    "mtl_matched": ("none", None, None),
    "xtc": ("none", None, None),
    "jtr": ("none", None, None),
    "consistency": ("none", None, None),
    "feature_jtr": ("feature", "multitask", False),
    "feature": ("feature", "multitask", False),
    "prediction": ("prediction", "multitask", False),
    "prediction_noskip": ("prediction", "multitask", False),
    "single_condition": ("feature", "single", False),
    "refine_only": ("feature", "multitask", True),
    "feature_no_condition": ("feature", "none", False),
    "prediction_refine_only": ("prediction", "multitask", True),
    "prediction_single_condition": ("prediction", "single", False),
    "prediction_no_condition": ("prediction", "none", False),
    # the teachers compose after a method overlay; alone, the student is the default's
    "teacher": ("feature", "multitask", False),
    "mean_teacher": ("feature", "multitask", False),
}


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    """Parsing places the run folders (``runs/...``, relative): in tmp_path, not the checkout."""
    monkeypatch.chdir(tmp_path)


def _parse(*configs: Path) -> DMTLCLI:
    args = [a for c in configs for a in ("--config", str(c))]
    return DMTLCLI(DiffusionMTLModule, MultiTaskDataModule, args=args, run=False)


def test_default_job_is_onelabel_feature_diffusion_offline():
    cli = _parse(DEFAULT)
    assert cli.datamodule.dataset == "synthetic"
    assert cli.datamodule.hparams.label_setting == "onelabel"
    model, hp = cli.model, cli.model.diffusion
    assert (hp.space, hp.condition, hp.refine_only) == ("feature", "multitask", False)
    assert model.denoiser.skip is True
    assert model.network.pretrained is False
    assert model.hparams.tasks == cli.datamodule.hparams.tasks


def test_every_method_of_the_table_has_an_overlay():
    names = {p.stem for p in METHODS}
    assert set(METHOD_MEANS) <= names
    assert {"stl_semseg", "stl_depth", "stl_normals"} <= names


@pytest.mark.parametrize("overlay", METHODS, ids=lambda p: p.name)
def test_method_overlays_mean_what_their_names_say(overlay):
    name = overlay.stem
    pascal = name.removeprefix("stl_") in PASCAL_ONLY  # the PASCAL-like scenes' references
    cli = _parse(PASCAL_DEFAULT if pascal else DEFAULT, overlay)
    model, hp = cli.model, cli.model.diffusion
    if name.startswith("stl_"):
        task = name.removeprefix("stl_")
        assert cli.datamodule.tasks == [task] and model.hparams.tasks == [task]
        labels = ["semseg", "human_parts", "sal", "normals", "edge"] if pascal else [
            "semseg", "depth", "normals"]  # fmt: skip
        assert cli.datamodule.label_tasks == labels
        assert hp.space == "none"
        return
    diffusion, condition, refine_only = METHOD_MEANS[name]
    assert hp.space == diffusion
    if diffusion != "none":  # the baseline builds no denoiser
        assert model.denoiser.skip == (not name.endswith("_noskip"))
    if condition is not None:
        assert (hp.condition, hp.refine_only) == (condition, refine_only)


@pytest.mark.parametrize("overlay", WEIGHTINGS, ids=lambda p: p.name)
def test_weighting_overlays_compose_with_a_method(overlay):
    cli = _parse(DEFAULT, SYNTHETIC / "method" / "feature.yaml", overlay)
    assert cli.model.loss.weighting == overlay.stem.removeprefix("weighting_")
    assert cli.model.diffusion.space == "feature"  # the method's choice stays


@pytest.mark.parametrize("overlay", SETTINGS, ids=lambda p: p.name)
def test_setting_overlays_compose_with_methods(overlay):
    cli = _parse(DEFAULT, SYNTHETIC / "method" / "prediction.yaml", overlay)
    assert cli.datamodule.hparams.label_setting == overlay.stem
    assert cli.model.diffusion.space == "prediction"


def test_wandb_logger_overlay_parses():
    cli = _parse(DEFAULT, EXPERIMENTS / "logger" / "wandb.yaml")
    assert type(cli.trainer.logger).__name__ == "WandbLogger"


@pytest.mark.parametrize(
    "reference",
    sorted((EXPERIMENTS / "synthetic" / "references").glob("*.yaml")),
    ids=lambda p: p.name,
)
def test_reference_files_hold_every_primary_metric(reference):
    from dmtl.metrics.multitask import load_reference
    from dmtl.tasks import resolve_tasks

    tasks = resolve_tasks("synthetic")
    values = load_reference(reference, tasks)
    assert all(values[t.name][t.primary_metric] > 0 for t in tasks)


# The benchmark configs: base (MTL baseline) and every overlay.
PASCAL_TASKS = ["semseg", "human_parts", "sal", "normals", "edge"]
BENCHMARKS = {  # folder: (dataset, batch, lr, epochs, standard tasks)
    "nyuv2": ("nyuv2", 2, 1e-4, 200, ["semseg", "depth", "normals"]),
    "cityscapes": ("cityscapes", 8, 1e-4, 200, ["semseg", "depth"]),
    "pascal_context": ("pascal_context", 6, 2e-5, 100, PASCAL_TASKS),
    "nyud": ("nyud", 2, 2e-5, 100, ["semseg", "depth", "normals", "edge"]),
}
BENCHMARK_OVERLAYS = [
    (folder, overlay)
    for folder in BENCHMARKS
    for overlay in [None, *sorted((EXPERIMENTS / folder).glob("*.yaml"))]
    if overlay is None or overlay.stem != "base"
]


@pytest.mark.parametrize(
    ("folder", "overlay"),
    BENCHMARK_OVERLAYS,
    ids=lambda v: v if isinstance(v, str) else ("base" if v is None else v.stem),
)
def test_benchmark_configs_hold_the_protocol(folder, overlay, tmp_path):
    dataset, batch, lr, epochs, tasks = BENCHMARKS[folder]
    configs = [EXPERIMENTS / folder / "base.yaml"] + ([overlay] if overlay else [])
    args = [a for c in configs for a in ("--config", str(c))]
    # the configs ask for ImageNet weights; a parse test must not download them
    args += [f"--data.root={tmp_path}", "--model.network.pretrained=false"]
    cli = DMTLCLI(DiffusionMTLModule, MultiTaskDataModule, args=args, run=False)
    assert cli.datamodule.dataset == dataset and cli.datamodule.batch_size == batch
    assert cli.model.optim.lr == lr and cli.trainer.max_epochs == epochs
    assert cli.model.network.embed_dim == 512 and cli.model.network.backbone == "resnet18"
    assert cli.datamodule.label_tasks == tasks
    name = overlay.stem if overlay else "base"
    if name.startswith("stl_"):
        assert cli.datamodule.tasks == [name.removeprefix("stl_")]
    else:
        assert cli.datamodule.tasks == tasks
        expected = "randomlabels" if name.endswith("randomlabels") else "onelabel"
        assert cli.datamodule.hparams.label_setting == expected
    if folder == "pascal_context":
        hp = cli.model.evaluation
        assert (hp.boundary_metric, hp.saliency_literature_sigmoid) == ("ods", True)
    if folder == "nyud":
        hp = cli.model.evaluation
        assert (hp.boundary_metric, hp.boundary_max_dist) == ("ods", 0.011)
        assert cli.datamodule.crop_size == (448, 576)
    method = name.removeprefix("mtl_diffusion_") if "_diffusion_" in name else "none"
    if name.startswith("paper_"):  # the released network: paper_<method>_<setting>
        method = name.split("_")[1]
        assert (cli.model.denoiser.kind, cli.model.network.neck) == ("crossattn", "conv")
    assert cli.model.diffusion.space == method


SHIPPED = sorted(p for p in EXPERIMENTS.rglob("*.yaml") if "results" not in p.parts)


@pytest.mark.parametrize("config", SHIPPED, ids=lambda p: str(p.relative_to(EXPERIMENTS)))
def test_shipped_configs_use_the_grouped_option_names(config):
    """model sections, sweep parameters and command flags name model.<group>.<field> only."""
    import dataclasses

    import yaml

    from dmtl.config import GROUPS

    data = yaml.safe_load(config.read_text()) or {}
    model = data.get("model") or {}
    groups = {g: v for g, v in model.items() if isinstance(v, dict)}
    assert set(model) - set(groups) <= {"dataset", "tasks"}, model
    names = [f"{g}.{f}" for g, v in groups.items() for f in v]
    flags = [a for a in data.get("command") or [] if isinstance(a, str)]
    names += [k.removeprefix("model.") for k in data.get("parameters") or {}]
    names += [a.split("=")[0].removeprefix("--model.") for a in flags if a.startswith("--model.")]
    for name in names:
        group, _, field = name.partition(".")
        assert group in GROUPS, name
        assert field in {f.name for f in dataclasses.fields(GROUPS[group])}, name
