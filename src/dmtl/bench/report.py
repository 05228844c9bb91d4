"""``dmtl bench report``: the Markdown tables and the plots of a grid's finished cells.

Per label setting: each method's metrics (mean ± std over seeds) and its Δm against the
single-task cells of the grid (or the spec's reference file), the last epoch's checkpoint as
the protocol selects it, beside a best-epoch Δm read from the validation curves (labelled: it
picks the epoch on the data it reports). Then every method paired by seed against its named
baselines: the mean ± std over seeds of its Δm minus the baseline's Δm at the same seed, and
the sign of each seed's difference; and the same pairs per task, on each task's primary metric
(where Δm averages a gain on one task with a loss on another, or has no reference yet).
"""

from __future__ import annotations

from pathlib import Path

from dmtl.bench import plots
from dmtl.bench.curves import best_epoch_delta, grid_curves
from dmtl.bench.results import (
    Cells,
    digits_of,
    fmt,
    load_cells,
    load_records,
    paired,
    seed_deltas,
    signs,
    single_task_reference,
)
from dmtl.bench.spec import Spec
from dmtl.metrics.multitask import load_reference
from dmtl.tasks import TASKS

REPORT = "report.md"
NOTES = (
    "Metrics: the {split} metrics of each cell's last-epoch checkpoint (the protocol's model "
    "selection), mean ± std over seeds. Δm (%): mean over tasks of ±(M − M_ref) / M_ref × 100 on "
    "each task's primary metric, against {reference}; mean ± std over the method's seeds. "
    "Best-epoch Δm: the highest Δm over the validated epochs of each run's curve, mean ± std; it "
    "chooses the epoch on the validation data it scores, so it is not the protocol's number. "
    "Paired: the run's Δm minus the baseline's Δm at the same seed (same label draw and "
    "initialisation), mean ± std over the seeds both have, and the sign of each seed's difference "
    "in seed order."
)


def reference_of(spec: Spec, cells: dict) -> tuple[dict, str]:
    """The Δm reference of one setting's cells and its description (empty: no Δm yet)."""
    if spec.single_task:
        reference, seeds = single_task_reference(cells, spec.single_task)
        seeds_text = ", ".join(map(str, seeds))
        return reference, f"the single-task cells of the setting averaged over seeds {seeds_text}"
    if spec.reference:
        path = spec.resolve(spec.reference)
        return load_reference(path), f"the reference results {Path(path).name}"
    return {}, "no reference (the spec has no single_task cells or reference file)"


def shown_metrics(spec: Spec, cells: Cells) -> dict[str, tuple[str, ...]]:
    """task -> the metrics shown: the spec's, else each task's primary metric."""
    if spec.metrics:
        return dict(spec.metrics)
    tasks = {
        task
        for by_method in cells.values()
        for by_seed in by_method.values()
        for metrics in by_seed.values()
        for task in metrics
        if task in TASKS
    }
    return {task: (TASKS[task].primary_metric,) for task in TASKS if task in tasks}


def write_report(spec: Spec, out: Path, split: str = "test") -> Path:
    """Write ``out/report.md`` and its plots (``out/plots/*.png``); the report's path."""
    cells, records = load_cells(out, split), load_records(out)
    shown = shown_metrics(spec, cells)
    lines = [f"# dmtl bench: {spec.path.name}", ""]
    for setting in spec.settings:
        if setting not in cells:
            continue
        reference, described = reference_of(spec, cells[setting])
        deltas = {  # a single-task cell holds its own task only: it is the reference, no Δm
            m: seed_deltas(s, reference)
            for m, s in cells[setting].items()
            if m not in spec.single_task
        }
        lines += _metrics_table(spec, out, setting, cells[setting], shown, reference, deltas)
        pairs = _pairs(spec, deltas)
        lines += _paired_table(pairs)
        lines += _task_pairs_table(spec, cells[setting], shown)
        lines += _denoising_table(spec, records.get(setting, {}))
        lines += [NOTES.format(split=split, reference=described), ""]
        figures = [
            plots.paired_differences(pairs, setting, out / "plots" / f"paired_{setting}.png"),
            plots.validation_curves(
                {m: grid_curves(out, setting, m) for m in spec.methods if m in cells[setting]},
                {task: TASKS[task] for task in shown if task in TASKS},
                setting,
                out / "plots" / f"curves_{setting}.png",
            ),
        ]
        lines += [f"![{path.stem}](plots/{path.name})" for path in figures if path] + [""]
    path = out / REPORT
    path.write_text("\n".join(lines) + "\n")
    return path


def _metrics_table(spec, out, setting, cells, shown, reference, deltas) -> list[str]:
    columns = [f"{task} {metric}" for task, metrics in shown.items() for metric in metrics]
    lines = [f"## {setting}", "", "| method | seeds | " + " | ".join(columns)]
    lines[-1] += " | Δm (%) | best-epoch Δm (%), not the protocol |"
    lines.append("|---" * (len(columns) + 4) + "|")
    if spec.single_task and all(cells.get(m) for m in spec.single_task):
        stl = {task: cells[method] for method, task in spec.single_task.items()}
        values = [
            fmt([c[task][metric] for c in stl[task].values()], digits_of(task))
            if task in stl
            else "–"
            for task, metrics in shown.items()
            for metric in metrics
        ]
        seeds = sorted(set.intersection(*(set(by_seed) for by_seed in stl.values())))
        lines.append(f"| single-task | {_seeds(seeds)} | " + " | ".join(values) + " | – | – |")
    for method in spec.methods:
        if method in spec.single_task or not cells.get(method):
            continue
        by_seed = cells[method]
        values = [
            fmt([c[task][metric] for c in by_seed.values() if task in c], digits_of(task))
            for task, metrics in shown.items()
            for metric in metrics
        ]
        best = [best_epoch_delta(c, reference) for c in grid_curves(out, setting, method).values()]
        best_text = fmt([b[1] for b in best if b is not None], 2)
        dm = fmt(list(deltas[method].values()), 2)
        lines.append(
            f"| {method} | {_seeds(by_seed)} | " + " | ".join(values) + f" | {dm} | {best_text} |"
        )
    return lines + [""]


def _pairs(spec: Spec, deltas: dict) -> list[tuple[str, str, dict[int, float]]]:
    """(method, baseline, seed -> paired Δm difference) of every named pair with cells."""
    pairs = [
        (method, baseline, paired(deltas.get(method, {}), deltas.get(baseline, {})))
        for method, baselines in spec.baselines.items()
        for baseline in baselines
    ]
    return [pair for pair in pairs if pair[2]]  # those with a seed in common


def _paired_table(pairs: list) -> list[str]:
    if not pairs:
        return []
    lines = ["| method | − baseline | seeds | Δm difference (%), paired | per-seed signs |"]
    lines.append("|---" * 5 + "|")
    for method, baseline, differences in pairs:
        values = list(differences.values())
        lines.append(
            f"| {method} | {baseline} | {_seeds(differences)} | {fmt(values, 2)} "
            f"| {signs(differences) or '–'} |"
        )
    return lines + [""]


def _task_pairs_table(spec: Spec, cells: dict, shown: dict) -> list[str]:
    """Every named pair per task: the method's primary metric minus the baseline's at the same
    seed, mean ± std, and at each seed whether the method was better (+) or worse (−)."""
    tasks = [task for task in shown if task in TASKS]
    rows = []
    for method, baselines in spec.baselines.items():
        for baseline in baselines:
            mine, theirs = cells.get(method, {}), cells.get(baseline, {})
            values = []
            for task in tasks:
                key = TASKS[task].primary_metric
                differences = paired(_metric(mine, task, key), _metric(theirs, task, key))
                sign = 1 if TASKS[task].higher_is_better else -1
                better = {seed: sign * d for seed, d in differences.items()}
                text = fmt(list(differences.values()), digits_of(task))
                values.append(f"{text} ({signs(better)})" if differences else "–")
            seeds = set(mine) & set(theirs)
            if seeds and any(v != "–" for v in values):
                rows.append(f"| {method} | {baseline} | {_seeds(seeds)} | " + " | ".join(values))
    if not rows:
        return []
    arrows = {True: "↑", False: "↓"}
    heads = [f"{t} {TASKS[t].primary_metric} {arrows[TASKS[t].higher_is_better]}" for t in tasks]
    lines = [
        "Per task, paired: the method's metric minus the baseline's at the same seed, mean ± std "
        "(signs: + where the method was better at that seed, − where worse):",
        "",
        "| method | − baseline | seeds | " + " | ".join(heads) + " |",
        "|---" * (len(heads) + 3) + "|",
    ]
    return lines + [row + " |" for row in rows] + [""]


def _metric(by_seed: dict, task: str, key: str) -> dict[int, float]:
    """seed -> ``task``'s ``key`` of the cells that hold the task."""
    return {seed: metrics[task][key] for seed, metrics in by_seed.items() if task in metrics}


def _denoising_table(spec: Spec, records: dict) -> list[str]:
    """What the denoising stage changes: each task's primary metric of the final validation
    minus that of the initial predictions, of the methods that score both (DiffusionMTL)."""
    rows = []
    for method in spec.methods:
        pairs = [r for r in records.get(method, {}).values() if r.get("val_initial") and r["val"]]
        if not pairs:
            continue
        tasks = [t for t in TASKS if t in pairs[0]["val_initial"]]
        values = [
            fmt([r["val"][t][key] - r["val_initial"][t][key] for r in pairs], digits_of(t))
            for t in tasks
            for key in [TASKS[t].primary_metric]
        ]
        heads = " | ".join(f"{t} {TASKS[t].primary_metric}" for t in tasks)
        seeds = _seeds(r["seed"] for r in pairs)
        rows.append((heads, f"| {method} | {seeds} | " + " | ".join(values) + " |"))
    if not rows:
        return []
    lines = [
        "Final minus initial predictions (final validation; the denoising stage's change):",
        "",
    ]
    lines += [f"| method | seeds | {rows[0][0]} |", "|---" * (rows[0][0].count("|") + 3) + "|"]
    return lines + [row for _, row in rows] + [""]


def _seeds(seeds) -> str:
    return ",".join(map(str, sorted(seeds)))
