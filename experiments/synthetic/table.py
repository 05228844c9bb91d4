"""The method x label-setting x seed table on the synthetic scenes: run it, then report it.

    python experiments/synthetic/table.py run [--methods ...] [--settings ...] [--seeds ...]
        [--jobs N --threads T]
    python experiments/synthetic/table.py report

``run`` trains each missing cell through the CLI (`dmtl fit` with `default.yaml` + `method/<m>.yaml`
+ `setting/<s>.yaml`, seed s for both the model and the label draw) and stores the final validation
metrics as `results/<setting>/<method>_seed<s>.json` (with the wall time), so an interrupted grid
resumes where it stopped. ``--jobs N`` trains N cells at once, each with T CPU threads and its data
loaded in the training process (no loader workers: two cells then share 2 cores without
oversubscription; experiments/RESULTS.md, the DiffusionMTL table). ``report`` prints
mean ± std over seeds per metric, Δm of every multi-task run against the single-task references
of the same setting averaged over their seeds (mean ± std over the multi-task seeds), and Δm minus
the MTL baseline's Δm at the same seed (paired: the same label draw and initialisation).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results"
STL = {"stl_semseg": "semseg", "stl_depth": "depth", "stl_normals": "normals"}
MTL_METHODS = [
    "mtl", "prediction", "feature", "single_condition", "refine_only", "prediction_noskip"
]  # fmt: skip
METHODS = list(STL) + MTL_METHODS
SETTINGS = ["onelabel", "randomlabels"]
# task -> (primary metric, higher is better, shown metrics)
TASKS = {
    "semseg": ("miou", True, ["miou", "pixel_acc"]),
    "depth": ("abs_err", False, ["abs_err", "rel_err", "rmse"]),
    "normals": ("mean", False, ["mean", "median", "within_11.25"]),
}


def result_path(setting: str, method: str, seed: int) -> Path:
    return RESULTS / setting / f"{method}_seed{seed}.json"


def run_cell(
    setting: str, method: str, seed: int, runs: Path, extra: list[str], threads: int | None = None
) -> None:
    """Train one cell through the CLI and store its final validation metrics.

    ``threads``: CPU threads of the training process (OMP_NUM_THREADS), with the data loaded in
    that process (no loader workers); ``None`` keeps the config's loader and torch's default.
    """
    name, version = f"{setting}_{method}", f"seed{seed}"
    cmd = [
        sys.executable, "-m", "dmtl", "fit",
        "--config", str(HERE / "default.yaml"),
        "--config", str(HERE / "method" / f"{method}.yaml"),
        "--config", str(HERE / "setting" / f"{setting}.yaml"),
        f"--seed_everything={seed}", f"--data.label_seed={seed}",
        f"--trainer.logger.init_args.save_dir={runs}",
        f"--trainer.logger.init_args.name={name}",
        f"--trainer.logger.init_args.version={version}",
        "--trainer.enable_progress_bar=false",
        *(["--data.num_workers=0"] if threads else []),
        *extra,
    ]  # fmt: skip
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    print("+", " ".join(cmd), flush=True)
    commit = _commit()  # the code of this cell, read before it starts
    start = time.time()
    log = runs / f"{name}_{version}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as fh:
        done = subprocess.run(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f"cell {setting}/{method}/seed{seed} failed; see {log}")
    metrics = json.loads((runs / name / version / "val_metrics.json").read_text())
    out = result_path(setting, method, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "metrics": metrics,
        "wall_s": round(time.time() - start, 1),
        "threads": threads,
        "commit": commit,
        "command": cmd[2:],
    }
    initial = runs / name / version / "val_initial_metrics.json"
    if initial.exists():  # DiffusionMTL: the initial predictions, scored before denoising
        record["initial_metrics"] = json.loads(initial.read_text())
    out.write_text(json.dumps(record, indent=1) + "\n")


def _commit() -> str:
    """HEAD of the repository, with ``+dirty`` when the working tree has changes."""
    git = ["git", "-C", str(HERE)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True)  # fmt: skip
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def load_records(setting: str, method: str) -> dict[int, dict]:
    """seed -> the whole stored record of each cell of one method and setting."""
    return {
        int(path.stem.rsplit("_seed", 1)[1]): json.loads(path.read_text())
        for path in sorted((RESULTS / setting).glob(f"{method}_seed*.json"))
    }


def load(setting: str, method: str) -> dict[int, dict]:
    """seed -> final validation metrics of the stored cells of one method and setting."""
    return {seed: record["metrics"] for seed, record in load_records(setting, method).items()}


def delta_m(metrics: dict, reference: dict) -> float:
    """Mean over tasks of ±(M - M_ref) / M_ref x 100 on the primary metrics."""
    terms = []
    for task, (metric, higher, _) in TASKS.items():
        sign = 1.0 if higher else -1.0
        m, r = metrics[task][metric], reference[task][metric]
        terms.append(sign * (m - r) / r * 100.0)
    return sum(terms) / len(terms)


def fmt(values: list[float], digits: int) -> str:
    if not values:
        return "–"
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f} (1 seed)"
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def single_task_reference(setting: str) -> tuple[dict, list[int]]:
    """The Δm reference of a setting: each task's single-task metrics, averaged over seeds.

    Returns the reference ({task: {metric: mean}}, empty while a task has no cell) and the seeds
    that every task's single-task cell has.
    """
    per_task = {task: load(setting, method) for method, task in STL.items()}
    if not all(per_task.values()):
        return {}, []
    reference = {
        task: {
            metric: statistics.fmean(c[task][metric] for c in cells.values())
            for metric in next(iter(cells.values()))[task]
        }
        for task, cells in per_task.items()
    }
    seeds = sorted(set.intersection(*(set(cells) for cells in per_task.values())))
    return reference, seeds


def report() -> None:
    for setting in SETTINGS:
        reference, ref_seeds = single_task_reference(setting)
        print(f"\n### {setting}\n")
        if not any((RESULTS / setting).glob("*.json")):
            print("(no results yet)")
            continue
        cols = [f"{t} {m}" for t, (_, _, ms) in TASKS.items() for m in ms]
        print("| method | seeds | " + " | ".join(cols) + " | Δm (%) | Δm − MTL, paired |")
        print("|---" * (len(cols) + 4) + "|")
        stl = {task: load(setting, method) for method, task in STL.items()}
        rows = [("single-task", None)] + [(m, load(setting, m)) for m in MTL_METHODS]
        mtl_dm = (
            {s: delta_m(c, reference) for s, c in load(setting, "mtl").items()} if reference else {}
        )
        for method, cells in rows:
            if method == "single-task":
                if not all(stl.values()):
                    continue
                vals = [
                    fmt([c[t][m] for c in stl[t].values()], 4 if t == "depth" else 2)
                    for t, (_, _, ms) in TASKS.items()
                    for m in ms
                ]
                seeds = ",".join(map(str, ref_seeds))
                print(f"| single-task | {seeds} | " + " | ".join(vals) + " | – | – |")
                continue
            if not cells:
                continue
            vals = [
                fmt([c[t][m] for c in cells.values()], 4 if t == "depth" else 2)
                for t, (_, _, ms) in TASKS.items()
                for m in ms
            ]
            dm = fmt([delta_m(c, reference) for c in cells.values()], 2) if reference else "–"
            paired = [delta_m(c, reference) - mtl_dm[s] for s, c in cells.items() if s in mtl_dm]
            vs_mtl = fmt(paired, 2) if method != "mtl" else "–"
            print(f"| {method} | {','.join(map(str, sorted(cells)))} | " + " | ".join(vals)
                  + f" | {dm} | {vs_mtl} |")  # fmt: skip
        if reference:
            print(f"\nΔm: mean ± std over seeds of each run's Δm against the single-task "
                  f"references averaged over seeds {', '.join(map(str, ref_seeds))}. Δm − MTL: "
                  f"mean ± std over seeds of the run's Δm minus the MTL baseline's Δm at the same "
                  f"seed (same label draw and initialisation).")  # fmt: skip


def report_denoising() -> None:
    """What the denoising stage changes: final minus initial primary metrics, mean ± std."""
    print("\n### What the denoising stage changes (final − initial predictions)\n")
    heads = [f"{t} {m}" for t, (m, _, _) in TASKS.items()]
    print("| setting | method | seeds | " + " | ".join(heads) + " |")
    print("|---" * (len(heads) + 3) + "|")
    for setting in SETTINGS:
        for method in MTL_METHODS:
            records = {
                s: r for s, r in load_records(setting, method).items() if "initial_metrics" in r
            }
            if not records:
                continue
            vals = [
                fmt(
                    [r["metrics"][t][m] - r["initial_metrics"][t][m] for r in records.values()],
                    4 if t == "depth" else 2,
                )
                for t, (m, _, _) in TASKS.items()
            ]
            seeds = ",".join(map(str, sorted(records)))
            print(f"| {setting} | {method} | {seeds} | " + " | ".join(vals) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train the missing cells")
    run.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    run.add_argument("--settings", nargs="+", default=SETTINGS, choices=SETTINGS)
    run.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    run.add_argument("--runs", type=Path, default=Path("runs/table"), help="log directory")
    run.add_argument("--jobs", type=int, default=1, help="cells trained at once")
    run.add_argument("--threads", type=int, help="CPU threads per cell (data in-process)")
    run.add_argument("extra", nargs="*", help="more CLI arguments for every run (after --)")
    sub.add_parser("report", help="print the table of the stored cells")
    args = parser.parse_args()
    if args.command == "report":
        report()
        report_denoising()
        return
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    todo = [
        (setting, method, seed)
        for seed in args.seeds
        for setting in args.settings
        for method in args.methods
        if not result_path(setting, method, seed).exists()
    ]
    print(f"{len(todo)} cells to train, {args.jobs} at a time", flush=True)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [
            pool.submit(run_cell, *cell, args.runs, args.extra, args.threads) for cell in todo
        ]
        failed = [str(e) for f in futures if (e := f.exception()) is not None]
    if failed:
        sys.exit("\n".join(failed))


if __name__ == "__main__":
    main()
