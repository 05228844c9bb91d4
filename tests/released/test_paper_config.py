"""The paper-exact PASCAL configs build the released network (132,913,284 parameters)."""

from __future__ import annotations

import importlib.util

import pytest
import torch
import yaml

from dmtl.config import GROUPS
from dmtl.config.groups import as_group
from dmtl.module import DiffusionMTLModule
from dmtl.released.convert import module_hparams, released_model_args
from dmtl.released.recipe import released_recipe
from support import REPO

EXPERIMENTS = REPO / "experiments"
PASCAL = EXPERIMENTS / "pascal_context"
PAPER_CONFIGS = sorted(PASCAL.glob("paper_*.yaml"))
SHAPES = {  # the released tensors the converter reads the architecture from (5 tasks, 512 wide)
    "backbone_embed.weight": (512, 960, 3, 3),
    **{f"preliminary_head.{t}.0.weight": (c, 512, 1, 1) for t, c in
       [("semseg", 21), ("human_parts", 7), ("sal", 2), ("normals", 3), ("edge", 1)]},
    **{f"preliminary_dec.semseg.{i}.conv1.weight": (512, 512, 3, 3) for i in range(2)},
    **{f"diffusion_model.denoiser.crossblocks.{i}.attn.q.weight": (512, 512) for i in range(4)},
    "diffusion_model.betas": (2,),
}  # fmt: skip


def _param_count_script():
    spec = importlib.util.spec_from_file_location(
        "param_count", EXPERIMENTS / "benchmarks" / "param_count.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_both_label_settings_have_a_paper_config():
    assert [p.stem for p in PAPER_CONFIGS] == [
        "paper_feature_onelabel",
        "paper_feature_randomlabels",
    ]


@pytest.mark.parametrize("config", PAPER_CONFIGS, ids=lambda p: p.stem)
def test_paper_config_builds_the_released_network(config):
    script = _param_count_script()
    args = script.model_args([PASCAL / "base.yaml", config])
    with torch.device("meta"):
        module = DiffusionMTLModule(**args)
    total, parts = script.count(module)
    assert total == script.PAPER_PARAMETERS == 132_913_284
    assert parts["mtd.denoiser"] == 69_914_112 and parts["neck.proj"] == 512 * 960 * 9 + 512
    # the same network the converter declares for a released checkpoint
    released = module_hparams(released_model_args({k: torch.empty(s) for k, s in SHAPES.items()}))
    del released["tasks"]  # the config names none: every PASCAL task, in the same order
    args = module_hparams(args)
    assert {k: args.get(k) for k in released} == released
    assert [s.name for s in module.task_specs] == [
        "semseg",
        "human_parts",
        "sal",
        "normals",
        "edge",
    ]


@pytest.mark.parametrize("config", PAPER_CONFIGS, ids=lambda p: p.stem)
def test_paper_config_equals_the_released_recipe(config):
    """The overlay on base.yaml holds dmtl.released.recipe, group by group, field by field."""
    model = _param_count_script().model_args([PASCAL / "base.yaml", config])
    recipe = released_recipe()
    assert set(recipe) <= set(GROUPS)
    for name, group in recipe.items():
        built = as_group(GROUPS[name], model.get(name))
        if name == "network":  # param_count builds without ImageNet weights; the recipe has them
            built.pretrained = True
        assert built == group, name
    overlay = yaml.safe_load(config.read_text())["model"]
    for name in ("network", "diffusion", "denoiser", "loss", "optim"):  # written in full there
        group = recipe[name]
        changed = {f for f, v in vars(group).items() if v != getattr(type(group)(), f)}
        assert changed <= set(overlay[name]), (name, changed - set(overlay[name]))


@pytest.mark.slow
def test_paper_recipe_trains_on_pascal_files_with_the_poly_decay_per_epoch(tmp_path):
    from dmtl.cli import main
    from support.pascal import write_pascal_context

    root = write_pascal_context(tmp_path / "PASCAL_MT")
    out = tmp_path / "runs"
    main(["fit", "--config", str(PASCAL / "base.yaml"),
          "--config", str(PASCAL / "paper_feature_onelabel.yaml"),
          f"--data.root={root}", "--data.crop_size=[32,32]", "--data.batch_size=2",
          "--data.num_workers=0", "--model.network.pretrained=false",
          "--model.network.embed_dim=16",
          "--trainer.max_epochs=2", "--trainer.accelerator=cpu", "--trainer.devices=1",
          "--trainer.sync_batchnorm=false", "--trainer.enable_progress_bar=false",
          "--trainer.logger=lightning.pytorch.loggers.CSVLogger",
          f"--trainer.logger.save_dir={out}", "--trainer.logger.name=run",
          "--trainer.logger.version=fit"])  # fmt: skip
    ckpt = torch.load(out / "run" / "fit" / "checkpoints" / "last.ckpt", weights_only=True)
    hp = ckpt["hyper_parameters"]
    assert (hp["denoiser"]["kind"], hp["loss"]["recipe"], hp["optim"]["poly_interval"]) == (
        "crossattn", "released", "epoch",
    )  # fmt: skip
    # 4 training images, batch 2: 2 steps an epoch. Decayed per epoch, the lr after 2 of 2 epochs
    # is 2e-5 × (1 − 1/2)^0.9 (held at the last epoch's value); per step it would be × 0.25^0.9
    lr = ckpt["optimizer_states"][0]["param_groups"][0]["lr"]
    assert lr == pytest.approx(2e-5 * 0.5**0.9, rel=1e-6)
    weights = [v for v in ckpt["state_dict"].values() if v.is_floating_point()]
    assert all(torch.isfinite(v).all() for v in weights)
