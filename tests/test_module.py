import pytest
import torch
import torch.nn.functional as F

from dmtl.config import (
    ConsistencyConfig,
    DenoiserConfig,
    DiffusionConfig,
    EvaluationConfig,
    JTRConfig,
    LossConfig,
    MeanTeacherConfig,
    NetworkConfig,
    OptimConfig,
    SpeedConfig,
    TeacherConfig,
    XTCConfig,
)
from dmtl.errors import ConfigError
from dmtl.module import DiffusionMTLModule
from dmtl.optim import build_poly_schedule, poly_factor
from support import REPO

TINY = NetworkConfig(embed_dim=16)
FIXTURES = REPO / "tests" / "fixtures"


def _batch(b=4, h=32, w=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    sem = torch.zeros(b, h, w, dtype=torch.long)
    sem[:, h // 2 :] = 4
    depth = torch.linspace(1, 4, h).view(1, 1, h, 1).expand(b, 1, h, w).clone()
    normals = torch.zeros(b, 3, h, w)
    normals[:, 1] = -1.0
    image = torch.randn(b, 3, h, w, generator=g)
    image[:, :, h // 2 :] += 2.0  # the lower half looks different: learnable
    labelled = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], dtype=torch.bool)[:b]
    return {
        "image": image,
        "targets": {"semseg": sem, "depth": depth, "normals": normals},
        "labelled": labelled,
        "meta": {"name": [f"s{i}" for i in range(b)], "index": torch.arange(b)},
    }


def test_training_steps_fit_a_fixed_batch():
    torch.manual_seed(0)
    module = DiffusionMTLModule(network=TINY, optim=OptimConfig(lr=1e-3))
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)
    batch = _batch()
    module.log = lambda *a, **k: None  # no trainer attached
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = module.training_step(batch, 0)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


def test_predict_step_post_processes_every_task():
    module = DiffusionMTLModule(network=TINY).eval()
    with torch.no_grad():
        out = module.predict_step(_batch(), 0)
    pred = out["predictions"]
    assert pred["semseg"].shape == (4, 32, 40) and pred["semseg"].dtype == torch.int64
    assert pred["depth"].shape == (4, 1, 32, 40)
    torch.testing.assert_close(pred["normals"].norm(dim=1), torch.ones(4, 32, 40))
    assert out["meta"]["name"][0] == "s0"


class _Trainer:
    estimated_stepping_batches = 10
    max_epochs = 3


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_optimiser_and_poly_schedule(name):
    module = DiffusionMTLModule(network=TINY, optim=OptimConfig(name=name, lr=0.1, poly_power=0.9))
    module._trainer = _Trainer()
    cfg = module.configure_optimizers()
    opt, sched = cfg["optimizer"], cfg["lr_scheduler"]["scheduler"]
    assert type(opt).__name__.lower() == name
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    expected = [0.1 * (1 - s / 10) ** 0.9 for s in range(10)]
    assert lrs == pytest.approx(expected)
    assert cfg["lr_scheduler"]["interval"] == "step"


def test_hyperparameters_are_saved_for_checkpoint_reload():
    module = DiffusionMTLModule(dataset="nyuv2", tasks=["semseg", "normals"], network=TINY)
    assert module.hparams.tasks == ["semseg", "normals"] and module.network.embed_dim == 16
    assert module.hparams.network["embed_dim"] == 16  # saved as plain data
    assert F.softmax(module(torch.randn(2, 3, 32, 32)).predictions["semseg"], 1).shape[1] == 13


def test_metric_options_reach_val_and_test_metrics():
    from dmtl.metrics import BoundaryMetrics, BoundaryODSMetrics

    default = DiffusionMTLModule(tasks=["semseg", "edge"], network=TINY)
    assert isinstance(default.val_metrics["edge"], BoundaryMetrics)
    module = DiffusionMTLModule(
        tasks=["semseg", "edge"],
        network=TINY,
        evaluation=EvaluationConfig(boundary_metric="ods", boundary_max_dist=0.011),
    )
    for metrics in (module.val_metrics, module.test_metrics):
        assert isinstance(metrics["edge"], BoundaryODSMetrics)
        assert metrics["edge"].max_dist == 0.011
    assert module.evaluation.boundary_metric == "ods"


def test_initial_predictions_are_scored_only_when_a_denoiser_rectifies_them():
    baseline = DiffusionMTLModule(network=TINY, diffusion=DiffusionConfig(space="none"))
    assert baseline.val_initial_metrics is None
    quiet = DiffusionMTLModule(network=TINY, evaluation=EvaluationConfig(log_initial_metrics=False))
    assert quiet.val_initial_metrics is None
    module = DiffusionMTLModule(network=TINY, diffusion=DiffusionConfig(space="prediction"))
    assert set(module.val_initial_metrics.tasks) == set(module.val_metrics.tasks)


def test_groups_arrive_as_dicts_and_each_module_owns_its_copy():
    module = DiffusionMTLModule(
        network={"embed_dim": 16}, denoiser={"mults": [1, 2, 2]}, loss={"recipe": "released"}
    )
    assert module.network == NetworkConfig(embed_dim=16)
    assert module.denoiser.mults == (1, 2, 2) and module.hparams.denoiser["mults"] == [1, 2, 2]
    shared = NetworkConfig(embed_dim=16)
    first = DiffusionMTLModule(network=shared)
    first.network.embed_dim = 32
    assert shared.embed_dim == 16 and DiffusionMTLModule().network == NetworkConfig()
    with pytest.raises(ConfigError, match="NetworkConfig: unknown option.*embed"):
        DiffusionMTLModule(network={"embed": 16})


def test_module_takes_one_argument_per_group():
    import inspect

    params = list(inspect.signature(DiffusionMTLModule.__init__).parameters)[1:]
    assert params == [
        "dataset", "tasks", "network", "diffusion", "denoiser", "loss", "optim", "evaluation",
        "speed", "xtc", "consistency", "jtr", "teacher", "mean_teacher",
    ]  # fmt: skip
    groups = (NetworkConfig, DiffusionConfig, DenoiserConfig, LossConfig, OptimConfig)
    defaults = [
        p.default for p in inspect.signature(DiffusionMTLModule.__init__).parameters.values()
    ]
    methods = [XTCConfig, ConsistencyConfig, JTRConfig, TeacherConfig, MeanTeacherConfig]
    assert [type(d) for d in defaults[3:]] == [*groups, EvaluationConfig, SpeedConfig, *methods]


@pytest.mark.parametrize(("total", "power"), [(10, 0.9), (3, 0.9), (1, 1.0), (7, 2.0)])
def test_poly_schedule_against_polynomial_lr_step_by_step(total, power):
    """The poly lambda and PolynomialLR agree on every planned step; past it only ours holds."""
    ours = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    theirs = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = build_poly_schedule(ours, total, power)
    poly = torch.optim.lr_scheduler.PolynomialLR(theirs, total_iters=total, power=power)
    for step in range(total + 3):
        lr = ours.param_groups[0]["lr"]
        assert lr == pytest.approx(0.1 * (1 - min(step, total - 1) / total) ** power, rel=1e-12)
        assert lr == pytest.approx(0.1 * poly_factor(step, total, power), rel=1e-12)
        if step < total:
            assert theirs.param_groups[0]["lr"] == pytest.approx(lr, rel=1e-9)
        else:  # PolynomialLR reaches 0 at total_iters; the lambda holds the last step's rate
            assert theirs.param_groups[0]["lr"] == 0.0 and lr > 0
        ours.step(), theirs.step(), sched.step(), poly.step()
    assert "total_iters" in poly.state_dict() and "total" not in str(sched.state_dict())


def test_poly_schedule_per_epoch_spans_max_epochs():
    module = DiffusionMTLModule(network=TINY, optim=OptimConfig(lr=0.1, poly_interval="epoch"))
    module._trainer = _Trainer()
    cfg = module.configure_optimizers()
    opt, sched = cfg["optimizer"], cfg["lr_scheduler"]["scheduler"]
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx(
        [0.1, 0.1 * (2 / 3) ** 0.9, 0.1 * (1 / 3) ** 0.9, 0.1 * (1 / 3) ** 0.9]
    )
    assert cfg["lr_scheduler"]["interval"] == "epoch"
    module = DiffusionMTLModule(network=TINY, optim=OptimConfig(poly_interval="batch"))
    module._trainer = _Trainer()
    with pytest.raises(ConfigError, match="optim.poly_interval"):
        module.configure_optimizers()


def test_checkpoint_of_the_flat_layout_loads_with_the_same_outputs():
    module = DiffusionMTLModule.load_from_checkpoint(FIXTURES / "layout1_feature_tiny.ckpt").eval()
    saved = torch.load(FIXTURES / "layout1_feature_tiny_outputs.pt", weights_only=True)
    assert module.network.backbone == "test_resnet" and module.denoiser.width == 8
    assert module.denoiser.skip is True and module.network.neck == "lateral"
    with torch.no_grad():
        out = module(saved["image"])
    assert set(out.predictions) == set(saved["predictions"]) == {"semseg", "depth", "normals"}
    for task in saved["predictions"]:
        torch.testing.assert_close(out.predictions[task], saved["predictions"][task])
        torch.testing.assert_close(out.initial[task], saved["initial"][task])


def test_checkpoint_of_the_grouped_layout_round_trips(tmp_path):
    torch.manual_seed(0)
    module = DiffusionMTLModule(
        tasks=["semseg", "depth"],
        network=NetworkConfig(backbone="test_resnet", embed_dim=16, neck="lateral"),
        diffusion=DiffusionConfig(steps=3, inference_noise=False),
        denoiser=DenoiserConfig(width=8, skip=True),
        optim=OptimConfig(lr=0.01),
    ).eval()
    path = tmp_path / "grouped.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "pytorch-lightning_version": "2.6.0"}, path)  # fmt: skip
    raw = torch.load(path, weights_only=True)  # plain data only
    assert raw["hyper_parameters"]["diffusion"]["steps"] == 3
    loaded = DiffusionMTLModule.load_from_checkpoint(path).eval()
    assert (loaded.network, loaded.diffusion, loaded.denoiser, loaded.optim) == (
        module.network, module.diffusion, module.denoiser, module.optim,
    )  # fmt: skip
    image = torch.randn(1, 3, 32, 40)
    with torch.no_grad():
        want, got = module(image), loaded(image)
    for task in want.predictions:
        torch.testing.assert_close(got.predictions[task], want.predictions[task])
    # a group given as a dict overrides only the fields it names
    noisy = DiffusionMTLModule.load_from_checkpoint(path, diffusion={"inference_noise": True})
    assert noisy.diffusion.steps == 3 and noisy.diffusion.inference_noise is True


@pytest.mark.parametrize(
    ("hparams", "message"),
    [
        ({"embed_dim": 16, "widths": 3}, "unknown hyper-parameters widths of the flat layout"),
        ({"network": {"embed_dim": 16}, "model_size": "s"}, "unknown hyper-parameters model_size"),
        ("resnet18", "unreadable hyper_parameters"),
    ],
)
def test_checkpoint_of_an_unknown_layout_says_how_to_convert_it(tmp_path, hparams, message):
    path = tmp_path / "odd.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": hparams}, path)
    with pytest.raises(ConfigError, match=message) as err:
        DiffusionMTLModule.load_from_checkpoint(path)
    assert "dmtl convert-checkpoint" in str(err.value) and "\n" not in str(err.value)


def test_unreadable_checkpoint_is_one_config_error(tmp_path):
    path = tmp_path / "garbage.ckpt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match=f"cannot read checkpoint {path}"):
        DiffusionMTLModule.load_from_checkpoint(path)


def test_training_noise_follows_the_run_seed_unless_a_noise_seed_is_given(monkeypatch):
    import lightning.pytorch as pl

    from dmtl.noise.source import MAX_RANKS, NOISE_SEED_STRIDE

    monkeypatch.setenv("PL_GLOBAL_SEED", "0")  # restored after the test
    image = torch.zeros(1)

    def draws(module, seed):
        pl.seed_everything(seed, verbose=False)
        return torch.randn(8, generator=module._training_noise(image).generator)

    following = DiffusionMTLModule(network=TINY)
    assert following.diffusion.noise_seed is None
    seed0, seed1 = draws(following, 0), draws(following, 1)
    assert not torch.equal(seed0, seed1)  # paired runs of two seeds differ in their noise
    assert torch.equal(draws(following, 0), seed0)  # and a run repeats its own
    # seed 0 draws what noise_seed=0 drew before the noise followed the seed (step 0, rank 0)
    old = torch.Generator().manual_seed((0 * NOISE_SEED_STRIDE + 0) * MAX_RANKS + 0)
    assert torch.equal(seed0, torch.randn(8, generator=old))
    fixed = DiffusionMTLModule(network=TINY, diffusion=DiffusionConfig(noise_seed=5))
    assert torch.equal(draws(fixed, 0), draws(fixed, 1))  # a given noise_seed wins
    assert not torch.equal(draws(fixed, 0), seed0)
