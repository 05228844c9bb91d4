"""Jacobian descent in the Lightning system and through ``dmtl fit`` (manual optimisation)."""

import csv

import pytest
import torch

from dmtl.cli import main
from dmtl.config import ConsistencyConfig, LossConfig, NetworkConfig
from dmtl.module import DiffusionMTLModule
from dmtl.optim import poly_factor
from support import REPO
from support.cli import _args
from support.poison import poison_depth

METHOD = REPO / "experiments" / "synthetic" / "method"
TINY = NetworkConfig(backbone="mobilenetv3_small_050", embed_dim=16)
LIGHT = ["--model.network.backbone=mobilenetv3_small_050", "--trainer.limit_val_batches=0",
         "--seed_everything=0"]  # fmt: skip


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("jd-cache")


def _rows(run):
    with open(run / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _checkpoint(out):
    """The newest checkpoint of the run under ``out``."""
    found = (out / "run" / "fit" / "checkpoints").glob("*.ckpt")
    return max(found, key=lambda p: p.stat().st_mtime_ns)


def _batch(labelled):
    b, h, w = len(labelled), 32, 40
    g = torch.Generator().manual_seed(0)
    return {
        "image": torch.randn(b, 3, h, w, generator=g),
        "targets": {
            "semseg": torch.randint(0, 13, (b, h, w), generator=g),
            "depth": torch.rand(b, 1, h, w, generator=g) + 1,
            "normals": torch.nn.functional.normalize(torch.randn(b, 3, h, w, generator=g), dim=1),
        },
        "labelled": torch.tensor(labelled, dtype=torch.bool),
        "meta": {"name": [f"s{i}" for i in range(b)], "index": torch.arange(b)},
    }


def test_the_rows_are_the_present_tasks_and_each_term():
    module = DiffusionMTLModule(
        network=TINY,
        loss=LossConfig(weighting="upgrad", weights={"semseg": 2.0}),
        consistency=ConsistencyConfig(enabled=True),
    )
    assert not module.automatic_optimization
    module.log = lambda *a, **k: None  # no trainer attached
    objectives = module.training_objectives(_batch([[1, 0, 0], [0, 1, 0]]))  # no normals label
    rows = module.jacobian_rows(objectives)
    assert list(rows) == ["semseg", "depth", "consistency"]
    torch.testing.assert_close(rows["semseg"], 2.0 * objectives.loss.per_task["semseg"])
    assert DiffusionMTLModule(network=TINY).automatic_optimization


@pytest.mark.parametrize("interval", ["step", "epoch"])
def test_fit_with_upgrad_logs_weights_and_keeps_the_poly_schedule(cache, tmp_path, interval):
    main(_args("fit", cache, tmp_path, "--config", str(METHOD / "feature.yaml"), *LIGHT,
               "--model.loss.weighting=upgrad", f"--model.optim.poly_interval={interval}",
               "--trainer.max_epochs=2"))  # fmt: skip
    rows = _rows(tmp_path / "run" / "fit")
    steps = [r for r in rows if r["train/loss"]]
    assert len(steps) == 8  # 16 scenes in batches of 4, 2 epochs: one step each
    for task in ("semseg", "depth", "normals"):
        logged = [float(r[f"train/weight/{task}"]) for r in steps if r[f"train/weight/{task}"]]
        assert logged and all(w > 0 for w in logged)
    rates = [(int(r["step"]), float(r["lr-Adam"])) for r in rows if r.get("lr-Adam")]
    peak = rates[0][1]
    for step, rate in rates:  # the schedule is stepped by the module itself
        done = step if interval == "step" else step // 4
        total = 8 if interval == "step" else 2
        assert rate == pytest.approx(peak * poly_factor(done, total, 0.9), rel=1e-6)
    ckpt = torch.load(_checkpoint(tmp_path), weights_only=False)
    assert ckpt["global_step"] == 8
    adam = ckpt["optimizer_states"][0]["state"]  # the backbone stepped every time (a task's
    assert max(int(s["step"]) for s in adam.values()) == 8  # denoiser only with its labels)


@pytest.fixture()
def restore_determinism():
    """``--trainer.deterministic=true`` sets torch's process-wide flag; later tests get it back."""
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    yield
    torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def test_a_resumed_upgrad_run_ends_with_the_uninterrupted_weights(
    cache, tmp_path, restore_determinism
):
    # a constant rate (the poly decay's horizon is each start's max_epochs); the augmentation
    # stream is not in the checkpoint
    common = [*LIGHT, "--model.loss.weighting=upgrad", "--model.optim.poly_power=0",
              "--data.augment=false", "--trainer.deterministic=true"]  # fmt: skip
    main(_args("fit", cache, tmp_path / "whole", *common, "--trainer.max_epochs=2"))
    main(_args("fit", cache, tmp_path / "parts", *common, "--trainer.max_epochs=1"))
    first = _checkpoint(tmp_path / "parts")
    main(_args("fit", cache, tmp_path / "parts", *common, "--trainer.max_epochs=2",
               f"--ckpt_path={first}"))  # fmt: skip
    whole = torch.load(_checkpoint(tmp_path / "whole"), weights_only=False)["state_dict"]
    parts = torch.load(_checkpoint(tmp_path / "parts"), weights_only=False)["state_dict"]
    assert whole.keys() == parts.keys()
    for key in whole:
        torch.testing.assert_close(parts[key], whole[key], rtol=0, atol=0, msg=key)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--trainer.gradient_clip_val=10", "remove --trainer.gradient_clip_val=10"),
        ("--trainer.accumulate_grad_batches=2", "remove --trainer.accumulate_grad_batches=2"),
        ("--trainer.precision=16-mixed", "has no fp16 loss scaling"),
        ("--model.speed.compile=true", "set --model.speed.compile=false"),
    ],
)
def test_options_it_cannot_honour_end_in_one_line_before_training(
    cache, tmp_path, capsys, option, message
):
    with pytest.raises(SystemExit) as exit_info:
        main(_args("fit", cache, tmp_path, *LIGHT, "--model.loss.weighting=mgda", option))
    assert exit_info.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("dmtl: error: model.loss.weighting=mgda ") and message in line
    assert not (tmp_path / "run" / "fit" / "checkpoints").exists()


def test_the_loss_guard_stops_a_non_finite_step(cache, tmp_path, capsys, monkeypatch):
    poison_depth(monkeypatch, at_calls={1})
    with pytest.raises(SystemExit):
        main(_args("fit", cache, tmp_path, *LIGHT, "--model.loss.weighting=upgrad",
                   "--trainer.max_epochs=1"))  # fmt: skip
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("dmtl: error: non-finite training loss nan at step 1 (epoch 0)")


def test_the_loss_guard_skips_a_non_finite_step(cache, tmp_path, monkeypatch):
    poison_depth(monkeypatch, at_calls={1})
    with pytest.warns(UserWarning, match=r"at step 1 .*depth.*step skipped"):
        cli = main(_args("fit", cache, tmp_path, *LIGHT, "--model.loss.weighting=upgrad",
                         "--trainer.max_epochs=1", "--loss_guard.action=skip"))  # fmt: skip
    params = list(cli.model.parameters())
    assert all(torch.isfinite(p).all() for p in params)
    state = cli.trainer.optimizers[0].state  # 4 batches, one skipped
    assert {int(state[p]["step"]) for p in params if p in state} == {3}
    assert cli.trainer.global_step == 4


def test_a_batch_without_any_label_has_no_row():
    module = DiffusionMTLModule(network=TINY, loss=LossConfig(weighting="mgda"))
    module.log = lambda *a, **k: None
    objectives = module.training_objectives(_batch([[0, 0, 0], [0, 0, 0]]))
    assert module.jacobian_rows(objectives) == {}
    params = [p for p in module.parameters() if p.requires_grad]
    assert module.jacobian.backward(module.jacobian_rows(objectives), params) == {}
    assert all(p.grad is None for p in params)
