"""Throughput of the PASCAL-Context reader and pipelines on one loader core: decoded, pre-decoded.

Renders synthetic PASCAL-like scenes (``dmtl.data.synthetic.variants``: rooms with people) into
the real ATRC layout (JPEG, PNG and MATLAB files) at PASCAL's typical size, 375×500, or reads an
existing tree (``--root``, e.g. a prepared PASCAL-Context). It times, for all five tasks, reading
alone, reading plus the ATRC training transform (scale 0.5–2.0, 512×512 crop, flip, photometric
distortion, normalisation), the same as a DataLoader worker calls it (``dataset[i]``, which hands
the transform the reader's compact uint8 arrays), where the fused augmentation exists also its
step-by-step path (``fused=False``, the same output), and reading plus the evaluation padding:
first from the files (decoded), then, after writing the pre-decoded form
(``dmtl.data.prepare.predecode``), from its memory maps. Rates are samples per second of process
CPU time on one thread (``torch.set_num_threads(1)``, ``cv2.setNumThreads(1)``), so that other
processes sharing the machine change them little; each is the best of ``--repeats`` passes over
``--n`` samples. The pre-decoded ``dataset[i]`` is also timed inside one DataLoader worker
(batches of 8, collation not counted), with its page faults per sample: fresh memory pages cost
system time, and how many a process faults in depends on the state of its allocator (glibc
returns freed memory to the system below thresholds it adapts as it goes).

    python experiments/benchmarks/pascal_loader_speed.py --n 40 --repeats 3
    python experiments/benchmarks/pascal_loader_speed.py --root data/PASCALContext --n 200

The tree under ``--root`` is not changed: it is pre-decoded in a copy only if it has no current
pre-decoded form (its decoded rows are then skipped when it has one).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import torch

from dmtl.data.augment import build_pascal_eval_transform, build_pascal_train_transform
from dmtl.data.readers.pascal_context import PascalContextDataset
from dmtl.data.synthetic.dataset import SyntheticConfig
from dmtl.data.synthetic.variants import ensure_variant_rendered

TASKS = ["semseg", "human_parts", "sal", "normals", "edge"]


def rate(fn, num: int, repeats: int) -> float:
    """Best samples per second of process CPU time over ``repeats`` passes of ``num`` samples."""
    best = 0.0
    for _ in range(repeats):
        start = time.process_time()
        for index in range(num):
            fn(index)
        best = max(best, num / (time.process_time() - start))
    return best


def loader_rate(dataset, transform, num: int, repeats: int) -> float:
    """Rate of ``dataset[i]`` with ``transform`` set: what a DataLoader worker runs per sample."""
    dataset.transform = transform
    try:
        dataset[0]
        return rate(dataset.__getitem__, num, repeats)
    finally:
        dataset.transform = None


def measure(dataset, num: int, repeats: int) -> dict[str, float]:
    """Read, read + train transform (also as the loader calls it), read + eval transform rates."""
    num = min(num, len(dataset))
    train = build_pascal_train_transform(seed=0)
    evaluate = build_pascal_eval_transform()
    train(dataset.load_sample(0))  # warm caches and imports
    rates = {
        "read only": rate(dataset.load_sample, num, repeats),
        "read + train tf": rate(lambda i: train(dataset.load_sample(i)), num, repeats),
        "loader train (dataset[i])": loader_rate(dataset, train, num, repeats),
    }
    try:  # a dmtl with the fused training augmentation: its step-by-step path too
        plain = build_pascal_train_transform(seed=0, fused=False)
    except TypeError:
        plain = None
    if plain is not None:
        rates["loader train, step by step"] = loader_rate(dataset, plain, num, repeats)
    rates["read + eval tf"] = rate(lambda i: evaluate(dataset.load_sample(i)), num, repeats)
    return rates


class _TimedSamples(torch.utils.data.Dataset):
    """``dataset[i]`` with the CPU time and page faults of the call added (inside the worker)."""

    def __init__(self, dataset, num: int, passes: int) -> None:
        self.dataset, self.num, self.passes = dataset, num, passes

    def __len__(self) -> int:
        return self.num * self.passes

    def __getitem__(self, index: int) -> dict:
        torch.set_num_threads(1)
        cv2.setNumThreads(1)
        faults, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.process_time()
        sample = self.dataset[index % self.num]
        sample["cpu_s"] = time.process_time() - start
        sample["faults"] = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        return sample


def worker_rate(dataset, num: int, repeats: int) -> tuple[float, float]:
    """Samples per CPU-second of ``dataset[i]`` in one DataLoader worker (batches of 8), and page
    faults per sample; over the second half of ``repeats`` passes (collation not counted)."""
    dataset.transform = build_pascal_train_transform(seed=0)
    timed = _TimedSamples(dataset, min(num, len(dataset)), max(repeats, 2))
    loader = torch.utils.data.DataLoader(timed, batch_size=8, num_workers=1)
    cpu, faults = [], []
    for batch in loader:
        cpu += batch["cpu_s"].tolist()
        faults += batch["faults"].tolist()
    dataset.transform = None
    half = len(cpu) // 2
    return half / sum(cpu[half:]), sum(faults[half:]) / half


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="samples per pass")
    parser.add_argument("--repeats", type=int, default=3, help="passes; the best is reported")
    parser.add_argument("--height", type=int, default=375)
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--root", help="an existing PASCAL-Context tree instead of synthetic data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        if args.root is None:
            config = SyntheticConfig(args.height, args.width, num_train=args.n, num_val=1)
            root = ensure_variant_rendered(tmp, "synthetic_pascal", config, workers=1)
            what = f"synthetic PASCAL-like {args.height}x{args.width}"
        else:
            root, what = Path(args.root), f"{args.root}"
        rows = {}
        decoded = PascalContextDataset(root, "train", TASKS)
        if getattr(decoded, "predecoded", None) is None:
            rows["decoded"] = measure(decoded, args.n, args.repeats)
        try:
            from dmtl.data.prepare.predecode import predecode_tree
        except ImportError:  # a dmtl without the pre-decoded form
            predecode_tree = None
        if predecode_tree is not None and getattr(decoded, "predecoded", None) is None:
            if args.root is not None:  # pre-decode a copy: the tree itself is left alone
                root = Path(shutil.copytree(root, Path(tmp) / "copy", symlinks=True))
            predecode_tree(root, splits=("train",))
        if predecode_tree is not None:
            fast = PascalContextDataset(root, "train", TASKS)
            rows["pre-decoded"] = measure(fast, args.n, args.repeats)
            worker, faults = worker_rate(fast, args.n, args.repeats)
            rows["pre-decoded"]["loader worker (DataLoader)"] = worker
            rows["pre-decoded"]["  page faults per sample"] = faults
    print(f"{what}, 5 tasks, {args.n} samples x {args.repeats}, one thread, per CPU second:")
    for name, rates in rows.items():
        print(f"  {name}:")
        for key, value in rates.items():
            unit = "" if "faults" in key else " samples/s"
            print(f"    {key:28s} {value:6.1f}{unit}")


if __name__ == "__main__":
    main()
