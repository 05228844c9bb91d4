"""The method x label-setting x seed table on the synthetic scenes: run it, then report it.

    python experiments/synthetic/table.py run [--protocol full|study|confirm]
        [--scene indoor|cityscapes|pascal]
        [--methods ...] [--settings ...] [--seeds ...] [--jobs N --threads T]
    python experiments/synthetic/table.py report [--protocol ...] [--scene ...]
    python experiments/synthetic/table.py noise [--seeds ...]       # the study's noise x S grid

``run`` trains each missing cell through the CLI (`dmtl fit` with the scene's base config +
`method/<m>.yaml` + `setting/<s>.yaml`, and for ``--protocol study`` `protocol/study.yaml` (3
epochs, validation once at the end over 3 inference seeds), seed s for both the model and the
label draw) and stores the final validation metrics, the chain's last logged noise statistics,
the wall time, commit and command as `results/[<protocol>/<scene>/]<setting>/<method>_seed<s>.json`,
so an interrupted grid resumes where it stopped. ``--jobs N`` trains N cells at once, each with T
CPU threads and its data loaded in the training process (no loader workers: two cells then share
2 cores without oversubscription). A method is an overlay of `method/`, or a cell of the noise
study, `<feature|refine_only>_S<steps>[_x<feature_scale>]` (the overlay with
``model.diffusion.steps`` and ``model.diffusion.feature_scale`` set). ``report`` prints mean ± std
over seeds per metric, Δm of every multi-task run against the single-task references of the same
setting averaged over their seeds (mean ± std over the multi-task seeds), Δm minus the MTL
baseline's Δm at the same seed and minus the method's own w/o-diffusion ablation's (paired: the
same label draw and initialisation).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from dmtl.bench import results

HERE = Path(__file__).parent
RESULTS = HERE / "results"
SETTINGS = ["onelabel", "randomlabels"]
# task -> (primary metric, higher is better, shown metrics)
TASKS = {
    "semseg": ("miou", True, ["miou", "pixel_acc"]),
    "depth": ("abs_err", False, ["abs_err", "rel_err", "rmse"]),
    "normals": ("mean", False, ["mean", "median", "within_11.25"]),
}


class Scene(NamedTuple):
    """A synthetic scene family: its base config, tasks and single-task reference overlays."""

    config: str  # relative to experiments/
    tasks: dict  # task -> (primary metric, higher is better, shown metrics)
    stl: dict  # single-task overlay -> its task


SCENES = {
    "indoor": Scene(
        "synthetic/default.yaml",
        TASKS,
        {"stl_semseg": "semseg", "stl_depth": "depth", "stl_normals": "normals"},
    ),
    "cityscapes": Scene(
        "synthetic_cityscapes/default.yaml",
        {
            "semseg": ("miou", True, ["miou", "pixel_acc"]),
            "depth": ("abs_err", False, ["abs_err", "rel_err"]),
        },
        {"stl_semseg": "semseg", "stl_depth": "depth"},
    ),
    "pascal": Scene(
        "synthetic_pascal/default.yaml",
        {
            "semseg": ("miou", True, ["miou"]),
            "human_parts": ("miou", True, ["miou"]),
            "sal": ("maxf", True, ["maxf"]),
            "normals": ("mean", False, ["mean"]),
            "edge": ("f1", True, ["f1"]),  # the dilation approximation of odsF (the config's)
        },
        {
            "stl_semseg": "semseg",
            "stl_human_parts": "human_parts",
            "stl_sal": "sal",
            "stl_normals": "normals",
            "stl_edge": "edge",
        },
    ),
}
ALL_STL = {method for scene in SCENES.values() for method in scene.stl}
STL = SCENES["indoor"].stl
# The rows of the table, in order; the old rows (single_condition, prediction_noskip) are kept for
# the full-protocol cells of 2026-11-30.
MTL_METHODS = [
    "mtl", "mtl_matched", "xtc",
    "prediction", "prediction_refine_only", "prediction_no_condition",
    "prediction_single_condition", "feature", "refine_only", "feature_no_condition",
    "single_condition", "prediction_noskip",
]  # fmt: skip
METHODS = list(STL) + MTL_METHODS
# The study's methods (issue 15): the paper's rows on both bases (its "w/o multi-task
# conditioning" is `*_no_condition`: the conditioning removed; the `single` variants, each task
# conditioned on its own prediction, are not in the study).
STUDY_METHODS = list(STL) + [
    "mtl", "mtl_matched", "xtc",
    "prediction", "prediction_refine_only", "prediction_no_condition",
    "feature", "refine_only", "feature_no_condition",
]  # fmt: skip
# DiffusionMTL -> its own "w/o diffusion" ablation (the same network with no noise).
ABLATION = {"prediction": "prediction_refine_only", "feature": "refine_only"}
NOISE_CELL = re.compile(r"^(?P<base>feature|refine_only)_S(?P<steps>\d+)(?:_x(?P<scale>[0-9.]+))?$")


# full: the default job (its indoor cells of 2026-11-30 predate the chain fix); study: the cheap
# protocol; confirm: the default job again, after the method changes, stored apart.
PROTOCOLS = ["full", "study", "confirm"]


class Grid(NamedTuple):
    """Where a table's cells live: the protocol (``PROTOCOLS``) and the scene."""

    protocol: str = "full"
    scene: str = "indoor"

    @property
    def root(self) -> Path:
        # the full protocol's indoor cells predate the other grids and keep their folder
        if (self.protocol, self.scene) == ("full", "indoor"):
            return RESULTS
        return RESULTS / self.protocol / self.scene

    def overlays(self) -> list[Path]:
        """The configs after the method and setting overlays."""
        if self.protocol in ("full", "confirm"):
            return []
        network = [] if self.scene == "indoor" else [HERE / "protocol" / "cpu_network.yaml"]
        return [*network, HERE / "protocol" / "study.yaml"]


DEFAULT_GRID = Grid()


def method_overlay(method: str) -> tuple[str, list[str]]:
    """The overlay of `method/` and the extra CLI arguments of a table method."""
    match = NOISE_CELL.match(method)
    if match is None:
        return method, []
    extra = [f"--model.diffusion.steps={match['steps']}"]
    if match["scale"] is not None:
        extra.append(f"--model.diffusion.feature_scale={match['scale']}")
    return match["base"], extra


def result_path(setting: str, method: str, seed: int, grid: Grid = DEFAULT_GRID) -> Path:
    return grid.root / setting / f"{method}_seed{seed}.json"


def run_cell(
    setting: str,
    method: str,
    seed: int,
    runs: Path,
    extra: list[str],
    threads: int | None = None,
    grid: Grid = DEFAULT_GRID,
) -> None:
    """Train one cell through the CLI and store its final validation metrics.

    ``threads``: CPU threads of the training process (OMP_NUM_THREADS), with the data loaded in
    that process (no loader workers); ``None`` keeps the config's loader and torch's default.
    """
    if result_path(setting, method, seed, grid).exists():  # done meanwhile (another runner)
        return
    overlay, method_args = method_overlay(method)
    prefix = "" if grid == DEFAULT_GRID else f"{grid.protocol}_{grid.scene}_"
    name, version = f"{prefix}{setting}_{method}", f"seed{seed}"
    configs = [
        HERE.parent / SCENES[grid.scene].config,
        HERE / "method" / f"{overlay}.yaml",
        HERE / "setting" / f"{setting}.yaml",
        *grid.overlays(),
    ]
    cmd = [
        sys.executable, "-m", "dmtl", "fit",
        *(arg for config in configs for arg in ("--config", str(config))),
        f"--seed_everything={seed}", f"--data.label_seed={seed}",
        f"--trainer.logger.init_args.save_dir={runs}",
        f"--trainer.logger.init_args.name={name}",
        f"--trainer.logger.init_args.version={version}",
        "--trainer.enable_progress_bar=false",
        *(["--data.num_workers=0"] if threads else []),
        *method_args,
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
        raise RuntimeError(f"cell {grid.scene}/{setting}/{method}/seed{seed} failed; see {log}")
    folder = runs / name / version
    metrics = json.loads((folder / "val_metrics.json").read_text())
    out = result_path(setting, method, seed, grid)
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "metrics": metrics,
        "wall_s": round(time.time() - start, 1),
        "threads": threads,
        "commit": commit,
        "command": cmd[2:],
    }
    initial = folder / "val_initial_metrics.json"
    if initial.exists():  # DiffusionMTL: the initial predictions, scored before denoising
        record["initial_metrics"] = json.loads(initial.read_text())
    noise = last_noise_stats(folder / "metrics.csv")
    if noise:
        record["noise"] = noise
    out.write_text(json.dumps(record, indent=1) + "\n")


def last_noise_stats(metrics_csv: Path, last: int = 20) -> dict[str, float]:
    """The mean of the last ``last`` logged values of each ``train/noise/*`` column of a run.

    The chain logs, per task and training step, the relative noise level at its start
    (``relative_noise``: noise std / RMS of the initial signal), the RMS of the noised start
    minus the initial signal (``start_error``) and of each step's x̂₀ minus it (``x0_error/t<k>``).
    """
    if not metrics_csv.exists():
        return {}
    with metrics_csv.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    columns = [c for c in (rows[0] if rows else {}) if c.startswith("train/noise/")]
    stats = {}
    for column in columns:
        values = [float(r[column]) for r in rows if r.get(column) not in (None, "")]
        if values:
            stats[column.removeprefix("train/noise/")] = statistics.fmean(values[-last:])
    return stats


def _commit() -> str:
    """HEAD of the repository, with ``+dirty`` when the working tree has changes."""
    git = ["git", "-C", str(HERE)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True)  # fmt: skip
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def load_records(setting: str, method: str, grid: Grid = DEFAULT_GRID) -> dict[int, dict]:
    """seed -> the whole stored record of each cell of one method and setting."""
    return {
        int(path.stem.rsplit("_seed", 1)[1]): json.loads(path.read_text())
        for path in sorted((grid.root / setting).glob(f"{method}_seed*.json"))
    }


def load(setting: str, method: str, grid: Grid = DEFAULT_GRID) -> dict[int, dict]:
    """seed -> final validation metrics of the stored cells of one method and setting."""
    return {seed: record["metrics"] for seed, record in load_records(setting, method, grid).items()}


def delta_m(metrics: dict, reference: dict, tasks: dict = TASKS) -> float:
    """Mean over tasks of ±(M - M_ref) / M_ref x 100 on the primary metrics (dmtl bench's Δm)."""
    return results.delta_m_of(metrics, {task: reference[task] for task in tasks})


fmt = results.fmt  # mean ± std over seeds, as dmtl bench report writes it


def single_task_reference(setting: str, grid: Grid = DEFAULT_GRID) -> tuple[dict, list[int]]:
    """The Δm reference of a setting: each task's single-task metrics, averaged over seeds.

    Returns the reference ({task: {metric: mean}}, empty while a task has no cell) and the seeds
    that every task's single-task cell has. The ``confirm`` grid without single-task cells of
    its own takes the ``full`` grid's: the same job, and no single-task run has a chain.
    """
    scene = SCENES[grid.scene]
    cells = {method: load(setting, method, grid) for method in scene.stl}
    if not all(cells.values()) and grid.protocol == "confirm":
        return single_task_reference(setting, Grid("full", grid.scene))
    return results.single_task_reference(cells, scene.stl)


def seed_deltas(setting: str, method: str, reference: dict, grid: Grid) -> dict[int, float]:
    """seed -> Δm of each stored cell of a method (empty without a reference)."""
    if not reference:
        return {}
    tasks = SCENES[grid.scene].tasks
    return {s: delta_m(c, reference, tasks) for s, c in load(setting, method, grid).items()}


def paired(deltas: dict[int, float], against: dict[int, float]) -> list[float]:
    """Δm minus the other method's Δm at the same seed, over the seeds both have."""
    return list(results.paired(deltas, against).values())


def settings_of(grid: Grid) -> list[str]:
    return [s for s in SETTINGS if (grid.root / s).is_dir()] or SETTINGS


def report(grid: Grid = DEFAULT_GRID, methods: list[str] | None = None) -> None:
    scene = SCENES[grid.scene]
    tasks = scene.tasks
    for setting in settings_of(grid):
        reference, ref_seeds = single_task_reference(setting, grid)
        print(f"\n### {grid.scene}, {setting} ({grid.protocol} protocol)\n")
        if not any((grid.root / setting).glob("*.json")):
            print("(no results yet)")
            continue
        cols = [f"{t} {m}" for t, (_, _, ms) in tasks.items() for m in ms]
        print("| method | seeds | " + " | ".join(cols)
              + " | Δm (%) | Δm − MTL, paired | Δm − w/o diffusion, paired |")  # fmt: skip
        print("|---" * (len(cols) + 5) + "|")
        stl = {task: load(setting, method, grid) for method, task in scene.stl.items()}
        mtl_dm = seed_deltas(setting, "mtl", reference, grid)
        for method in ["single-task", *(methods or MTL_METHODS)]:
            if method == "single-task":
                if not all(stl.values()):
                    continue
                vals = [
                    fmt([c[t][m] for c in stl[t].values()], 4 if t == "depth" else 2)
                    for t, (_, _, ms) in tasks.items()
                    for m in ms
                ]
                seeds = ",".join(map(str, ref_seeds))
                print(f"| single-task | {seeds} | " + " | ".join(vals) + " | – | – | – |")
                continue
            cells = load(setting, method, grid)
            if not cells:
                continue
            vals = [
                fmt([c[t][m] for c in cells.values()], 4 if t == "depth" else 2)
                for t, (_, _, ms) in tasks.items()
                for m in ms
            ]
            deltas = seed_deltas(setting, method, reference, grid)
            dm = fmt(list(deltas.values()), 2) if reference else "–"
            vs_mtl = fmt(paired(deltas, mtl_dm), 2) if method != "mtl" else "–"
            ablation = ABLATION.get(method)
            vs_own = (
                fmt(paired(deltas, seed_deltas(setting, ablation, reference, grid)), 2)
                if ablation
                else "–"
            )
            print(f"| {method} | {','.join(map(str, sorted(cells)))} | " + " | ".join(vals)
                  + f" | {dm} | {vs_mtl} | {vs_own} |")  # fmt: skip
        if reference:
            print(f"\nΔm: mean ± std over seeds of each run's Δm against the single-task "
                  f"references averaged over seeds {', '.join(map(str, ref_seeds))}. Paired "
                  f"columns: mean ± std over seeds of the run's Δm minus the MTL baseline's (or "
                  f"its own w/o-diffusion ablation's) Δm at the same seed (same label draw and "
                  f"initialisation).")  # fmt: skip


def report_denoising(grid: Grid = DEFAULT_GRID, methods: list[str] | None = None) -> None:
    """What the denoising stage changes: final minus initial primary metrics, mean ± std."""
    tasks = SCENES[grid.scene].tasks
    print(f"\n### What the denoising stage changes (final − initial predictions), {grid.scene}\n")
    heads = [f"{t} {m}" for t, (m, _, _) in tasks.items()]
    print("| setting | method | seeds | " + " | ".join(heads) + " |")
    print("|---" * (len(heads) + 3) + "|")
    for setting in settings_of(grid):
        for method in methods or MTL_METHODS:
            records = {
                s: r
                for s, r in load_records(setting, method, grid).items()
                if "initial_metrics" in r
            }
            if not records:
                continue
            vals = [
                fmt(
                    [r["metrics"][t][m] - r["initial_metrics"][t][m] for r in records.values()],
                    4 if t == "depth" else 2,
                )
                for t, (m, _, _) in tasks.items()
            ]
            seeds = ",".join(map(str, sorted(records)))
            print(f"| {setting} | {method} | {seeds} | " + " | ".join(vals) + " |")


# The noise study (issue 15, deliverable 4): feature diffusion at S = 1, 2, 3 with the features
# scaled so that the start noise is about 8, 16, 32 and 80 % of their RMS, each paired with
# refine-only at the same S. Scales from the schedule's start noise at each S (0.0316, 0.1048,
# 0.1233) over the features' RMS at feature_scale 1 (1.55: 0.1048 over the mean logged relative
# noise of the study's feature cell, onelabel seed 0, 0.068 over its last 20 steps); the level each
# cell really had is logged (train/noise/<task>/relative_noise) and reported.
NOISE_LEVELS = (0.08, 0.16, 0.32, 0.80)
START_NOISE = {1: 0.0316, 2: 0.1048, 3: 0.1233}
FEATURE_RMS = 1.55


def refine_only_at(steps: int) -> str:
    """The refine-only cell of the noise study at S = ``steps`` (the table's own at S = 2)."""
    return "refine_only" if steps == 2 else f"refine_only_S{steps}"


def noise_methods(steps: tuple[int, ...] = (1, 2, 3)) -> list[str]:
    cells = []
    for s in steps:
        cells.append(refine_only_at(s))
        for level in NOISE_LEVELS:
            scale = START_NOISE[s] / (level * FEATURE_RMS)
            cells.append(f"feature_S{s}_x{scale:.3g}")
    return cells


def report_noise(grid: Grid, setting: str = "onelabel") -> None:
    """Per noise-study cell: the logged noise level, what the chain's steps did, Δm, and Δm minus
    refine-only at the same S and seed."""
    reference, _ = single_task_reference(setting, grid)
    print(f"\n### The noise study: {grid.scene}, {setting} ({grid.protocol} protocol)\n")
    print("| cell | seeds | relative noise (start) | start error | x̂₀ error, last step "
          "| x̂₀ error ÷ signal RMS | Δm (%) | Δm − refine-only, paired |")  # fmt: skip
    print("|---" * 8 + "|")
    cells = noise_methods()
    cells.insert(cells.index("refine_only") + 1, "feature")  # S = 2 at feature_scale 1: the default
    for method in cells:
        records = load_records(setting, method, grid)
        if not records:
            continue
        noise = [r.get("noise", {}) for r in records.values()]

        def stat(name: str, noise: list[dict] = noise) -> str:
            values = [
                statistics.fmean(v for k, v in n.items() if k.endswith("/" + name))
                for n in noise
                if any(k.endswith("/" + name) for k in n)
            ]
            return fmt(values, 3)

        def relative_x0(noise: list[dict] = noise, method: str = method) -> str:
            """x̂₀'s RMS distance from x_init over the signal's RMS (= noise std / relative noise;
            without noise, the chain's signal is the features at feature_scale 1: FEATURE_RMS)."""
            values = []
            for n in noise:
                tasks = {k.split("/")[0] for k in n if k.endswith("x0_error/t0")}
                ratios = []
                for task in tasks:
                    level = n.get(f"{task}/relative_noise")
                    rms = n[f"{task}/start_error"] / level if level else FEATURE_RMS
                    ratios.append(n[f"{task}/x0_error/t0"] / rms)
                if ratios:
                    values.append(statistics.fmean(ratios))
            return fmt(values, 3)

        deltas = seed_deltas(setting, method, reference, grid)
        match = NOISE_CELL.match(method)
        steps = int(match["steps"]) if match else 2
        base = seed_deltas(setting, refine_only_at(steps), reference, grid)
        vs = fmt(paired(deltas, base), 2) if not method.startswith("refine") else "–"
        dm = fmt(list(deltas.values()), 2) if reference else "–"
        seeds = ",".join(map(str, sorted(records)))
        print(f"| {method} | {seeds} | {stat('relative_noise')} | {stat('start_error')} "
              f"| {stat('x0_error/t0')} | {relative_x0()} | {dm} | {vs} |")  # fmt: skip
    print(
        "\nNoise columns: each task's value averaged over the last 20 logged training steps, "
        "then over tasks (mean ± std over seeds); errors are RMS against the initial signal."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train the missing cells")
    noise = sub.add_parser("noise", help="train the missing cells of the noise study")
    for p in (run, noise):
        p.add_argument("--protocol", choices=PROTOCOLS, default="full" if p is run else "study")
        p.add_argument("--scene", choices=list(SCENES), default="indoor")
        p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2] if p is run else [0])
        p.add_argument("--runs", type=Path, default=Path("runs/table"), help="log directory")
        p.add_argument("--jobs", type=int, default=1, help="cells trained at once")
        p.add_argument("--threads", type=int, help="CPU threads per cell (data in-process)")
        p.add_argument("extra", nargs="*", help="more CLI arguments for every run (after --)")
    run.add_argument("--methods", nargs="+", help="default: the protocol's methods")
    run.add_argument("--settings", nargs="+", default=SETTINGS, choices=SETTINGS)
    noise.add_argument("--steps", nargs="+", type=int, default=[1, 2, 3])
    rep = sub.add_parser("report", help="print the tables of the stored cells")
    rep.add_argument("--protocol", choices=PROTOCOLS, default="full")
    rep.add_argument("--scene", choices=list(SCENES), default="indoor")
    args = parser.parse_args()
    grid = Grid(args.protocol, args.scene)
    if args.command == "report":
        methods = None if args.protocol != "study" else [m for m in STUDY_METHODS if m not in STL]
        report(grid, methods)
        report_denoising(grid, methods)
        if args.protocol == "study":
            report_noise(grid)
        return
    if args.command == "noise":
        methods, settings = noise_methods(tuple(args.steps)), ["onelabel"]
    else:
        scene_stl = list(SCENES[args.scene].stl)
        default = METHODS if args.protocol != "study" else STUDY_METHODS
        methods = args.methods or [*scene_stl, *(m for m in default if m not in ALL_STL)]
        settings = args.settings
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    todo = [
        (setting, method, seed)
        for seed in args.seeds
        for setting in settings
        for method in methods
        if not result_path(setting, method, seed, grid).exists()
    ]
    print(f"{len(todo)} cells to train, {args.jobs} at a time", flush=True)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [
            pool.submit(run_cell, *cell, args.runs, args.extra, args.threads, grid) for cell in todo
        ]
        failed = [str(e) for f in futures if (e := f.exception()) is not None]
    if failed:
        sys.exit("\n".join(failed))


if __name__ == "__main__":
    main()
