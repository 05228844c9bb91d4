"""DDP test of dmtl.metrics: two gloo processes, each with part of the data, match one process.

Two suites: the synthetic tasks (segmentation, depth, normals, dilation boundary F) and the
PASCAL-Context metrics (saliency maxF with the literature sigmoid, human parts with a
person-less image, matched boundary ODS).
"""

from __future__ import annotations

import json
import math
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from dmtl.metrics.multitask import MultiTaskMetrics
from dmtl.tasks import TASKS, resolve_tasks

WORLD_SIZE = 2
SEED = 99
BATCH, HEIGHT, WIDTH = 2, 13, 11
NUM_CLASSES = 13
IGNORE = 255
# Rank 0 gets batches 0 and 1, rank 1 gets batch 2: uneven shares must not matter.
RANK_BATCHES = {0: (0, 1), 1: (2,)}
# Batch 2 has no edge labels, so rank 1 never updates the edge metric: its compute() must
# still take part in the sync and return rank 0's counts.
BATCH_WITHOUT_EDGE = 2
TASK_NAMES = ("semseg", "depth", "normals", "edge")


def make_batches() -> list[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]]:
    """Deterministic (preds, targets) batches of all four tasks, the same in every process."""
    gen = torch.Generator().manual_seed(SEED)
    shape = (BATCH, 1, HEIGHT, WIDTH)
    batches = []
    for i in range(3):
        semseg = torch.randint(0, NUM_CLASSES, (BATCH, HEIGHT, WIDTH), generator=gen)
        semseg[torch.rand(semseg.shape, generator=gen) < 0.1] = IGNORE
        depth = torch.rand(shape, generator=gen) * 5 + 0.5
        depth[torch.rand(shape, generator=gen) < 0.1] = 0.0
        normals = torch.randn(BATCH, 3, HEIGHT, WIDTH, generator=gen)
        normals = torch.nn.functional.normalize(normals, dim=1)
        normals = normals.masked_fill(torch.rand(shape, generator=gen) < 0.1, 0.0)
        edge = (torch.rand(shape, generator=gen) < 0.2).float()
        edge[torch.rand(shape, generator=gen) < 0.1] = IGNORE
        preds = {
            "semseg": torch.randn(BATCH, NUM_CLASSES, HEIGHT, WIDTH, generator=gen),
            "depth": depth * (0.8 + 0.4 * torch.rand(shape, generator=gen)),
            "normals": normals + 0.5 * torch.randn(normals.shape, generator=gen),
            "edge": torch.randn(shape, generator=gen) + 2 * edge.clamp(max=1),
        }
        targets = {"semseg": semseg, "depth": depth, "normals": normals, "edge": edge}
        if i == BATCH_WITHOUT_EDGE:
            del targets["edge"]
        batches.append((preds, targets))
    return batches


def make_pascal_batches() -> list[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]]:
    """Batches of the PASCAL-Context metrics (saliency, human parts, matched boundary ODS)."""
    gen = torch.Generator().manual_seed(SEED + 1)
    shape = (BATCH, HEIGHT, WIDTH)
    batches = []
    for i in range(3):
        sal = (torch.rand(shape, generator=gen) < 0.3).long()
        sal_logits = torch.randn(BATCH, 2, HEIGHT, WIDTH, generator=gen)
        sal_logits[:, 1] += 2 * sal - 1
        sal[torch.rand(shape, generator=gen) < 0.1] = IGNORE
        parts = torch.randint(0, 7, shape, generator=gen)
        parts[torch.rand(shape, generator=gen) < 0.1] = IGNORE
        if i == 1:
            parts[0] = 0  # an image without a person: skipped
        edge = (torch.rand(BATCH, 1, HEIGHT, WIDTH, generator=gen) < 0.15).float()
        near = torch.nn.functional.avg_pool2d(edge, 3, stride=1, padding=1)
        edge_logits = 6 * near - 1.5 + torch.randn(edge.shape, generator=gen)
        edge[torch.rand(edge.shape, generator=gen) < 0.1] = IGNORE
        preds = {
            "sal": sal_logits,
            "human_parts": torch.randn(BATCH, 7, HEIGHT, WIDTH, generator=gen),
            "edge": edge_logits,
        }
        targets = {"sal": sal, "human_parts": parts, "edge": edge}
        if i == BATCH_WITHOUT_EDGE:
            del targets["edge"]
        batches.append((preds, targets))
    return batches


def make_metrics(suite: str) -> MultiTaskMetrics:
    if suite == "synthetic":
        return MultiTaskMetrics(resolve_tasks("synthetic", list(TASK_NAMES)))
    return MultiTaskMetrics(
        [TASKS["sal"], TASKS["human_parts"], TASKS["edge"]],
        boundary_metric="ods",
        boundary_max_dist=0.1,
        saliency_literature_sigmoid=True,
    )


def suite_batches(suite: str) -> list[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]]:
    return make_batches() if suite == "synthetic" else make_pascal_batches()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, port: int, out_dir: str, suite: str) -> None:
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD_SIZE
    )
    try:
        metrics = make_metrics(suite)
        batches = suite_batches(suite)
        for index in RANK_BATCHES[rank]:
            metrics.update(*batches[index])
        result = metrics.compute()
        # States are restored to this rank's own counts after the synced compute.
        local_pixels = int(metrics["depth"].n_valid) if suite == "synthetic" else 0
        Path(out_dir, f"rank{rank}.json").write_text(
            json.dumps({"result": result, "local_depth_pixels": local_pixels})
        )
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("suite", ["synthetic", "pascal"])
def test_ddp_compute_equals_single_process(tmp_path, suite):
    mp.spawn(_worker, args=(_free_port(), str(tmp_path), suite), nprocs=WORLD_SIZE, join=True)

    single = make_metrics(suite)
    batches = suite_batches(suite)
    for preds, targets in batches:
        single.update(preds, targets)
    expected = single.compute()
    assert all(math.isfinite(v) for metrics in expected.values() for v in metrics.values())

    for rank in range(WORLD_SIZE):
        written = json.loads((tmp_path / f"rank{rank}.json").read_text())
        result = written["result"]
        assert set(result) == set(expected)
        for task, metrics in expected.items():
            assert set(result[task]) == set(metrics)
            for key, value in metrics.items():
                assert result[task][key] == pytest.approx(value, rel=1e-12), (rank, task, key)
        if suite == "synthetic":
            own = sum(int((batches[i][1]["depth"] > 0).sum()) for i in RANK_BATCHES[rank])
            assert written["local_depth_pixels"] == own
