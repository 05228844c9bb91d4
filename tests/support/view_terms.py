"""A tiny per-sample predictor and batches for the view terms' tests (no Lightning module)."""

import torch
import torch.nn.functional as F
from torch import nn

from dmtl.models.output import MultiTaskOutput
from dmtl.tasks import resolve_tasks
from dmtl.terms import TermInputs

SPECS = resolve_tasks("synthetic")  # semseg (13), depth, normals


class Toy(nn.Module):
    """One 3x3 conv per task (no normalisation: each sample's prediction is its own)."""

    def __init__(self, specs=SPECS):
        super().__init__()
        self.heads = nn.ModuleDict({s.name: nn.Conv2d(3, s.channels, 3, padding=1) for s in specs})

    def forward(self, image, labelled=None):
        preds = {n: h(image) for n, h in self.heads.items()}
        if "depth" in preds:
            preds["depth"] = F.softplus(preds["depth"])
        return MultiTaskOutput(predictions=preds, rows=dict.fromkeys(preds))


def batch(labelled, h=32, w=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    b = labelled.shape[0]
    semseg = torch.randint(0, 13, (b, h, w), generator=g)
    semseg[:, :3] = 255
    depth = torch.rand(b, 1, h, w, generator=g) + 0.5
    depth[..., ::5] = 0
    normals = F.normalize(torch.randn(b, 3, h, w, generator=g), dim=1)
    return {
        "image": torch.randn(b, 3, h, w, generator=g),
        "targets": {"semseg": semseg, "depth": depth, "normals": normals},
        "labelled": labelled,
    }


def inputs(net, data, seed=0, step=0, total=10):
    out = net(data["image"], data["labelled"])
    return TermInputs(
        batch=data, out=out, predict=lambda image, labelled=None: net(image, labelled),
        generator=torch.Generator().manual_seed(seed), step=step, total_steps=total,
    )  # fmt: skip


ONE_LABEL = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=torch.bool)


PASCAL_SPECS = resolve_tasks("pascal_context")  # semseg, human_parts, sal, normals, edge


def pascal_batch(labelled, h=32, w=40, seed=0):
    """Targets of the five PASCAL-Context tasks (ignore 255 where the kinds have it)."""
    g = torch.Generator().manual_seed(seed)
    b = labelled.shape[0]

    def ids(n):
        t = torch.randint(0, n, (b, h, w), generator=g)
        t[:, :2] = 255
        return t

    edge = (torch.rand(b, 1, h, w, generator=g) > 0.9).float()
    edge[..., :2, :] = 255
    normals = F.normalize(torch.randn(b, 3, h, w, generator=g), dim=1)
    targets = {"semseg": ids(21), "human_parts": ids(7), "sal": ids(2), "normals": normals,
               "edge": edge}  # fmt: skip
    return {"image": torch.randn(b, 3, h, w, generator=g), "targets": targets,
            "labelled": labelled}  # fmt: skip
