"""``dmtl bench`` with a teacher method end to end: the student cell fits with its teacher cell's
last checkpoint (same setting and seed), and the grid finishes both."""

import json

import pytest
import torch

from dmtl.bench.spec import Cell
from dmtl.cli import main
from support import REPO
from support.cli import TINY_DATA

SYNTHETIC = REPO / "experiments" / "synthetic"


@pytest.mark.slow
def test_a_teacher_method_trains_from_its_teacher_cell(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO / "src"))
    args = [a for a in TINY_DATA if "num_train" not in a and "num_val" not in a]
    args += [f"--data.root={tmp_path / 'data'}", "--data.synthetic.num_train=8",
             "--data.synthetic.num_val=4", "--trainer.max_epochs=1",
             "--model.network.backbone=mobilenetv3_small_050"]  # fmt: skip
    mtl = str(SYNTHETIC / "method" / "mtl.yaml")
    spec = {
        "base": [str(SYNTHETIC / "default.yaml")],
        "args": args,
        "seeds": [0],
        "methods": {
            "mtl": [mtl],
            "mtl_teacher": {
                "configs": [mtl, str(SYNTHETIC / "method" / "teacher.yaml")],
                "teacher": "mtl",
            },  # fmt: skip
        },
        "settings": {"onelabel": [str(SYNTHETIC / "setting" / "onelabel.yaml")]},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(json.dumps(spec))
    out = tmp_path / "grid"
    main(["bench", "run", str(path), "--out", str(out), "--threads", "1", "--jobs", "2"])
    student = Cell("onelabel", "mtl_teacher", 0).folder(out)
    record = json.loads((student / "cell.json").read_text())
    teacher = Cell("onelabel", "mtl", 0).folder(out) / "checkpoints" / "last.ckpt"
    assert f"--model.teacher.checkpoint={teacher}" in record["commands"][0]
    header = (student / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "train/loss/teacher" in header
    saved = torch.load(student / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["hyper_parameters"]["teacher"]["checkpoint"] == str(teacher)
