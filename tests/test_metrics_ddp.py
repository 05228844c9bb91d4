"""DDP test of dmtl.metrics: two gloo processes, each with part of the data, match one process."""

from __future__ import annotations

import json
import math
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from dmtl.metrics import MultiTaskMetrics
from dmtl.tasks import resolve_tasks

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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, port: int, out_dir: str) -> None:
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD_SIZE
    )
    try:
        metrics = MultiTaskMetrics(resolve_tasks("synthetic", list(TASK_NAMES)))
        batches = make_batches()
        for index in RANK_BATCHES[rank]:
            metrics.update(*batches[index])
        result = metrics.compute()
        # States are restored to this rank's own counts after the synced compute.
        local_pixels = int(metrics["depth"].n_valid)
        Path(out_dir, f"rank{rank}.json").write_text(
            json.dumps({"result": result, "local_depth_pixels": local_pixels})
        )
    finally:
        dist.destroy_process_group()


def test_ddp_compute_equals_single_process(tmp_path):
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD_SIZE, join=True)

    single = MultiTaskMetrics(resolve_tasks("synthetic", list(TASK_NAMES)))
    batches = make_batches()
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
        own = sum(int((batches[i][1]["depth"] > 0).sum()) for i in RANK_BATCHES[rank])
        assert written["local_depth_pixels"] == own
