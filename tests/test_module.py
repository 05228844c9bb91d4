import pytest
import torch
import torch.nn.functional as F

from dmtl.module import DiffusionMTLModule


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
    module = DiffusionMTLModule(embed_dim=16, lr=1e-3)
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
    module = DiffusionMTLModule(embed_dim=16).eval()
    with torch.no_grad():
        out = module.predict_step(_batch(), 0)
    pred = out["predictions"]
    assert pred["semseg"].shape == (4, 32, 40) and pred["semseg"].dtype == torch.int64
    assert pred["depth"].shape == (4, 1, 32, 40)
    torch.testing.assert_close(pred["normals"].norm(dim=1), torch.ones(4, 32, 40))
    assert out["meta"]["name"][0] == "s0"


class _Trainer:
    estimated_stepping_batches = 10


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_optimiser_and_poly_schedule(name):
    module = DiffusionMTLModule(embed_dim=16, optimizer=name, lr=0.1, poly_power=0.9)
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
    module = DiffusionMTLModule(dataset="nyuv2", tasks=["semseg", "normals"], embed_dim=16)
    assert module.hparams.tasks == ["semseg", "normals"] and module.hparams.embed_dim == 16
    assert F.softmax(module(torch.randn(2, 3, 32, 32)).predictions["semseg"], 1).shape[1] == 13


def test_metric_options_reach_val_and_test_metrics():
    from dmtl.metrics import BoundaryMetrics, BoundaryODSMetrics

    default = DiffusionMTLModule(tasks=["semseg", "edge"], embed_dim=16)
    assert isinstance(default.val_metrics["edge"], BoundaryMetrics)
    module = DiffusionMTLModule(
        tasks=["semseg", "edge"], embed_dim=16, boundary_metric="ods", boundary_max_dist=0.011
    )
    for metrics in (module.val_metrics, module.test_metrics):
        assert isinstance(metrics["edge"], BoundaryODSMetrics)
        assert metrics["edge"].max_dist == 0.011
    assert module.hparams.boundary_metric == "ods"


def test_initial_predictions_are_scored_only_when_a_denoiser_rectifies_them():
    assert DiffusionMTLModule(embed_dim=16, diffusion="none").val_initial_metrics is None
    assert DiffusionMTLModule(embed_dim=16, log_initial_metrics=False).val_initial_metrics is None
    module = DiffusionMTLModule(embed_dim=16, diffusion="prediction")
    assert set(module.val_initial_metrics.tasks) == set(module.val_metrics.tasks)
