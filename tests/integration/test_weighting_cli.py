"""The loss weightings in the Lightning system and through ``dmtl fit``: optimiser, logs, state."""

import csv
import math

import pytest
import torch

from dmtl.checkpoint_overrides import keep_command_line
from dmtl.cli import main
from dmtl.config import DiffusionConfig, LossConfig, NetworkConfig, XTCConfig
from dmtl.errors import ConfigError
from dmtl.module import DiffusionMTLModule
from support import REPO
from support.cli import _args

METHOD = REPO / "experiments" / "synthetic" / "method"
TINY = NetworkConfig(backbone="mobilenetv3_small_050", embed_dim=16)
WEIGHTINGS = ["uncertainty", "dwa", "famo"]


class _Trainer:
    estimated_stepping_batches = 10
    max_epochs = 3
    gradient_clip_val = None
    precision = "32-true"


def test_learned_weights_are_optimised_without_decay_and_equal_adds_nothing():
    module = DiffusionMTLModule(network=TINY, loss=LossConfig(weighting="uncertainty"))
    module._trainer = _Trainer()
    groups = module.configure_optimizers()["optimizer"].param_groups
    assert [p for g in groups[1:] for p in g["params"]] == [module.weighting.log_var]
    assert groups[1]["weight_decay"] == 0.0 and groups[0]["weight_decay"] > 0
    optimised = {id(p) for g in groups for p in g["params"]}
    assert optimised == {id(p) for p in module.parameters() if p.requires_grad}
    equal = DiffusionMTLModule(network=TINY)
    equal._trainer = _Trainer()
    assert len(equal.configure_optimizers()["optimizer"].param_groups) == 1
    assert not [k for k in equal.state_dict() if k.startswith("weighting.")]


@pytest.mark.parametrize("weighting", ["dwa", "famo"])
def test_the_weighting_state_is_part_of_the_module_state(weighting):
    module = DiffusionMTLModule(network=TINY, loss=LossConfig(weighting=weighting))
    state = module.state_dict()
    keys = [k for k in state if k.startswith("weighting.")]
    assert keys
    for k in keys:
        state[k] = torch.full_like(state[k], 1) if state[k].dtype != torch.bool else state[k]
    fresh = DiffusionMTLModule(network=TINY, loss=LossConfig(weighting=weighting))
    fresh.load_state_dict(state)
    for k in keys:
        assert torch.equal(fresh.state_dict()[k], state[k])


LIGHT = [  # a small network, 2 steps an epoch, no validation: the weighting is what is tested
    "--model.network.backbone=mobilenetv3_small_050",
    "--data.synthetic.num_train=8",
    "--trainer.limit_val_batches=0",
    "--seed_everything=0",
]


def _fit(tmp_path, overlay, *extra):
    main(_args("fit", tmp_path / "cache", tmp_path, "--config", str(METHOD / "feature.yaml"),
               "--config", str(METHOD / overlay), *LIGHT, *extra))  # fmt: skip
    run = tmp_path / "run" / "fit"
    with open(run / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return run, rows


@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_fit_with_each_weighting_logs_the_task_weights(tmp_path, weighting):
    epochs = 3 if weighting == "dwa" else 1  # DWA's weights move from the third epoch
    run, rows = _fit(tmp_path, f"weighting_{weighting}.yaml", f"--trainer.max_epochs={epochs}")
    tasks = ["semseg", "depth", "normals"]
    assert {f"train/weight/{t}" for t in tasks} <= set(rows[0])
    logged = [r for r in rows if r["train/weight/depth"]]
    weights = [[float(r[f"train/weight/{t}"]) for t in tasks] for r in logged]
    assert len(weights) == 2 * epochs  # every step logged
    assert all(torch.isfinite(torch.tensor(w)).all() for w in weights)
    if weighting == "dwa":  # weight 1 for two epochs, then T·softmax: summing to T
        assert weights[0] == weights[3] == [1.0, 1.0, 1.0]
        assert sum(weights[4]) == pytest.approx(3.0) and weights[4] != [1.0, 1.0, 1.0]
    elif weighting == "uncertainty":  # s_t starts at -0.5 and moves with the optimiser
        assert weights[0] == pytest.approx([0.5 * math.exp(0.5)] * 3)
        assert weights[-1] != weights[0]
    ckpt = torch.load(next((run / "checkpoints").glob("*.ckpt")), weights_only=True)
    assert ckpt["hyper_parameters"]["loss"]["weighting"] == weighting
    assert any(k.startswith("weighting.") for k in ckpt["state_dict"])


def _batch(b=4, h=32, w=40):
    g = torch.Generator().manual_seed(0)
    targets = {
        "semseg": torch.randint(0, 13, (b, h, w), generator=g),
        "depth": torch.rand(b, 1, h, w, generator=g) * 3 + 0.5,
        "normals": torch.nn.functional.normalize(torch.randn(b, 3, h, w, generator=g), dim=1),
    }
    labelled = torch.tensor([[1, 0, 0], [0, 1, 0], [1, 1, 0], [1, 0, 0]], dtype=torch.bool)
    return {"image": torch.randn(b, 3, h, w, generator=g), "targets": targets, "labelled": labelled}


@pytest.mark.parametrize(
    ("space", "xtc"), [("none", False), ("none", True), ("prediction", False), ("feature", False)]
)
def test_the_weighting_applies_to_the_supervised_loss_of_every_method(space, xtc):
    module = DiffusionMTLModule(
        network=TINY,
        diffusion=DiffusionConfig(space=space, steps=2),
        loss=LossConfig(weighting="uncertainty"),
        xtc=XTCConfig(enabled=xtc),
    )
    logged = {}
    module.log = lambda name, value, **kwargs: logged.__setitem__(name, value)
    batch = _batch()
    total = module.training_step(batch, 0)
    image, labelled = batch["image"], batch["labelled"]
    noise = module._training_noise(image)
    out = module(image, labelled, noise)
    loss = module.criterion(out, batch["targets"], labelled)
    expected = module.weighting(loss, module.criterion.weights).total
    assert expected.item() != pytest.approx(loss.total.item())  # the weighting took effect
    if xtc:  # XTC*'s term is added after the weighting, with its own weight
        expected = expected + module.xtc.weight * module._xtc_term(out, batch, noise).total
    torch.testing.assert_close(total, expected)
    assert logged["train/weight/normals"].item() == pytest.approx(0.5 * math.exp(0.5))
    total.backward()
    assert module.weighting.log_var.grad[2].item() == 0.0  # normals: labelled by no sample


def _weighting_state(run):
    ckpt = torch.load(next((run / "checkpoints").glob("*.ckpt")), weights_only=True)
    return {k: v for k, v in ckpt["state_dict"].items() if k.startswith("weighting.")}


@pytest.mark.slow
@pytest.mark.parametrize(("weighting", "epochs"), [("dwa", 3), ("famo", 2)])
def test_a_resumed_fit_ends_with_the_weighting_state_of_the_uninterrupted_one(
    tmp_path, weighting, epochs
):
    overlay, exact = f"weighting_{weighting}.yaml", ["--trainer.deterministic=true"]
    exact.append("--data.augment=false")  # the augmentation stream is not in the checkpoint
    exact.append("--model.optim.poly_power=0")  # a shorter first run: the same learning rates
    whole, _ = _fit(tmp_path / "whole", overlay, f"--trainer.max_epochs={epochs}", *exact)
    first, _ = _fit(tmp_path / "first", overlay, f"--trainer.max_epochs={epochs - 1}", *exact)
    ckpt = next((first / "checkpoints").glob("*.ckpt"))
    resumed, _ = _fit(tmp_path / "resumed", overlay, f"--trainer.max_epochs={epochs}",
                      f"--ckpt_path={ckpt}", *exact)  # fmt: skip
    expected, state = _weighting_state(whole), _weighting_state(resumed)
    assert state.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(state[key], value), key


def test_a_checkpoint_keeps_its_weighting_but_takes_new_options(tmp_path):
    saved = {"loss": {"weighting": "dwa", "weighting_options": {"dwa_temperature": 2.0}}}
    parsed = {"loss": {"weighting": "famo", "weighting_options": {"dwa_temperature": 3.0}}}
    with pytest.raises(ConfigError, match="model.loss.weighting='famo' differs from the 'dwa'"):
        keep_command_line(saved, ["loss.weighting"], parsed, tmp_path / "x.ckpt")
    kept = keep_command_line(
        saved, ["loss.weighting_options.dwa_temperature"], parsed, tmp_path / "x.ckpt"
    )
    assert kept["loss"] == {"weighting": "dwa", "weighting_options": {"dwa_temperature": 3.0}}
