"""XTC* and the matched-capacity MTL baseline through the command line and their configs."""

import importlib.util

import pytest
import torch

from dmtl.cli import main
from dmtl.module import DiffusionMTLModule
from support import REPO
from support.cli import _args

SYNTHETIC = REPO / "experiments" / "synthetic"
XTC = SYNTHETIC / "method" / "xtc.yaml"


def _param_count_script():
    spec = importlib.util.spec_from_file_location(
        "param_count", REPO / "experiments" / "benchmarks" / "param_count.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parameters(*overlays: str) -> int:
    script = _param_count_script()
    configs = [SYNTHETIC / "default.yaml", *(SYNTHETIC / "method" / o for o in overlays)]
    with torch.device("meta"):
        module = DiffusionMTLModule(**script.model_args(configs))
    return script.count(module)[0]


def test_fit_with_the_xtc_overlay_logs_its_loss(tmp_path):
    main(_args("fit", tmp_path / "cache", tmp_path, "--config", str(XTC),
               "--trainer.max_epochs=1", "--seed_everything=0"))  # fmt: skip
    run = tmp_path / "run" / "fit"
    assert list((run / "checkpoints").glob("*.ckpt"))
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train/loss", "train/loss/xtc", "train/loss/xtc_consistency"} <= set(header)
    assert "val/semseg/miou" in header and "val_initial/semseg/miou" not in header
    ckpt = torch.load(next((run / "checkpoints").glob("*.ckpt")), weights_only=True)
    assert ckpt["hyper_parameters"]["xtc"]["enabled"] is True
    assert any(k.startswith("xtc_net.levels.0.gamma") for k in ckpt["state_dict"])


def test_matched_baseline_is_within_5_percent_of_the_default_network():
    default, matched, plain = (
        _parameters(),
        _parameters("mtl_matched.yaml"),
        _parameters("mtl.yaml"),
    )
    assert abs(matched - default) / default < 0.05
    assert abs(plain - default) / default > abs(matched - default) / default


@pytest.mark.parametrize("overlay", ["xtc.yaml", "mtl_matched.yaml"])
def test_the_overlays_build_the_mtl_baseline(overlay):
    script = _param_count_script()
    args = script.model_args([SYNTHETIC / "default.yaml", SYNTHETIC / "method" / overlay])
    assert args["diffusion"]["space"] == "none"
    assert (args.get("xtc") or {}).get("enabled", False) == (overlay == "xtc.yaml")
