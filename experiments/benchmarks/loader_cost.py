"""Cost per sample of reading and augmenting MTPSL-format data: synthetic scenes and NYUv2 sizes.

Writes a temporary dataset in the MTPSL NYUv2 ``.npy`` layout (random images, blocky labels, depth
and unit normals) at the synthetic default size (64×80) and at NYUv2's (288×384), then times, per
sample, on one thread: reading alone (the evaluation transform: normalisation and tensors) and
reading plus the MTPSL training augmentation (scale-crop, normal-aware flip, colour jitter). The
difference is the augmentation's cost. Times are CPU time of this process (``time.process_time``),
so other jobs on the machine change them little. With W loader workers a GPU step of B images is
fed without waiting while B × (ms per sample) / W stays below the step time.

    python experiments/benchmarks/loader_cost.py --n 200
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dmtl.data.augment import build_eval_transform, build_train_transform
from dmtl.data.readers.nyuv2 import NYUv2Dataset, write_nyuv2_sample

TASKS = ["semseg", "depth", "normals"]
SIZES = {"synthetic": (64, 80), "nyuv2": (288, 384)}
MTPSL_SCALES = (1.0, 1.2, 1.5)  # the datamodule's default (the synthetic default job uses 1.0)


def write_dataset(root: Path, num: int, height: int, width: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(num):
        labels = np.kron(rng.integers(0, 13, (height // 16, width // 16)), np.ones((16, 16)))
        normals = rng.normal(size=(height, width, 3))
        write_nyuv2_sample(
            root,
            "train",
            i,
            {
                "image": rng.random((height, width, 3)),
                "semseg": labels,
                "depth": rng.random((height, width)) * 8 + 0.5,
                "normals": normals / np.linalg.norm(normals, axis=-1, keepdims=True),
            },
        )


def per_sample_ms(data: NYUv2Dataset, repeats: int) -> float:
    """Median over ``repeats`` passes of the CPU milliseconds per sample of one pass."""
    passes = []
    for _ in range(repeats):
        start = time.process_time()
        for i in range(len(data)):
            data[i]
        passes.append(1000 * (time.process_time() - start) / len(data))
    return statistics.median(passes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="samples per dataset")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (h, w) in SIZES.items():
            root = Path(tmp) / name
            write_dataset(root, args.n, h, w)
            data = NYUv2Dataset(root, "train", TASKS, transform=build_eval_transform())
            read = per_sample_ms(data, args.repeats)
            data.transform = build_train_transform(h, w, MTPSL_SCALES, seed=0)
            train = per_sample_ms(data, args.repeats)
            rows.append(
                {
                    "data": name,
                    "size": [h, w],
                    "read_ms": round(read, 3),
                    "read_augment_ms": round(train, 3),
                    "augment_ms": round(train - read, 3),
                    "samples_per_s": round(1000 / train, 1),
                }
            )
    head = ("data", "size", "read ms", "+augment ms", "aug ms", "samples/s")
    print("\n{:<10} {:>8} {:>8} {:>11} {:>7} {:>9}".format(*head))
    for r in rows:
        size = "x".join(map(str, r["size"]))
        print(
            f"{r['data']:<10} {size:>8} {r['read_ms']:8.3f} {r['read_augment_ms']:11.3f} "
            f"{r['augment_ms']:7.3f} {r['samples_per_s']:9.1f}"
        )
    print("(CPU time of one thread per sample, median of passes)")
    if args.json:
        args.json.write_text(json.dumps({"torch": torch.__version__, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
