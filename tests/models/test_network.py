import pytest
import torch

from dmtl.models.network import DiffusionMTLNet, MultiTaskNet
from dmtl.tasks import resolve_tasks


@pytest.mark.parametrize("neck_stride", [4, 8])
def test_predictions_at_image_size_for_every_task(neck_stride):
    tasks = resolve_tasks("synthetic", ["semseg", "depth", "normals", "edge"])
    net = MultiTaskNet(tasks, embed_dim=32, neck_stride=neck_stride)
    out = net(torch.randn(2, 3, 64, 80))
    assert {k: tuple(v.shape) for k, v in out.predictions.items()} == {
        "semseg": (2, 13, 64, 80),
        "depth": (2, 1, 64, 80),
        "normals": (2, 3, 64, 80),
        "edge": (2, 1, 64, 80),
    }
    assert out.features["depth"].shape == (2, 32, 64 // neck_stride, 80 // neck_stride)
    assert out.initial == {}


def test_every_task_head_gets_gradient_and_tasks_are_independent_heads():
    tasks = resolve_tasks("synthetic")
    net = MultiTaskNet(tasks, embed_dim=16)
    out = net(torch.randn(2, 3, 64, 64))
    out.predictions["depth"].sum().backward()
    assert net.decoders["depth"].head.weight.grad.abs().sum() > 0
    assert net.decoders["semseg"].head.weight.grad is None
    assert net.backbone.model.conv1.weight.grad.abs().sum() > 0


def test_single_task_network_has_one_decoder():
    net = MultiTaskNet(resolve_tasks("nyuv2", ["semseg"]), embed_dim=16)
    assert list(net.decoders) == ["semseg"]
    assert set(net(torch.randn(2, 3, 32, 32)).predictions) == {"semseg"}


# ------------------------------------------------------------------------- DiffusionMTLNet
OPTIONS = [
    dict(diffusion="feature"),
    dict(diffusion="prediction"),
    dict(diffusion="feature", condition="single"),
    dict(diffusion="prediction", condition="single"),
    dict(diffusion="feature", refine_only=True),
    dict(diffusion="prediction", refine_only=True),
    dict(diffusion="feature", denoiser_skip=True),
    dict(diffusion="prediction", denoiser_skip=True),
    dict(diffusion="feature", schedule="cosine", steps=3),
]


def _diffusion_net(tasks=None, **kwargs):
    specs = resolve_tasks("synthetic", tasks or ["semseg", "depth", "normals", "edge"])
    kwargs.setdefault("embed_dim", 16)
    kwargs.setdefault("neck_stride", 4)
    kwargs.setdefault("denoiser_width", 8)
    return DiffusionMTLNet(specs, **kwargs)


def _perturb(module):
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.05 * torch.randn_like(p))


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(map(str, o.values())))
def test_every_option_predicts_every_task_and_gradients_reach_every_part(options):
    net = _diffusion_net(**options)
    _perturb(net.mtd)  # zero-initialised residual convs would hide the deeper denoiser paths
    labelled = torch.tensor([[1, 0, 0, 1], [0, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
    out = net(torch.randn(3, 3, 32, 48), labelled)
    for name, c in (("semseg", 13), ("depth", 1), ("normals", 3), ("edge", 1)):
        assert out.predictions[name].shape == (3, c, 32, 48)
        assert out.initial[name].shape == (3, c, 32, 48)
    loss = sum(p.square().mean() for p in out.predictions.values())
    loss = loss + sum(p.square().mean() for p in out.initial.values())
    loss.backward()
    parts = {
        "backbone": net.backbone,
        "neck": net.neck,
        "decoders": net.decoders,
        "condition": net.condition,
        "denoiser": net.mtd.denoiser,
    }
    if options["diffusion"] == "feature":
        parts["final heads"] = net.mtd.heads
    for part, module in parts.items():
        grads = [p.grad for p in module.parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), part


def test_baseline_option_has_the_baselines_parameters():
    tasks = resolve_tasks("synthetic")
    plain = MultiTaskNet(tasks, embed_dim=16)
    none = DiffusionMTLNet(tasks, embed_dim=16, diffusion="none")
    assert list(plain.state_dict()) == list(none.state_dict())
    none.load_state_dict(plain.state_dict())
    image = torch.randn(2, 3, 32, 32)
    plain.eval(), none.eval()
    for name, pred in plain(image).predictions.items():
        torch.testing.assert_close(none(image).predictions[name], pred)


def test_training_denoises_only_labelled_pairs_and_keeps_initial_elsewhere():
    net = _diffusion_net(["semseg", "depth"])
    labelled = torch.tensor([[1, 0], [0, 1], [0, 0]], dtype=torch.bool)
    out = net(torch.randn(3, 3, 32, 32), labelled)
    for k, name in enumerate(["semseg", "depth"]):
        same = (out.predictions[name] == out.initial[name]).flatten(1).all(1)
        assert same.tolist() == (~labelled[:, k]).tolist()


def test_condition_is_detached_and_multitask_couples_tasks_single_does_not():
    image = torch.randn(2, 3, 32, 32)
    for mode, coupled in (("multitask", True), ("single", False)):
        torch.manual_seed(3)
        net = _diffusion_net(["semseg", "depth"], condition=mode).eval()
        _perturb(net.mtd)
        base = net(image).predictions["semseg"]
        with torch.no_grad():
            net.decoders["depth"].head.bias.add_(1.0)
        changed = not torch.allclose(net(image).predictions["semseg"], base)
        assert changed == coupled, mode
        net.zero_grad()
        net.train()(image).predictions["semseg"].sum().backward()
        assert net.decoders["depth"].head.weight.grad is None  # reached only via the detach


def test_inference_is_deterministic_with_a_seed_and_noise_matters():
    net = _diffusion_net(["depth"]).eval()
    _perturb(net.mtd)
    image = torch.randn(2, 3, 32, 32)
    first = net(image).predictions["depth"]
    torch.testing.assert_close(net(image).predictions["depth"], first, rtol=0, atol=0)
    net.inference_seed = 1
    assert not torch.allclose(net(image).predictions["depth"], first)


def test_refine_only_draws_no_noise():
    net = _diffusion_net(["semseg"], refine_only=True)
    image = torch.randn(2, 3, 32, 32)
    labelled = torch.ones(2, 1, dtype=torch.bool)
    torch.testing.assert_close(net(image, labelled).predictions["semseg"],
                               net(image, labelled).predictions["semseg"])  # fmt: skip


def test_unknown_diffusion_option_is_a_config_error():
    from dmtl.errors import ConfigError

    with pytest.raises(ConfigError, match="diffusion"):
        _diffusion_net(diffusion="latent")
    with pytest.raises(ConfigError, match="condition"):
        _diffusion_net(condition="none")


def test_evaluation_of_an_image_does_not_depend_on_its_batch():
    net = _diffusion_net(["semseg", "depth"]).eval()
    _perturb(net.mtd)
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        batched = net(images).predictions
        alone = net(images[2:]).predictions
    for name in batched:
        torch.testing.assert_close(alone[name][0], batched[name][2], rtol=1e-4, atol=1e-5)
