"""The consistency and JTR overlays through ``dmtl fit`` on tiny synthetic data."""

import pytest
import torch

from dmtl.cli import main
from dmtl.module import DiffusionMTLModule
from support import REPO
from support.cli import _args

METHOD = REPO / "experiments" / "synthetic" / "method"
OVERLAYS = {  # overlay -> the term it adds, its logged parts
    "consistency.yaml": ("consistency", {"semseg", "depth", "normals"}),
    "jtr.yaml": ("jtr", {"dist1", "dist2", "rec"}),
    "feature_jtr.yaml": ("jtr", {"dist1", "dist2", "rec"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_fit_with_the_overlay_trains_and_logs_its_term(overlay, tmp_path):
    name, parts = OVERLAYS[overlay]
    main(_args("fit", tmp_path / "cache", tmp_path, "--config", str(METHOD / overlay),
               "--trainer.max_steps=2", "--trainer.limit_val_batches=1",
               "--seed_everything=0"))  # fmt: skip
    run = tmp_path / "run" / "fit"
    lines = (run / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert {f"train/loss/{name}", *(f"train/loss/{name}/{p}" for p in parts)} <= set(header)
    column = header.index(f"train/loss/{name}")
    values = [float(row.split(",")[column]) for row in lines[1:] if row.split(",")[column]]
    assert len(values) == 2 and all(v == v and v >= 0 for v in values)  # two steps, finite
    ckpt = next((run / "checkpoints").glob("*.ckpt"))
    module = DiffusionMTLModule.load_from_checkpoint(ckpt, map_location="cpu")
    assert list(module.terms) == [name] and getattr(module, name).enabled
    if name == "jtr":
        state = torch.load(ckpt, weights_only=True)["state_dict"]
        assert any(k.startswith("terms.jtr.ae.encoder.0") for k in state)
