"""Rendering speed of the synthetic scene generator, in samples per second per core.

    python experiments/benchmarks/render_speed.py --height 128 --width 128 --n 200
    python experiments/benchmarks/render_speed.py --workers 2 --profile

Renders train samples 0..n-1 (after a short warm-up) and prints the throughput and the machine.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import time
from functools import partial

from dmtl.data.synthetic.dataset import render_sample, worker_pool

WARMUP_SAMPLES = 3
PROFILE_ROWS = 15
SEED = 0


def _render(index: int, height: int, width: int) -> None:
    render_sample(SEED, "train", index, height, width)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--n", type=int, default=200, help="samples to render")
    parser.add_argument("--workers", type=int, default=1, help="rendering processes")
    parser.add_argument("--profile", action="store_true", help="cProfile a single process")
    args = parser.parse_args()

    job = partial(_render, height=args.height, width=args.width)
    for index in range(WARMUP_SAMPLES):
        job(index)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(lambda: [job(i) for i in range(args.n)])
        pstats.Stats(profiler).sort_stats("tottime").print_stats(PROFILE_ROWS)
    start = time.perf_counter()
    if args.workers == 1:
        for index in range(args.n):
            job(index)
    else:
        with worker_pool(args.workers) as pool:
            pool.map(job, range(WARMUP_SAMPLES * args.workers))  # start-up is not rendering
            start = time.perf_counter()
            pool.map(job, range(args.n), chunksize=max(1, args.n // (4 * args.workers)))
    seconds = time.perf_counter() - start
    rate = args.n / seconds
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus")
    print(
        f"{args.n} samples of {args.height}x{args.width} with {args.workers} process(es) "
        f"in {seconds:.2f} s: {rate:.1f} samples/s, {rate / args.workers:.1f} samples/s per core "
        f"({1000 * seconds / args.n * args.workers:.1f} ms per sample)"
    )


if __name__ == "__main__":
    main()
