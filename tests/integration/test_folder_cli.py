"""One's own data through the command line: fit one epoch and test on a folder the test writes."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from dmtl.cli import main
from dmtl.module import DiffusionMTLModule
from support import REPO
from support.folder_data import NUM_CLASSES, write_folder

EXAMPLE = REPO / "experiments" / "folder" / "example.yaml"


def _args(subcommand, root, out, *extra):
    return [
        subcommand,
        f"--config={EXAMPLE}",
        f"--data.root={root}",
        "--data.tasks=[semseg, depth, normals, edge]",
        f"--data.num_classes={{semseg: {NUM_CLASSES}}}",
        "--data.batch_size=2",
        "--data.num_workers=0",
        "--model.network.backbone=resnet10t",
        "--model.network.embed_dim=16",
        "--trainer.accelerator=cpu",
        "--trainer.max_epochs=1",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--trainer.log_every_n_steps=1",
        f"--trainer.default_root_dir={out}",
        "--trainer.logger=lightning.pytorch.loggers.CSVLogger",
        f"--trainer.logger.save_dir={out}",
        "--trainer.logger.name=run",
        f"--trainer.logger.version={subcommand}",
        *extra,
    ]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root, out = tmp_path_factory.mktemp("own"), tmp_path_factory.mktemp("out")
    write_folder(root, missing={"semseg": {"t1"}, "depth": {"t2", "v0"}, "edge": {"t3"}})
    main(_args("fit", root, out, "--seed_everything=0"))
    return root, out


def test_fit_one_epoch_on_a_folder(fitted):
    _, out = fitted
    run = out / "run" / "fit"
    val = json.loads((run / "val_metrics.json").read_text())
    assert set(val) == {"semseg", "depth", "normals", "edge"}
    assert all(v == v for v in val["depth"].values())  # v0 has no depth map; the rest scored
    assert list((run / "checkpoints").glob("*.ckpt"))


def test_checkpoint_loads_alone_with_the_class_count(fitted):
    _, out = fitted
    ckpt = next((out / "run" / "fit" / "checkpoints").glob("*.ckpt"))
    model = DiffusionMTLModule.load_from_checkpoint(ckpt, map_location="cpu", weights_only=True)
    assert model.hparams.dataset == "folder"
    assert model.hparams.network["num_classes"] == model.network.num_classes == {"semseg": 3}
    assert [t.channels for t in model.task_specs] == [NUM_CLASSES, 1, 3, 1]
    out_maps = model.eval()(torch.zeros(1, 3, 32, 40)).predictions
    assert out_maps["semseg"].shape == (1, NUM_CLASSES, 32, 40)


def test_test_with_the_checkpoint_reproduces_the_final_validation(fitted):
    root, out = fitted
    ckpt = next((out / "run" / "fit" / "checkpoints").glob("*.ckpt"))
    main(_args("test", root, out, f"--ckpt_path={ckpt}"))
    val = json.loads((out / "run" / "fit" / "val_metrics.json").read_text())
    test = json.loads((out / "run" / "test" / "test_metrics.json").read_text())
    for task, metrics in val.items():
        for name, value in metrics.items():
            assert test[task][name] == pytest.approx(value, rel=1e-5, abs=1e-6), (task, name)


def test_a_folder_without_a_class_count_stops_before_training(tmp_path, capsys):
    write_folder(tmp_path / "own", num_train=2, num_val=1)
    args = [a for a in _args("fit", tmp_path / "own", tmp_path) if "num_classes" not in a]
    with pytest.raises(SystemExit) as exit_info:
        main(args)  # the example config gives no class count: no silent default
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("dmtl: error: dataset 'folder': task 'semseg' needs its class count")
    assert "--data.num_classes='{semseg: N}'" in err[-1]
    assert not (tmp_path / "run").exists()


def test_predict_needs_only_the_checkpoint_and_a_folder_of_images(fitted, tmp_path, monkeypatch):
    _, out = fitted
    ckpt = next((out / "run" / "fit" / "checkpoints").glob("*.ckpt"))
    images = tmp_path / "photos"
    images.mkdir()
    for name, (height, width) in {"a": (32, 40), "b": (30, 44)}.items():
        pixels = np.random.default_rng(len(name)).integers(0, 255, (height, width, 3), np.uint8)
        Image.fromarray(pixels).save(images / f"{name}.png")
    monkeypatch.chdir(tmp_path)  # no config, no data.root: the checkpoint says the rest
    output = tmp_path / "predicted"
    main(
        [
            "predict",
            f"--ckpt_path={ckpt}",
            f"--data.predict_dir={images}",
            f"--predictions.output_dir={output}",
        ]
    )
    semseg = np.load(output / "semseg" / "b.npy")
    assert semseg.shape == (30, 44) and semseg.max() < NUM_CLASSES
    assert {p.name for p in output.iterdir()} >= {"semseg", "depth", "normals", "edge", "legend"}
    assert np.load(output / "normals" / "a.npy").shape == (3, 32, 40)
