"""The offline teacher (frozen, unsaved, checked) and the EMA mean teacher (hand-computed update,
saved and restored) inside the Lightning system."""

import lightning
import pytest
import torch

from dmtl.config import MeanTeacherConfig, NetworkConfig, TeacherConfig
from dmtl.errors import ConfigError
from dmtl.module import DiffusionMTLModule
from dmtl.terms.mean_teacher import ema_rate, sigmoid_ramp

NET = NetworkConfig(embed_dim=8, backbone="mobilenetv3_small_050", pretrained=False)


def _batch(seed=0, labelled=None):
    g = torch.Generator().manual_seed(seed)
    b, h, w = 3, 32, 40
    return {
        "image": torch.randn(b, 3, h, w, generator=g),
        "targets": {
            "semseg": torch.randint(0, 13, (b, h, w), generator=g),
            "depth": torch.rand(b, 1, h, w, generator=g) + 1,
            "normals": torch.nn.functional.normalize(torch.randn(b, 3, h, w, generator=g), dim=1),
        },
        "labelled": torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=torch.bool)
        if labelled is None
        else labelled,
    }


def _checkpoint(path, tasks=None, seed=0):
    """A dmtl checkpoint file of a fresh module, as Lightning writes one."""
    torch.manual_seed(seed)
    module = DiffusionMTLModule(network=NET, tasks=tasks)
    torch.save(
        {
            "state_dict": module.state_dict(),
            "hyper_parameters": dict(module.hparams),
            "pytorch-lightning_version": lightning.__version__,
        },
        path,
    )
    return path


def _student(**groups):
    torch.manual_seed(1)
    module = DiffusionMTLModule(network=NET, **groups)
    module.log = lambda *a, **k: None
    return module


def test_the_offline_teacher_is_frozen_unsaved_and_never_changes(tmp_path):
    path = _checkpoint(tmp_path / "teacher.ckpt")
    student = _student(teacher=TeacherConfig(checkpoint=str(path), feature_weight=1.0))
    assert not any("teacher" in key for key in student.state_dict())  # nothing before loading
    student.on_fit_start()
    term = student.terms["teacher"]
    teacher = term.teacher
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    assert not any("teacher" in key for key in student.state_dict())  # not saved with the student
    optimiser = torch.optim.SGD([p for p in student.parameters() if p.requires_grad], lr=0.1)
    logged = {}
    student.log = lambda name, value, **k: logged.__setitem__(name, value)
    loss = student.training_step(_batch(), 0)
    loss.backward()
    optimiser.step()
    assert float(logged["train/loss/teacher"]) > 0
    assert float(logged["train/loss/teacher/feature"]) > 0
    assert all(p.grad is None for p in teacher.parameters())
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())
    assert not teacher.training  # the student's train() does not reach it


def test_with_every_task_labelled_the_offline_term_is_zero(tmp_path):
    path = _checkpoint(tmp_path / "teacher.ckpt")
    student = _student(teacher=TeacherConfig(checkpoint=str(path)))
    student.on_fit_start()
    logged = {}
    student.log = lambda name, value, **k: logged.__setitem__(name, value)
    student.training_step(_batch(labelled=torch.ones(3, 3, dtype=torch.bool)), 0)
    assert logged["train/loss/teacher"].item() == 0.0


def test_a_missing_or_foreign_teacher_is_refused_in_one_line(tmp_path):
    student = _student(teacher=TeacherConfig(checkpoint=str(tmp_path / "none.ckpt")))
    with pytest.raises(ConfigError, match=r"^model.teacher.checkpoint=.*none.ckpt: ") as err:
        student.on_fit_start()
    assert "\n" not in str(err.value) and "does not exist" in str(err.value)
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    student = _student(teacher=TeacherConfig(checkpoint=str(tmp_path / "junk.ckpt")))
    with pytest.raises(ConfigError, match=r"^model.teacher.checkpoint=.*junk.ckpt: "):
        student.on_fit_start()
    other = _checkpoint(tmp_path / "two.ckpt", tasks=["semseg", "depth"])
    student = _student(teacher=TeacherConfig(checkpoint=str(other)))
    with pytest.raises(ConfigError, match=r"teacher's tasks .* differ from the student's"):
        student.on_fit_start()


@pytest.mark.parametrize(
    ("group", "match"),
    [
        (TeacherConfig, r"model.teacher.thresholds.depth must lie in \[0, 1\], got 1.5"),
        (MeanTeacherConfig, r"model.mean_teacher.thresholds.depth must lie in \[0, 1\], got 1.5"),
    ],
)
def test_bad_thresholds_are_refused_in_one_line(group, match):
    with pytest.raises(ConfigError, match=match):
        group(thresholds={"depth": 1.5})


def test_bad_mean_teacher_options_are_refused_in_one_line():
    with pytest.raises(ConfigError, match=r"model.mean_teacher.ema_max must lie in \[0, 1\)"):
        MeanTeacherConfig(ema_max=1.0)
    with pytest.raises(ConfigError, match=r"model.mean_teacher.confidence must be one of"):
        MeanTeacherConfig(confidence="bins")
    with pytest.raises(ConfigError, match=r"model.teacher.thresholds names unknown tasks"):
        _student(teacher=TeacherConfig(checkpoint="x.ckpt", thresholds={"sal": 0.7}))


def test_ema_update_against_a_hand_computation():
    student = _student(mean_teacher=MeanTeacherConfig(enabled=True, ema_max=0.6))
    term = student.terms["mean_teacher"]
    teacher_params = list(term.teacher.parameters())
    expected = [p.detach().clone() for p in teacher_params]
    for update in range(4):  # α = 0, 1/2, 0.6 (capped), 0.6
        with torch.no_grad():
            for p in student.net.parameters():
                p.add_(0.1 * (update + 1))
            for b in student.net.buffers():
                if b.is_floating_point():
                    b.add_(1.0)
        alpha = [0.0, 0.5, 0.6, 0.6][update]
        assert ema_rate(update, 0.6) == alpha
        expected = [alpha * e + (1 - alpha) * s.detach()
                    for e, s in zip(expected, student.net.parameters(), strict=True)]  # fmt: skip
        term.after_optimizer_step(student.net)
        for got, want in zip(teacher_params, expected, strict=True):
            assert torch.allclose(got, want, rtol=0, atol=1e-6)
        for mine, theirs in zip(term.teacher.buffers(), student.net.buffers(), strict=True):
            assert torch.equal(mine, theirs)  # the buffers are copied
    assert int(term.updates) == 4
    assert not any(p.requires_grad for p in term.teacher.parameters())


def test_the_ema_teacher_and_its_count_are_saved_and_restored():
    student = _student(mean_teacher=MeanTeacherConfig(enabled=True))
    with torch.no_grad():
        for p in student.net.parameters():
            p.add_(1.0)
    student.terms["mean_teacher"].after_optimizer_step(student.net)
    student.terms["mean_teacher"].after_optimizer_step(student.net)
    state = student.state_dict()
    assert int(state["terms.mean_teacher.updates"]) == 2
    restored = _student(mean_teacher=MeanTeacherConfig(enabled=True))
    restored.load_state_dict(state)
    mine = restored.terms["mean_teacher"].teacher.state_dict()
    for key, value in student.terms["mean_teacher"].teacher.state_dict().items():
        assert torch.equal(mine[key], value)
    assert int(restored.terms["mean_teacher"].updates) == 2


def test_the_mean_teacher_trains_the_student_on_a_strong_view_and_stays_unchanged():
    student = _student(mean_teacher=MeanTeacherConfig(enabled=True, ramp=0.0))
    term = student.terms["mean_teacher"]
    before = {k: v.clone() for k, v in term.teacher.state_dict().items()}
    logged = {}
    student.log = lambda name, value, **k: logged.__setitem__(name, value)
    student.train()
    assert not term.teacher.training
    loss = student.training_step(_batch(), 0)
    loss.backward()
    assert float(logged["train/loss/mean_teacher"]) > 0
    assert float(logged["train/loss/mean_teacher/ramp"]) == 1.0
    assert all(p.grad is None for p in term.teacher.parameters())
    assert all(torch.equal(before[k], v) for k, v in term.teacher.state_dict().items())


def test_sigmoid_ramp():
    assert sigmoid_ramp(0, 10) == pytest.approx(2.718281828459045**-5)
    assert sigmoid_ramp(5, 10) == pytest.approx(2.718281828459045**-1.25)
    assert sigmoid_ramp(10, 10) == 1.0 and sigmoid_ramp(50, 10) == 1.0 and sigmoid_ramp(0, 0) == 1.0


def test_a_checkpoint_older_than_the_teacher_groups_loads_with_them_off(tmp_path):
    path = _checkpoint(tmp_path / "old.ckpt")
    saved = torch.load(path, weights_only=True)
    del saved["hyper_parameters"]["teacher"], saved["hyper_parameters"]["mean_teacher"]
    torch.save(saved, path)
    module = DiffusionMTLModule.load_from_checkpoint(path)
    assert module.teacher == TeacherConfig() and module.mean_teacher == MeanTeacherConfig()
    assert len(module.terms) == 0


def test_the_flip_confidence_runs_a_mirrored_teacher_forward_and_masks(tmp_path):
    path = _checkpoint(tmp_path / "teacher.ckpt")
    config = TeacherConfig(checkpoint=str(path), confidence="flip", flip_sigma=1e-3)
    student = _student(teacher=config)
    student.on_fit_start()
    calls = []
    teacher = student.terms["teacher"].teacher
    teacher.register_forward_pre_hook(lambda m, a: calls.append(a[0].shape))
    logged = {}
    student.log = lambda name, value, **k: logged.__setitem__(name, value)
    student.training_step(_batch(), 0)
    assert len(calls) == 2  # the batch and its mirror image
    # σ = 1e-3: an untrained teacher disagrees with its mirror almost everywhere
    assert float(logged["train/loss/teacher/pseudo/kept/depth"]) < 0.5
