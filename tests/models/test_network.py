from dataclasses import fields

import pytest
import torch

from dmtl.config import DenoiserConfig, DiffusionConfig, NetworkConfig
from dmtl.errors import ConfigError
from dmtl.models.network import DiffusionMTLNet, MultiTaskNet, MultiTaskOutput
from dmtl.noise import NoiseSource
from dmtl.tasks import resolve_tasks
from support import REPO

GROUPS = {
    "network": {f.name for f in fields(NetworkConfig)},
    "diffusion": {f.name for f in fields(DiffusionConfig)},
    "denoiser": {f.name for f in fields(DenoiserConfig)},
}


def _groups(**options) -> dict[str, dict]:
    """Options by field name -> the network's group keywords (the field names do not overlap)."""
    out = {group: {} for group in GROUPS}
    for key, value in options.items():
        (group,) = [g for g, names in GROUPS.items() if key in names]
        out[group][key] = value
    return out


def _merged(out: MultiTaskOutput) -> MultiTaskOutput:
    """Every sample's final prediction: the denoised rows over the initial predictions."""
    full = {}
    for name, initial in out.initial.items():
        idx, pred = out.rows.get(name), out.predictions.get(name)
        if pred is None:  # no denoised sample
            full[name] = initial
        else:
            full[name] = pred if idx is None else initial.index_copy(0, idx, pred)
    return MultiTaskOutput(predictions=full, initial=out.initial, features=out.features)


@pytest.mark.parametrize("neck_stride", [4, 8])
def test_predictions_at_image_size_for_every_task(neck_stride):
    tasks = resolve_tasks("synthetic", ["semseg", "depth", "normals", "edge"])
    net = MultiTaskNet(tasks, network=NetworkConfig(embed_dim=32, neck_stride=neck_stride))
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
    net = MultiTaskNet(tasks, network={"embed_dim": 16})
    out = net(torch.randn(2, 3, 64, 64))
    out.predictions["depth"].sum().backward()
    assert net.decoders["depth"].head.weight.grad.abs().sum() > 0
    assert net.decoders["semseg"].head.weight.grad is None
    assert net.backbone.model.conv1.weight.grad.abs().sum() > 0


def test_single_task_network_has_one_decoder():
    net = MultiTaskNet(resolve_tasks("nyuv2", ["semseg"]), network={"embed_dim": 16})
    assert list(net.decoders) == ["semseg"]
    assert set(net(torch.randn(2, 3, 32, 32)).predictions) == {"semseg"}


# ------------------------------------------------------------------------- DiffusionMTLNet
OPTIONS = [
    dict(space="feature"),
    dict(space="prediction"),
    dict(space="feature", condition="single"),
    dict(space="prediction", condition="single"),
    dict(space="feature", refine_only=True),
    dict(space="prediction", refine_only=True),
    dict(space="feature", skip=True),
    dict(space="prediction", skip=True),
    dict(space="feature", schedule="cosine", steps=3),
]


def _diffusion_net(tasks=None, **options):
    specs = resolve_tasks("synthetic", tasks or ["semseg", "depth", "normals", "edge"])
    options.setdefault("embed_dim", 16)
    options.setdefault("neck_stride", 4)
    options.setdefault("width", 8)
    return DiffusionMTLNet(specs, **_groups(**options))


def _perturb(module):
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.05 * torch.randn_like(p))


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(map(str, o.values())))
def test_every_option_predicts_every_task_and_gradients_reach_every_part(options):
    net = _diffusion_net(**options)
    _perturb(net.mtd)  # zero-initialised residual convs would hide the deeper denoiser paths
    labelled = torch.tensor([[1, 0, 0, 1], [0, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
    out = _merged(net(torch.randn(3, 3, 32, 48), labelled))
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
    if options["space"] == "feature":
        parts["final heads"] = net.mtd.heads
    for part, module in parts.items():
        grads = [p.grad for p in module.parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), part


def test_baseline_option_has_the_baselines_parameters():
    tasks = resolve_tasks("synthetic")
    plain = MultiTaskNet(tasks, network={"embed_dim": 16})
    none = DiffusionMTLNet(tasks, network={"embed_dim": 16}, diffusion={"space": "none"})
    assert list(plain.state_dict()) == list(none.state_dict())
    none.load_state_dict(plain.state_dict())
    image = torch.randn(2, 3, 32, 32)
    plain.eval(), none.eval()
    for name, pred in plain(image).predictions.items():
        torch.testing.assert_close(none(image).predictions[name], pred)


def test_training_denoises_only_labelled_pairs_and_keeps_initial_elsewhere():
    net = _diffusion_net(["semseg", "depth"])
    labelled = torch.tensor([[1, 0], [0, 1], [0, 0]], dtype=torch.bool)
    out = _merged(net(torch.randn(3, 3, 32, 32), labelled))
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
    other = net(image, noise=NoiseSource.evaluation(1)).predictions["depth"]
    assert not torch.allclose(other, first)


def test_refine_only_draws_no_noise():
    net = _diffusion_net(["semseg"], refine_only=True)
    image = torch.randn(2, 3, 32, 32)
    labelled = torch.ones(2, 1, dtype=torch.bool)
    torch.testing.assert_close(net(image, labelled).predictions["semseg"],
                               net(image, labelled).predictions["semseg"])  # fmt: skip


def test_unknown_diffusion_option_is_a_config_error():
    with pytest.raises(ConfigError, match="diffusion"):
        _diffusion_net(space="latent")
    with pytest.raises(ConfigError, match="condition"):
        _diffusion_net(condition="nothing")


def test_evaluation_of_an_image_does_not_depend_on_its_batch():
    net = _diffusion_net(["semseg", "depth"]).eval()
    _perturb(net.mtd)
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        batched = net(images).predictions
        alone = net(images[2:]).predictions
    for name in batched:
        torch.testing.assert_close(alone[name][0], batched[name][2], rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------- the typed output
def test_training_output_holds_the_denoised_rows_apart_from_the_initial_predictions():
    net = _diffusion_net(["semseg", "depth", "edge"])
    labelled = torch.tensor([[1, 0, 0], [0, 0, 0], [1, 1, 0]], dtype=torch.bool)
    out = net(
        torch.randn(3, 3, 32, 40),
        labelled,
        NoiseSource.from_generator(torch.Generator().manual_seed(0)),
    )
    assert set(out.predictions) == set(out.rows) == {"semseg", "depth"}  # edge: no label
    assert out.rows["semseg"].tolist() == [0, 2] and out.rows["depth"].tolist() == [2]
    assert out.predictions["semseg"].shape == (2, 13, 32, 40)
    assert out.predictions["depth"].shape == (1, 1, 32, 40)
    assert {n: p.shape[0] for n, p in out.initial.items()} == {"semseg": 3, "depth": 3, "edge": 3}
    net.eval()
    with torch.no_grad():
        full = net(torch.randn(3, 3, 32, 40))
    assert set(full.predictions) == {"semseg", "depth", "edge"}
    assert full.rows == {"semseg": None, "depth": None, "edge": None}


def test_plain_baseline_returns_every_task_for_every_sample_and_no_initial():
    net = _diffusion_net(["semseg", "depth"], space="none")
    out = net(torch.randn(2, 3, 32, 32), torch.tensor([[1, 0], [0, 0]], dtype=torch.bool))
    assert {n: p.shape[0] for n, p in out.predictions.items()} == {"semseg": 2, "depth": 2}
    assert out.initial == {} and out.rows == {"semseg": None, "depth": None}


# ------------------------------------------------------------------------- option groups
def test_groups_may_be_dicts_and_the_defaults_are_the_configs():
    specs = resolve_tasks("synthetic", ["depth"])
    net = DiffusionMTLNet(specs, network={"embed_dim": 16}, diffusion=DiffusionConfig())
    assert net.mtd.denoiser.inputs["depth"].out_channels == DenoiserConfig().width
    assert net.mtd.steps == DiffusionConfig().steps and net.neck.out_stride == 8
    with pytest.raises(ConfigError, match="widht"):
        DiffusionMTLNet(specs, network={"embed_dim": 16}, denoiser={"widht": 8})


def test_unknown_neck_denoiser_and_condition_input_name_their_option():
    with pytest.raises(ConfigError, match="network.neck"):
        _diffusion_net(["depth"], neck="fpn")
    with pytest.raises(ConfigError, match="denoiser.kind"):
        _diffusion_net(["depth"], kind="transformer")
    with pytest.raises(ConfigError, match="diffusion.condition_input"):
        _diffusion_net(["depth"], condition_input="logits")


# ------------------------------------------------------------------------- saved checkpoints
LAYOUT1 = REPO / "tests" / "fixtures" / "layout1_feature_tiny.ckpt"
LAYOUT1_OUTPUTS = REPO / "tests" / "fixtures" / "layout1_feature_tiny_outputs.pt"
# the previous layout's flat hyper-parameter -> (group, field); the others keep their names
RENAMED = {
    "diffusion": ("diffusion", "space"),
    "denoiser": ("denoiser", "kind"),
    "denoiser_width": ("denoiser", "width"),
    "denoiser_mults": ("denoiser", "mults"),
    "denoiser_blocks": ("denoiser", "blocks"),
    "denoiser_skip": ("denoiser", "skip"),
}


def test_a_checkpoint_of_the_previous_layout_loads_strictly_and_gives_its_outputs():
    ckpt = torch.load(LAYOUT1, map_location="cpu", weights_only=False)
    hp = ckpt["hyper_parameters"]
    options: dict[str, dict] = {group: {} for group in GROUPS}
    for key, value in hp.items():
        group, name = RENAMED.get(key, (None, key))
        group = group or next((g for g, names in GROUPS.items() if key in names), None)
        if group is not None:  # the loss, optimiser, evaluation and speed options are not the net's
            options[group][name] = value
    net = DiffusionMTLNet(resolve_tasks(hp["dataset"], hp["tasks"]), **options)
    state = {k.removeprefix("net."): v for k, v in ckpt["state_dict"].items()}
    net.load_state_dict(state, strict=True)
    expected = torch.load(LAYOUT1_OUTPUTS, weights_only=True)
    with torch.no_grad():
        out = net.eval()(expected["image"])
    for name, pred in expected["predictions"].items():  # float noise of the thread count only
        torch.testing.assert_close(out.predictions[name], pred, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(
            out.initial[name], expected["initial"][name], rtol=1e-5, atol=1e-6
        )


# ------------------------------------------------------- condition none, feature scale, trace
def test_condition_none_removes_the_condition_and_its_parameters():
    def count(net):
        return sum(p.numel() for p in net.parameters())

    single = _diffusion_net(["semseg", "depth"], condition="single")
    none = _diffusion_net(["semseg", "depth"], condition="none")
    assert list(none.condition.parameters()) == []
    assert count(none) < count(_diffusion_net(["semseg", "depth"])) < count(single)
    assert none.mtd.denoiser.stem.in_channels == 8  # the UNet's width alone: no condition input
    image = torch.randn(2, 3, 32, 32)
    _perturb(none.mtd)
    base = none.eval()(image).predictions["semseg"]
    with torch.no_grad():
        none.decoders["depth"].head.bias.add_(1.0)
    torch.testing.assert_close(none(image).predictions["semseg"], base)  # nothing couples tasks
    with pytest.raises(ConfigError, match="condition: none needs denoiser.kind: unet"):
        _diffusion_net(condition="none", kind="crossattn")


def test_feature_scale_scales_the_chain_and_the_heads_read_it_back():
    image = torch.randn(2, 3, 32, 32)
    nets = {}
    for scale in (1.0, 0.25):
        torch.manual_seed(0)
        nets[scale] = _diffusion_net(["depth"], feature_scale=scale, skip=True, refine_only=True)
        nets[scale].eval()
    features, initial = nets[0.25].initial(image)
    start = nets[0.25].mtd.start("depth", features["depth"], initial["depth"])
    torch.testing.assert_close(start, 0.25 * features["depth"])
    # zero-initialised heads with the skip: the chain is the identity at any scale
    out = {s: n(image).predictions["depth"] for s, n in nets.items()}
    torch.testing.assert_close(out[0.25], out[1.0])
    with pytest.raises(ConfigError, match="feature_scale must be positive"):
        _diffusion_net(feature_scale=0.0)
    with pytest.raises(ConfigError, match="feature_scale is an option of feature diffusion"):
        _diffusion_net(space="prediction", feature_scale=0.5)


@pytest.mark.parametrize("refine_only", [False, True])
def test_training_forward_traces_the_chain_without_another_forward(refine_only):
    net = _diffusion_net(["semseg", "depth"], steps=3, refine_only=refine_only)
    image, labelled = torch.randn(2, 3, 32, 32), torch.tensor([[True, False], [True, True]])
    trace: dict = {}
    net(image, labelled, NoiseSource.from_generator(torch.Generator().manual_seed(0)), trace=trace)
    assert set(trace) == {"semseg", "depth"}
    steps = {f"x0_error/t{t}" for t in range(3)}
    noise = set() if refine_only else {"relative_noise", "start_error"}
    for stats in trace.values():
        assert set(stats) == steps | noise
        assert all(v.ndim == 0 and not v.requires_grad for v in stats.values())
        assert all(torch.isfinite(v) for v in stats.values())
    if not refine_only:
        torch.testing.assert_close(
            trace["depth"]["relative_noise"],
            net.mtd.process.sqrt_one_minus_alphas_cumprod[2] / _rms_of_start(net, image, [1]),
        )


def _rms_of_start(net, image, rows):
    features, initial = net.initial(image)
    start = net.mtd.start("depth", features["depth"], initial["depth"])[rows]
    return start.detach().square().mean().sqrt()
