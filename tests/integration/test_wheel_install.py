"""The README's commands from an installed wheel, run in an empty folder as a new user would.

A wheel is built from the checkout, installed with ``--no-deps --target`` (the test's
environment supplies the dependencies), and its ``dmtl`` script runs ``fit`` with the packaged
synthetic config, ``test`` of that checkpoint, then ``fit`` on a folder dataset and ``predict``
from that checkpoint with nothing but the checkpoint and a folder of images.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support import REPO
from support.cli import TINY_DATA
from support.folder_data import NUM_CLASSES, write_folder

pytestmark = pytest.mark.slow

LEFT_OUT = shutil.ignore_patterns(".git", "tests", "build", "*.egg-info", "__pycache__", "runs")
FEW_STEPS = [
    "--trainer.max_epochs=1",
    "--trainer.limit_train_batches=2",
    "--trainer.limit_val_batches=1",
    "--trainer.num_sanity_val_steps=0",
]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The folder a wheel of the checkout was installed into (``--target``)."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=LEFT_OUT)
    pip = [sys.executable, "-m", "pip"]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
    subprocess.run([*build, ".", "-w", str(base / "wheels")], cwd=source, env=env, check=True)
    (wheel,) = (base / "wheels").glob("dmtl-*.whl")
    target = base / "site"
    install = [*pip, "install", "--no-deps", "--no-index", "-q", "--target", str(target)]
    subprocess.run([*install, str(wheel)], env=env, check=True)
    return target


def dmtl(installed: Path, folder: Path, *args: str) -> str:
    """Run the installed ``dmtl`` script in ``folder``; its stdout (it must exit 0)."""
    env = {**os.environ, "PYTHONPATH": str(installed)}
    proc = subprocess.run(
        [str(installed / "bin" / "dmtl"), *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def paths(printed: str, folder: Path) -> dict[str, Path]:
    """``what -> path`` of the closing ``dmtl: <what>: <path>`` lines (the first of each)."""
    found: dict[str, Path] = {}
    for line in printed.splitlines():
        what, sep, path = line.removeprefix("dmtl: ").partition(": ")
        if line.startswith("dmtl: ") and sep and "/" in path:
            found.setdefault(what, folder / path)
    return found


def test_the_installed_package_is_the_wheel_not_the_checkout(installed, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(installed)}
    probe = [sys.executable, "-c", "import dmtl; print(dmtl.__file__)"]
    found = subprocess.run(probe, cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert Path(found.stdout.strip()).resolve().is_relative_to(installed.resolve())


def test_fit_and_test_with_a_packaged_config_from_an_empty_folder(installed, tmp_path):
    data = [f"--data.root={tmp_path / 'cache'}", *TINY_DATA]
    fitted = paths(
        dmtl(
            installed,
            tmp_path,
            "fit",
            "--config",
            "dmtl://synthetic/default.yaml",
            *data,
            *FEW_STEPS,
        ),
        tmp_path,
    )
    run = fitted["run folder"]
    assert run.parent.parent == tmp_path / "runs"  # relative to the folder it ran in
    assert fitted["checkpoint"].is_file() and fitted["training curves"].is_file()
    assert "semseg" in json.loads(fitted["metrics"].read_text())
    tested = paths(
        dmtl(
            installed,
            tmp_path,
            "test",
            "--config",
            "dmtl://synthetic/default.yaml",
            *data,
            f"--ckpt_path={fitted['checkpoint']}",
            "--trainer.limit_test_batches=1",
        ),
        tmp_path,
    )
    assert tested["metrics"] == run / "test_metrics.json" and tested["metrics"].is_file()


def test_predict_from_a_folder_checkpoint_alone(installed, tmp_path):
    own = tmp_path / "own"
    write_folder(own, num_train=4, num_val=2)
    fitted = paths(
        dmtl(
            installed,
            tmp_path,
            "fit",
            "--config",
            "dmtl://folder/example.yaml",
            f"--data.root={own}",
            "--data.tasks=[semseg,depth]",
            f"--data.num_classes={{semseg: {NUM_CLASSES}}}",
            "--data.batch_size=2",
            "--data.num_workers=0",
            "--model.network.backbone=resnet10t",
            "--model.network.embed_dim=16",
            "--trainer.accelerator=cpu",
            "--trainer.enable_progress_bar=false",
            *FEW_STEPS,
        ),
        tmp_path,
    )
    photos = tmp_path / "photos"
    photos.mkdir()
    pixels = np.random.default_rng(0).integers(0, 255, (36, 52, 3), np.uint8)
    Image.fromarray(pixels).save(photos / "mine.jpg")
    predicted = paths(
        dmtl(
            installed,
            tmp_path,
            "predict",
            f"--ckpt_path={fitted['checkpoint']}",
            f"--data.predict_dir={photos}",
        ),
        tmp_path,
    )
    out = predicted["predictions"]
    semseg = np.load(out / "semseg" / "mine.npy")
    assert semseg.shape == (36, 52) and semseg.max() < NUM_CLASSES
    assert (out / "legend" / "depth.png").is_file() and (out / "legend" / "semseg.png").is_file()
