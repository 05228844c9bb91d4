"""``dmtl convert-checkpoint``: released names -> a Lightning checkpoint for ``dmtl test``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from dmtl.cli import main
from dmtl.data.datamodule import MultiTaskDataModule
from dmtl.errors import DataError, MissingDataError
from dmtl.module import DiffusionMTLModule
from dmtl.released.convert import convert_checkpoint, load_released
from support.golden import GOLDEN, released_schedule
from support.pascal import write_pascal_context

# module name -> released name (docs/released.md), written independently of dmtl.released.convert.
TO_RELEASED = [
    (r"net\.backbone\.model\.(.+)", r"backbone.\1"),
    (r"net\.neck\.proj\.(.+)", r"backbone_embed.\1"),
    (r"net\.decoders\.(\w+)\.blocks\.(.+)", r"preliminary_dec.\1.\2"),
    (r"net\.decoders\.(\w+)\.head\.(.+)", r"preliminary_head.\1.0.\2"),
    (r"net\.condition\.fuse\.(.+)", r"diffusion_model.pred_combinator.out_layer.\1"),
    (r"net\.mtd\.denoiser\.time_mlp\.(.+)", r"diffusion_model.denoiser.t_embedder.mlp.\1"),
    (r"net\.mtd\.denoiser\.inputs\.(.+)", r"diffusion_model.denoiser.pre_layer.\1"),
    (r"net\.mtd\.denoiser\.blocks\.(.+)", r"diffusion_model.denoiser.crossblocks.\1"),
    (r"net\.mtd\.denoiser\.heads\.(.+)", r"diffusion_model.denoiser.task_heads.\1"),
    (r"net\.mtd\.heads\.(\w+)\.(.+)",
     r"diffusion_model.denoiser.final_task_heads.\1.linear_pred.\2"),
]  # fmt: skip
TASK_NAMES = ["semseg", "human_parts", "sal", "normals", "edge"]
TINY = dict(dataset="pascal_context", network={"embed_dim": 16, "neck": "conv"},
            denoiser={"kind": "crossattn", "attn_blocks": 4, "attn_heads": 4},
            diffusion={"condition_input": "raw"},
            # the evaluation protocol the converter writes for PASCAL (that of base.yaml)
            evaluation={"boundary_metric": "ods", "boundary_max_dist": 0.0075,
                        "saliency_literature_sigmoid": True, "absent_class": "zero",
                        "boundary_thresholds": "seism"})  # fmt: skip


def picked(hp: dict, like: dict) -> dict:
    """The entries of ``hp`` that ``like`` names; of a group, the fields it names."""
    return {k: {f: hp[k][f] for f in v} if isinstance(v, dict) else hp[k] for k, v in like.items()}


def to_released(name: str) -> str:
    for pattern, target in TO_RELEASED:
        if re.fullmatch(pattern, name):
            return re.sub(pattern, target, name)
    raise AssertionError(f"no released name for {name}")


@pytest.fixture(scope="module")
def source() -> DiffusionMTLModule:
    torch.manual_seed(0)
    module = DiffusionMTLModule(**TINY).eval()
    for name, buf in module.named_buffers():  # non-trivial BN statistics
        if name.endswith("running_var"):
            buf.uniform_(0.5, 2.0)
        elif name.endswith("running_mean"):
            buf.normal_(0, 0.1)
    return module


def released_state(module: DiffusionMTLModule) -> dict[str, torch.Tensor]:
    state = {to_released(k): v.clone() for k, v in module.state_dict().items()}
    state.update({f"diffusion_model.{k}": v.float() for k, v in released_schedule().items()})
    return state


def write(state: dict, path: Path, ddp: bool = True, wrapped: bool = True) -> Path:
    if ddp:
        state = {f"module.{k}": v for k, v in state.items()}
    torch.save({"model": state, "epoch": 99} if wrapped else state, path)
    return path


def test_released_names_of_the_tiny_network_are_the_golden_key_set(source):
    if not GOLDEN.is_file():
        pytest.skip(f"the golden file {GOLDEN} is absent")
    golden = torch.load(GOLDEN, weights_only=True)["state_dict_shapes"]
    assert set(released_state(source)) == set(golden)


@pytest.mark.parametrize(("ddp", "wrapped"), [(True, True), (False, False)])
def test_conversion_round_trip_keeps_every_tensor_and_prediction(source, tmp_path, ddp, wrapped):
    src = write(released_state(source), tmp_path / "released.pth", ddp, wrapped)
    dst = tmp_path / "out" / "dmtl.ckpt"
    main(["convert-checkpoint", str(src), str(dst)])
    ckpt = torch.load(dst, weights_only=True)
    assert ckpt["pytorch-lightning_version"] == pl.__version__
    hp = ckpt["hyper_parameters"]
    assert picked(hp, TINY) == TINY
    assert hp["tasks"] == TASK_NAMES
    network = hp["network"]
    assert (hp["loss"]["recipe"], network["pretrained"], network["decoder_blocks"]) == (
        "released", False, 2,
    )  # fmt: skip
    expected = source.state_dict()
    assert set(ckpt["state_dict"]) == set(expected)
    for key, value in expected.items():
        assert torch.equal(ckpt["state_dict"][key], value), key
    loaded = DiffusionMTLModule.load_from_checkpoint(dst).eval()
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ours, theirs = loaded(image).predictions, source(image).predictions
    for task in ours:
        torch.testing.assert_close(ours[task], theirs[task])


def test_dmtl_test_runs_on_a_converted_checkpoint(source, tmp_path):
    root = write_pascal_context(tmp_path / "PASCAL_MT")
    dst = convert_checkpoint(write(released_state(source), tmp_path / "r.pth"), tmp_path / "c.ckpt")
    out = tmp_path / "runs"
    main(["test", "--data.dataset=pascal_context", f"--data.root={root}",
          "--data.crop_size=[32,32]", "--data.batch_size=2", "--data.num_workers=0",
          "--trainer.accelerator=cpu", "--trainer.enable_progress_bar=false",
          "--trainer.logger=lightning.pytorch.loggers.CSVLogger",
          f"--trainer.logger.save_dir={out}",
          "--trainer.logger.name=run", "--trainer.logger.version=test",
          f"--ckpt_path={dst}"])  # fmt: skip
    metrics = json.loads((out / "run" / "test" / "test_metrics.json").read_text())
    # the same numbers as the source network evaluated on the same data in-process
    data = MultiTaskDataModule(dataset="pascal_context", root=str(root), crop_size=(32, 32),
                               batch_size=2, num_workers=0)  # fmt: skip
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False,
                         default_root_dir=tmp_path / "ref")  # fmt: skip
    (reference,) = trainer.test(source, datamodule=data, verbose=False)
    compared = 0
    for task, values in metrics.items():
        for metric, value in values.items():
            key = f"test/{task}/{metric}"
            if key in reference:
                assert value == pytest.approx(reference[key], rel=1e-5, abs=1e-6), key
                compared += 1
    assert set(metrics) == set(TASK_NAMES) and compared >= len(TASK_NAMES)


def _convert_error(state, tmp_path) -> str:
    with pytest.raises(DataError) as err:
        convert_checkpoint(write(state, tmp_path / "bad.pth"), tmp_path / "bad.ckpt")
    assert not (tmp_path / "bad.ckpt").exists()
    return str(err.value)


def test_missing_unexpected_and_misshapen_tensors_are_listed(source, tmp_path):
    state = released_state(source)
    del state["diffusion_model.denoiser.crossblocks.1.attn.q.weight"]
    state["diffusion_model.denoiser.extra.weight"] = torch.zeros(3)
    state["preliminary_head.sal.0.bias"] = torch.zeros(5)
    message = _convert_error(state, tmp_path)
    assert "1 unexpected tensors: diffusion_model.denoiser.extra.weight" in message
    assert "1 missing tensors: net.mtd.denoiser.blocks.1.attn.q.weight" in message
    assert "preliminary_head.sal.0.bias (5,) vs (2,)" in message


def test_a_different_schedule_is_refused(source, tmp_path):
    state = released_state(source)
    state["diffusion_model.betas"] = torch.tensor([1e-4, 2e-2])
    assert "diffusion_model.betas" in _convert_error(state, tmp_path)


class Payload:  # a pickled object: weights_only loading must refuse it, never run it
    pass


def test_pickled_code_is_never_loaded_and_the_cli_says_so_in_one_line(tmp_path, capsys):
    src = tmp_path / "evil.pth"
    torch.save({"model": {"x": Payload()}}, src)
    with pytest.raises(DataError, match="weights_only"):
        load_released(src)
    with pytest.raises(MissingDataError, match="nothere.pth"):
        load_released(tmp_path / "nothere.pth")
    with pytest.raises(SystemExit) as code:
        main(["convert-checkpoint", str(src), str(tmp_path / "x.ckpt")])
    assert code.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dmtl: error: cannot read checkpoint") and "\n" not in err
