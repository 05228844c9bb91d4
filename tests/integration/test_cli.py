"""End-to-end through the command line, as a user runs it, on tiny synthetic scenes."""

import json
import os
import subprocess
import sys

import pytest

from dmtl.cli import main
from support import REPO
from support.cli import TINY_DATA, _args


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cli-cache")


@pytest.fixture(scope="module")
def fitted(cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("fit")
    main(_args("fit", cache, out, "--trainer.max_epochs=2", "--seed_everything=0"))
    return out


def test_fit_writes_checkpoint_metrics_and_panel(fitted):
    run = fitted / "run" / "fit"
    ckpts = list((run / "checkpoints").glob("*.ckpt"))
    assert ckpts, "no checkpoint written"
    panels = sorted((run / "panels").glob("val_epoch*.png"))
    assert [p.name for p in panels] == ["val_epoch000.png", "val_epoch001.png"]
    val = json.loads((run / "val_metrics.json").read_text())
    assert set(val) == {"semseg", "depth", "normals"}
    assert {"miou", "pixel_acc"} <= set(val["semseg"])
    metrics_csv = (run / "metrics.csv").read_text().splitlines()[0]
    for key in (
        "train/loss",
        "train/loss/semseg",
        "val/semseg/miou",
        "val/depth/abs_err",
        "val/normals/mean",
        "val_initial/semseg/miou",  # DiffusionMTL (the default) also scores what it denoises
    ):
        assert key in metrics_csv
    initial = json.loads((run / "val_initial_metrics.json").read_text())
    assert set(initial) == set(val) and set(initial["depth"]) == set(val["depth"])
    assert initial != val  # the denoiser changed the predictions


def test_test_with_checkpoint_reproduces_the_final_validation(fitted, cache, capsys):
    ckpt = next((fitted / "run" / "fit" / "checkpoints").glob("*.ckpt"))
    main(_args("test", cache, fitted, f"--ckpt_path={ckpt}"))
    printed = capsys.readouterr().out
    assert "test metrics (per task)" in printed and "semseg" in printed
    val = json.loads((fitted / "run" / "fit" / "val_metrics.json").read_text())
    test = json.loads((fitted / "run" / "test" / "test_metrics.json").read_text())
    for task, metrics in val.items():
        for name, value in metrics.items():
            assert test[task][name] == pytest.approx(value, rel=1e-5, abs=1e-6), (task, name)


def test_command_line_evaluation_options_win_over_the_checkpoint(fitted, cache, tmp_path):
    """``--model.diffusion.inference_noise=false`` and ``--model.evaluation.*`` with --ckpt_path
    take effect (LightningCLI alone would rebuild the model from the saved values and ignore
    them), and the zero-noise chain scores differently from the saved noisy one."""
    ckpt = next((fitted / "run" / "fit" / "checkpoints").glob("*.ckpt"))
    noisy = main(_args("validate", cache, tmp_path / "a", f"--ckpt_path={ckpt}"))
    quiet = main(_args("validate", cache, tmp_path / "b", f"--ckpt_path={ckpt}",
                       "--model.diffusion.inference_noise=false"))  # fmt: skip
    seeds = main(_args("validate", cache, tmp_path / "c", f"--ckpt_path={ckpt}",
                       "--model.evaluation.inference_seeds=[0, 1]"))  # fmt: skip
    assert noisy.model.diffusion.inference_noise and not quiet.model.diffusion.inference_noise
    assert seeds.model.evaluation.inference_seeds == [0, 1]
    assert quiet.model.network == noisy.model.network  # the rest still from the checkpoint
    assert "val/semseg/miou_std" in seeds.trainer.logged_metrics  # two inference seeds
    assert "val/semseg/miou_std" not in noisy.trainer.logged_metrics
    loud, calm = noisy.trainer.logged_metrics, quiet.trainer.logged_metrics
    assert any(loud[k] != calm[k] for k in ("val/depth/abs_err", "val/normals/mean"))


def test_an_option_that_shapes_the_weights_must_match_the_checkpoint(fitted, cache, tmp_path,
                                                                      capsys):  # fmt: skip
    ckpt = next((fitted / "run" / "fit" / "checkpoints").glob("*.ckpt"))
    saved = main(_args("validate", cache, tmp_path / "a", f"--ckpt_path={ckpt}")).model
    same = f"--model.denoiser.width={saved.denoiser.width}"  # the saved value: accepted
    assert main(_args("validate", cache, tmp_path / "b", f"--ckpt_path={ckpt}", same))
    with pytest.raises(SystemExit) as exit_info:
        main(_args("validate", cache, tmp_path / "c", f"--ckpt_path={ckpt}",
                   f"--model.denoiser.width={saved.denoiser.width * 2}"))  # fmt: skip
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("dmtl: error: --model.denoiser.width=") and str(ckpt) in err


def test_predict_writes_maps_of_every_task(fitted, cache, tmp_path):
    import numpy as np
    from PIL import Image

    ckpt = next((fitted / "run" / "fit" / "checkpoints").glob("*.ckpt"))
    out = tmp_path / "pred"
    writer = ["--trainer.callbacks+=dmtl.callbacks.prediction_writer.PredictionWriter",
              f"--trainer.callbacks.output_dir={out}"]  # fmt: skip
    main(_args("predict", cache, fitted, f"--ckpt_path={ckpt}", *writer))
    semseg = sorted((out / "semseg" / "val").glob("*.npy"))
    assert len(semseg) == 8  # every validation sample
    labels = np.load(semseg[0])
    assert labels.shape == (32, 40) and labels.dtype == np.int64 and labels.max() < 13
    normals = np.load(out / "normals" / "val" / "0.npy")
    np.testing.assert_allclose(np.linalg.norm(normals, axis=0), 1.0, atol=1e-5)
    assert np.load(out / "depth" / "val" / "0.npy").shape == (1, 32, 40)
    assert Image.open(out / "depth" / "val" / "0.png").size == (40, 32)


def test_delta_m_is_logged_against_a_reference(cache, tmp_path):
    ref = tmp_path / "stl.yaml"
    ref.write_text("semseg: {miou: 10.0}\ndepth: {abs_err: 1.0}\nnormals: {mean: 40.0}\n")
    main(_args("validate", cache, tmp_path, f"--model.evaluation.reference={ref}"))
    text = (tmp_path / "run" / "validate" / "metrics.csv").read_text()
    assert "val/delta_m" in text.splitlines()[0]


def test_validate_loads_a_checkpoint_of_the_flat_layout(cache, tmp_path):
    """--ckpt_path with the earlier flat hyper-parameters: mapped onto the groups, then built."""
    ckpt = REPO / "tests" / "fixtures" / "layout1_feature_tiny.ckpt"
    cli = main(_args("validate", cache, tmp_path, f"--ckpt_path={ckpt}"))
    model = cli.model
    assert (model.network.backbone, model.network.neck, model.denoiser.width) == (
        "test_resnet", "lateral", 8,
    )  # fmt: skip
    assert "val/semseg/miou" in cli.trainer.logged_metrics


def test_checkpoint_of_an_unknown_layout_ends_with_one_line(cache, tmp_path, capsys):
    import torch

    ckpt = tmp_path / "odd.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"embed_dim": 16, "widths": 3}}, ckpt)
    with pytest.raises(SystemExit) as exit_info:
        main(_args("validate", cache, tmp_path, f"--ckpt_path={ckpt}"))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("dmtl: error:") and "widths" in err[-1]
    assert "dmtl convert-checkpoint" in err[-1]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--data.tasks=[semseg,sementic]"], "unknown task 'sementic'"),
        (["--data.label_setting=twolabels"], "unknown label setting 'twolabels'"),
        (["--data.dataset=nyuv2", "--data.root=/nonexistent/nyu"], "/nonexistent/nyu"),
    ],
)
def test_bad_input_ends_with_one_line_naming_it(cache, tmp_path, capsys, extra, needle):
    with pytest.raises(SystemExit) as exit_info:
        main(_args("fit", cache, tmp_path, *extra))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("dmtl: error:") and needle in err[-1]


def test_split_file_mismatch_fails_before_training_and_keeps_old_files(cache, tmp_path, capsys):
    import torch

    split = tmp_path / "onelabel.pth"
    torch.save({"labels_weights": torch.ones(99, 3)}, split)
    keep = tmp_path / "run" / "fit" / "checkpoints" / "old.ckpt"
    keep.parent.mkdir(parents=True)
    keep.write_bytes(b"earlier run")
    with pytest.raises(SystemExit):
        main(_args("fit", cache, tmp_path, f"--data.split_file={split}"))
    err = capsys.readouterr().err.strip().splitlines()
    assert "onelabel.pth" in err[-1] and "N=99" in err[-1] and "N=16" in err[-1]
    assert keep.read_bytes() == b"earlier run"


def test_console_entry_point_prints_one_line_without_traceback(cache, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "dmtl", *_args("fit", cache, tmp_path, "--data.tasks=[depht]")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("dmtl: error: unknown task 'depht'")


def test_wandb_logger_config_runs_offline(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    config = REPO / "experiments" / "logger" / "wandb.yaml"
    args = [
        "validate",
        f"--data.root={cache}",
        f"--trainer.default_root_dir={tmp_path}",
        f"--config={config}",
        f"--trainer.logger.init_args.save_dir={tmp_path}",
        *TINY_DATA,
    ]
    cli = main(args)
    from lightning.pytorch.loggers import WandbLogger

    assert isinstance(cli.trainer.logger, WandbLogger)
    cli.trainer.logger.experiment.finish()
    runs = list(tmp_path.glob("dmtl/*/wandb/offline-run-*"))  # in the run's folder
    assert len(runs) == 1 and list(runs[0].glob("*.wandb")), "no offline W&B run was written"
