"""The task kinds against the per-kind definitions they replaced, and their registry."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dmtl.errors import ConfigError, DataError
from dmtl.losses.masked import per_sample_task_loss
from dmtl.losses.released import released_task_loss
from dmtl.metrics import (
    BoundaryMetrics,
    BoundaryODSMetrics,
    DepthMetrics,
    NormalMetrics,
    SaliencyMetrics,
    SegmentationMetrics,
)
from dmtl.metrics.multitask import build_metric
from dmtl.tasks import IGNORE_INDEX, TASKS, TaskSpec, resolve_tasks
from dmtl.tasks.kinds import KINDS, SaliencyKind, SegmentationKind, kind_named
from dmtl.viz import colourise, palette

SPECS = {s.name: s for s in resolve_tasks("pascal_context")}
SPECS["depth"] = TASKS["depth"]
B, H, W = 3, 4, 5


def _targets(seed: int = 0) -> dict[str, torch.Tensor]:
    """Targets of every task with unusable pixels: ignore ids, 0 / NaN depth, all-zero normals."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name in ("semseg", "human_parts", "sal"):
        t = torch.randint(0, SPECS[name].channels, (B, H, W), generator=g)
        t[torch.rand(B, H, W, generator=g) < 0.2] = IGNORE_INDEX
        out[name] = t
    depth = torch.rand(B, 1, H, W, generator=g) * 5 + 0.5
    depth[:, :, 0] = 0.0
    depth[0, 0, 1, 1] = float("nan")
    out["depth"] = depth
    normals = F.normalize(torch.randn(B, 3, H, W, generator=g), dim=1)
    normals[:, :, :, -1] = 0.0
    out["normals"] = normals
    edge = (torch.rand(B, 1, H, W, generator=g) < 0.3).float()
    edge[:, :, -1] = IGNORE_INDEX
    out["edge"] = edge
    return out


def _preds(seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {n: torch.randn(B, s.channels, H, W, generator=g) for n, s in SPECS.items()}


def _old_valid(name: str, target: torch.Tensor) -> torch.Tensor:
    """The validity rules of dmtl.losses.masked before the kinds."""
    if name == "depth":
        return torch.isfinite(target) & (target > 0)
    if name == "normals":
        ok = torch.isfinite(target).all(1, keepdim=True) & (target.abs().sum(1, keepdim=True) > 0)
        return ok.expand_as(target)
    return target != IGNORE_INDEX


def _old_loss(name: str, pred, target, use, normals_loss="l1"):
    """The per-sample loss of dmtl.losses.masked before the kinds (the mean over valid pixels)."""
    valid = _old_valid(name, target) & use.view(-1, *([1] * (target.ndim - 1)))
    safe = torch.where(valid, target, torch.zeros((), dtype=target.dtype))
    if name in ("semseg", "human_parts", "sal"):
        pixel = F.cross_entropy(pred, safe.long(), reduction="none")
    elif name == "depth":
        pixel = (pred - safe).abs()
    elif name == "normals":
        unit = F.normalize(pred, dim=1)
        if normals_loss == "l1":
            pixel = (unit - safe).abs().sum(1, keepdim=True)
        else:
            pixel = 1.0 - (unit * safe).sum(1, keepdim=True)
        valid = valid[:, :1]
    else:
        pixel = F.binary_cross_entropy_with_logits(
            pred, safe, pos_weight=torch.tensor(0.95 / 0.05), reduction="none"
        )
    pixel = torch.where(valid, pixel, torch.zeros(()))
    count = valid.flatten(1).sum(1)
    return pixel.flatten(1).sum(1) / count.clamp(min=1), count > 0


def test_the_registry_has_one_kind_per_name_and_every_task_has_its_kind():
    assert set(KINDS) == {"segmentation", "saliency", "depth", "normals", "boundary"}
    assert all(kind.name == name for name, kind in KINDS.items())
    for spec in TASKS.values():
        assert spec.behaviour is KINDS[spec.kind] is kind_named(spec.kind)
    assert TASKS["sal"].kind == "saliency" and isinstance(TASKS["sal"].behaviour, SaliencyKind)
    assert isinstance(TASKS["sal"].behaviour, SegmentationKind)  # a two-class segmentation
    assert {n for n, s in TASKS.items() if s.behaviour.class_ids} == {
        "semseg",
        "human_parts",
        "sal",
    }
    assert {
        n: TASKS[n].behaviour.invalid_value for n in ("semseg", "sal", "edge")
    } == dict.fromkeys(("semseg", "sal", "edge"), IGNORE_INDEX)
    assert TASKS["depth"].behaviour.invalid_value == TASKS["normals"].behaviour.invalid_value == 0


def test_an_unknown_kind_is_a_config_error_naming_task_and_kind():
    spec = TaskSpec("flow", "optical_flow", 2, "epe", False)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="task 'flow' has unknown kind 'optical_flow'; known"):
        _ = spec.behaviour
    with pytest.raises(ConfigError, match="unknown kind 'flow'"):
        kind_named("flow")
    with pytest.raises(ConfigError, match="'flow'"):
        per_sample_task_loss(spec, torch.zeros(1, 2, 1, 1), torch.zeros(1, 2, 1, 1), torch.ones(1))


def test_valid_pixels_and_losses_match_the_old_definitions():
    targets, preds = _targets(), _preds()
    use = torch.tensor([True, False, True])
    for name, spec in SPECS.items():
        target = targets[name]
        assert torch.equal(spec.behaviour.valid_pixels(spec, target), _old_valid(name, target))
        for normals_loss in ("l1", "cosine"):
            loss, has = per_sample_task_loss(spec, preds[name], target, use, normals_loss)
            old_loss, old_has = _old_loss(name, preds[name], target, use, normals_loss)
            torch.testing.assert_close(loss, old_loss, rtol=0, atol=0, msg=name)
            assert torch.equal(has, old_has) and not has[1], name


def test_released_losses_scale_edges_balance_saliency_and_keep_the_rest():
    targets, preds = _targets(), _preds()
    use = torch.tensor([True, True, False])
    for name, spec in SPECS.items():
        loss, has = released_task_loss(spec, preds[name], targets[name], use)
        package, package_has = per_sample_task_loss(spec, preds[name], targets[name], use)
        assert torch.equal(has, package_has), name
        if name == "edge":
            torch.testing.assert_close(loss, package * 0.05)
        elif name != "sal":
            torch.testing.assert_close(loss, package, rtol=0, atol=0)
    target, pred = targets["sal"], preds["sal"]
    loss, _ = released_task_loss(SPECS["sal"], pred, target, use)
    for i in range(2):  # w = [p, 1 - p], p = the sample's salient fraction of valid pixels
        valid = target[i] != IGNORE_INDEX
        labels = target[i][valid]
        p = (labels == 1).float().mean()
        ce = F.cross_entropy(pred[i].permute(1, 2, 0)[valid], labels, reduction="none")
        expected = (torch.where(labels == 1, 1 - p, p) * ce).sum() / valid.sum()
        torch.testing.assert_close(loss[i], expected)
    assert loss[2] == 0


def test_postprocessing_is_class_id_unit_vector_probability_or_the_output():
    preds = _preds()
    expected = {
        "semseg": preds["semseg"].argmax(1),
        "human_parts": preds["human_parts"].argmax(1),
        "sal": preds["sal"].argmax(1),
        "normals": F.normalize(preds["normals"], dim=1),
        "edge": torch.sigmoid(preds["edge"]),
        "depth": preds["depth"],
    }
    for name, spec in SPECS.items():
        assert torch.equal(spec.behaviour.postprocess(preds[name]), expected[name]), name


def test_encodings_match_the_old_formulas():
    preds = _preds()
    old = {
        "sal": lambda x: x.softmax(1) * 2 - 1,
        "edge": lambda x: x.sigmoid() * 2 - 1,
        "normals": lambda x: F.normalize(x, dim=1),
        "depth": lambda x: x / 10.0 * 2 - 1,
    }
    for name, encode in old.items():
        kind = SPECS[name].behaviour
        z = kind.encode(preds[name], 10.0)
        assert torch.equal(z, encode(preds[name])), name
        if name == "depth":
            torch.testing.assert_close(kind.decode(z, 10.0), preds[name])


def test_saliency_and_boundary_colours():
    sal = torch.tensor([[0, 1], [255, 1]])
    rgb = colourise(SPECS["sal"], sal, (0, 1))
    assert (rgb[0, 0] == palette(2)[0]).all() and (rgb[0, 1] == palette(2)[1]).all()
    assert (rgb[1, 0] == 0).all()
    logits = torch.tensor([[[-20.0, 0.0, 20.0]]])
    grey = colourise(SPECS["edge"], logits, (0, 1))
    assert grey.shape == (1, 3, 3) and list(grey[0, :, 0]) == [0, 127, 255]
    probabilities = torch.tensor([[[0.0, 1.0]]])
    assert list(colourise(SPECS["edge"], probabilities, (0, 1))[0, :, 1]) == [0, 255]


@pytest.mark.parametrize(
    ("name", "options", "metric"),
    [
        ("semseg", {}, SegmentationMetrics),
        ("sal", {}, SaliencyMetrics),
        ("depth", {}, DepthMetrics),
        ("normals", {}, NormalMetrics),
        ("edge", {}, BoundaryMetrics),
        ("edge", {"boundary_metric": "ods"}, BoundaryODSMetrics),
    ],
)
def test_each_kind_builds_its_metric(name, options, metric):
    assert type(build_metric(SPECS[name], **options)) is metric


def test_metric_options_reach_the_metric():
    parts = build_metric(SPECS["human_parts"])
    semseg = build_metric(SPECS["semseg"], skip_background_only=("semseg",))
    assert parts.skip_background_only and semseg.skip_background_only
    assert not build_metric(SPECS["semseg"]).skip_background_only
    assert build_metric(SPECS["sal"], saliency_literature_sigmoid=True).literature_sigmoid
    with pytest.raises(ConfigError, match="unknown boundary_metric 'canny'"):
        build_metric(SPECS["edge"], boundary_metric="canny")  # type: ignore[arg-type]
    build_metric(SPECS["depth"], boundary_metric="canny")  # type: ignore[arg-type]


def test_constants_of_saliency_and_boundaries():
    sal = torch.tensor([[[1, 1, 0], [1, 255, 255]]])
    kind = SPECS["sal"].behaviour
    assert kind.best_constant(SPECS["sal"], sal) == 1
    logits = kind.constant_prediction(SPECS["sal"], 1, sal)
    assert logits.shape == (1, 2, 2, 3) and torch.equal(logits[0, :, 0, 0], torch.tensor([0.0, 10]))
    edge = SPECS["edge"].behaviour
    assert edge.best_constant(SPECS["edge"], torch.ones(1, 1, 2, 3)) == 0.0
    assert torch.equal(edge.constant_prediction(SPECS["edge"], 0.0, sal), torch.zeros(1, 1, 2, 3))


def test_target_handling_of_augmentation():
    seg = SPECS["semseg"].behaviour
    ids = seg.prepare_array(np.array([[0, 255], [3, 20]], dtype=np.int64), "s")
    assert ids.dtype == np.uint8 and seg.to_tensor(ids).dtype == torch.uint8  # compact
    assert torch.equal(seg.widen(seg.to_tensor(ids)), torch.tensor([[0, 255], [3, 20]]))
    assert seg.to_tensor(np.array([[7]])).dtype == torch.uint8  # other dtypes checked, then uint8
    with pytest.raises(DataError, match="0..255"):
        seg.to_tensor(np.array([[-1]]))
    read_only = np.zeros((2, 2), np.uint8)
    read_only.flags.writeable = False
    assert seg.to_tensor(read_only).numpy().flags.writeable  # a copy, never the read-only array
    with pytest.raises(DataError, match="sample 'a': semseg ids must lie in 0..255"):
        seg.prepare_array(np.array([[256]]), "sample 'a': semseg")
    assert SPECS["sal"].behaviour.prepare_array(np.array([[1]]), "s").dtype == np.uint8
    depth = SPECS["depth"].behaviour
    single = depth.prepare_array(np.ones((2, 3, 1)), "s")
    assert single.shape == (2, 3) and single.dtype == np.float32
    assert depth.to_tensor(single).shape == (1, 2, 3)
    normals = SPECS["normals"].behaviour
    assert normals.prepare_array(np.ones((2, 3, 1)), "s").shape == (2, 3, 1)
    metres = np.full((2, 2), 3.0, np.float32)
    for inverse, expected in ((False, 2.0), (True, 4.5)):
        out = depth.correct_geometry(metres, scale=1.5, flipped=True, inverse_depth=inverse)
        assert np.allclose(out, expected)
    vectors = np.zeros((1, 2, 3), np.float32)
    vectors[0, 0] = (0.6, 0.0, 0.8)
    flipped = normals.correct_geometry(vectors, scale=1.5, flipped=True, inverse_depth=False)
    assert flipped[0, 0, 0] == np.float32(-0.6) and np.signbit(flipped[0, 1, 0]) == np.False_
    assert vectors[0, 0, 0] == 0.6  # the input is left alone
    assert normals.to_tensor(flipped).shape == (3, 1, 2)
    same = normals.correct_geometry(vectors, scale=1.5, flipped=False, inverse_depth=False)
    assert same is vectors
    edge = SPECS["edge"].behaviour
    edges = edge.prepare_array(np.array([[0, 1], [255, 1]], np.uint8), "s")
    assert edges.dtype == np.uint8 and edge.to_tensor(edges).dtype == torch.uint8  # compact
    assert torch.equal(edge.widen(edge.to_tensor(edges)), torch.tensor([[[0.0, 1], [255, 1]]]))
    floats = edge.prepare_array(np.array([[0.0, 1.0], [255.0, 0.0]]), "s")
    assert floats.dtype == np.float32 and torch.equal(
        edge.to_tensor(floats), torch.tensor([[[0, 1], [255, 0]]], dtype=torch.uint8)
    )
    for bad in (0.5, -1.0, 256.0, float("nan")):
        with pytest.raises(DataError, match="0, 1 or the ignore value 255"):
            edge.to_tensor(np.array([[0.0, bad]], np.float32))
    assert edge.widen(torch.ones(1, 1, 2)).dtype == torch.float32  # float targets as they are


def test_compact_normals_widen_to_the_float_path_bit_for_bit():
    """Codes and flags (``dmtl.tasks.kinds.normals``) decode to v * 2/255 - 1, +0.0 where invalid
    and 0 - x where mirrored: what the float path computes before and after a flip."""
    import numpy as np

    from dmtl.tasks.kinds.normals import INVALID, MIRRORED, VALID, NormalsKind

    rng = np.random.default_rng(3)
    codes = rng.integers(0, 256, size=(2, 3, 5, 7), dtype=np.uint8)
    flags = rng.choice([INVALID, VALID, MIRRORED], size=(2, 1, 5, 7)).astype(np.uint8)
    expected = codes.astype(np.float32)
    expected *= np.float32(2.0 / 255.0)
    expected -= np.float32(1.0)
    expected[np.broadcast_to(flags == INVALID, expected.shape)] = 0.0
    mirrored = flags[:, 0] == MIRRORED
    expected[:, 0][mirrored] = 0.0 - expected[:, 0][mirrored]
    batch = torch.from_numpy(np.concatenate([codes, flags], axis=1))
    kind = NormalsKind()
    got = kind.widen(batch)
    assert got.dtype == torch.float32 and got.shape == (2, 3, 5, 7)
    assert np.array_equal(got.numpy().view(np.uint32), expected.view(np.uint32))
    assert torch.equal(kind.widen(batch[0]), got[0])  # one sample (4, H, W) too
    floats = torch.randn(2, 3, 5, 7)
    assert kind.widen(floats) is floats  # float normals (other readers) pass through


def test_no_module_compares_kind_names() -> None:
    """A kind's behaviour lives on its class: no ``kind == "depth"`` anywhere in src."""
    import re

    from support import REPO

    names = "|".join(sorted(KINDS))
    pattern = re.compile(rf"""(\bkind\b|\.kind|kind\.name)\s*(==|!=)\s*["']({names})["']""")
    hits = [
        f"{path.relative_to(REPO)}:{number}"
        for path in sorted((REPO / "src" / "dmtl").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits == []
    assert pattern.search('if spec.kind == "depth":')  # the pattern finds what it looks for


def test_units_and_colour_range_come_from_the_kind() -> None:
    depth, normals = KINDS["depth"], KINDS["normals"]
    metrics = ["abs_err", "rel_err", "rmse", "delta1"]
    assert depth.metric_units(metrics) == {"abs_err": "m", "rmse": "m", "delta1": "%"}
    assert depth.metric_units(metrics, inverse_depth=True) == {"delta1": "%"}
    assert normals.metric_units(["mean", "within_11.25"]) == {"mean": "°", "within_11.25": "%"}
    assert KINDS["boundary"].metric_units(["f1", "ap"]) == {"f1": "%"}
    target = torch.tensor([[[[0.0, 2.0], [5.0, -1.0]]]])
    assert depth.value_range(target) == (2.0, 5.0)
    assert depth.value_range(torch.zeros(1, 1, 2, 2)) is None
    assert normals.value_range(target) is None
