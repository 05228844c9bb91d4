"""The grid spec of ``dmtl bench``: methods x label settings x seeds over base configs.

A spec is a YAML file (docs/bench.md)::

    base: [../default.yaml]             # configs of every cell, first
    protocol: [../protocol/regime.yaml]  # configs of every cell, after the method and setting
    args: []                            # CLI arguments of every cell
    seeds: [0, 1, 2]
    methods:                            # name -> overlay configs, or {configs: [...], args: [...]}
      mtl: [../method/mtl.yaml]
      feature: {configs: [../method/feature.yaml], args: [--model.diffusion.steps=3]}
      mtl_teacher: {configs: [../method/mtl.yaml, ../method/teacher.yaml], teacher: mtl}
    settings:                           # name -> configs, or {configs, args, methods}
      onelabel: [../setting/onelabel.yaml]
      randomlabels: {configs: [../setting/randomlabels.yaml], methods: [mtl, feature]}
    single_task: {stl_semseg: semseg}   # the single-task methods of Δm -> their task
    reference: null                     # or a results file {task: {metric: value}} for Δm
    baselines: {feature: [mtl]}         # method -> the methods it is paired against by seed
    metrics: {semseg: [miou]}           # shown per task (default: the primary metric)

Paths are relative to the spec file; ``dmtl://...`` names a packaged config. A method's
``teacher`` names an earlier method whose cell of the same setting and seed is its offline
teacher: the cell's fit gets ``--model.teacher.checkpoint=<that cell>/checkpoints/last.ckpt``
(docs/teachers.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from dmtl.errors import ConfigError, MissingDataError

KEYS = frozenset(
    ("base", "protocol", "args", "seeds", "methods", "settings")
    + ("single_task", "reference", "baselines", "metrics")
)
# A packaged config, which ``dmtl.cli`` resolves (its CONFIG_SCHEME; not imported: the CLI imports
# this package).
CONFIG_SCHEME = "dmtl://"


@dataclass(frozen=True)
class Cell:
    """One run of the grid: a method in a label setting with one seed."""

    setting: str
    method: str
    seed: int

    @property
    def name(self) -> str:
        """``<setting>/<method>/seed<seed>``: also the cell's folder under the output folder."""
        return f"{self.setting}/{self.method}/seed{self.seed}"

    def folder(self, out: Path) -> Path:
        """The cell's run folder under ``out``."""
        return Path(out) / self.setting / self.method / f"seed{self.seed}"


@dataclass(frozen=True)
class Overlay:
    """A named method or setting: its configs, CLI arguments, (settings) methods and (methods)
    the method whose cell is its offline teacher."""

    configs: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    methods: tuple[str, ...] | None = None
    teacher: str | None = None


@dataclass(frozen=True)
class Spec:
    """A loaded grid spec (see the module docstring)."""

    path: Path
    base: tuple[str, ...]
    methods: dict[str, Overlay]
    settings: dict[str, Overlay]
    seeds: tuple[int, ...]
    protocol: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    single_task: dict[str, str] = field(default_factory=dict)
    reference: str | None = None
    baselines: dict[str, tuple[str, ...]] = field(default_factory=dict)
    metrics: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def cells(
        self,
        methods: Iterable[str] | None = None,
        settings: Iterable[str] | None = None,
        seeds: Iterable[int] | None = None,
    ) -> list[Cell]:
        """The cells of the grid, seed by seed, each seed's settings and methods in spec order.

        Args:
            methods, settings, seeds: keep only these (each must be in the spec).

        Raises:
            ConfigError: a name or seed that the spec does not have.
        """
        keep_m = _subset(methods, self.methods, "method")
        keep_s = _subset(settings, self.settings, "setting")
        keep_seeds = _subset(seeds, self.seeds, "seed")
        return [
            Cell(setting, method, seed)
            for seed in self.seeds
            if seed in keep_seeds
            for setting, overlay in self.settings.items()
            if setting in keep_s
            for method in self.methods
            if method in keep_m and (overlay.methods is None or method in overlay.methods)
        ]

    def configs(self, cell: Cell) -> list[str]:
        """The config files of a cell, in order: base, method, setting, protocol."""
        names = [*self.base, *self.methods[cell.method].configs]
        names += [*self.settings[cell.setting].configs, *self.protocol]
        return [self.resolve(name) for name in names]

    def cell_args(self, cell: Cell) -> list[str]:
        """The spec's CLI arguments of a cell: the spec's, the method's, then the setting's."""
        method, setting = self.methods[cell.method], self.settings[cell.setting]
        return [*self.args, *method.args, *setting.args]

    def teacher_cell(self, cell: Cell) -> Cell | None:
        """The cell whose last checkpoint is ``cell``'s offline teacher (``None``: it has none)."""
        teacher = self.methods[cell.method].teacher
        return None if teacher is None else Cell(cell.setting, teacher, cell.seed)

    def resolve(self, name: str) -> str:
        """A path of the spec relative to the spec file (a packaged ``dmtl://`` name as is)."""
        return name if name.startswith(CONFIG_SCHEME) else os.path.normpath(self.path.parent / name)


def load_spec(path: str | Path) -> Spec:
    """Read and check a grid spec.

    Raises:
        MissingDataError: no such file.
        ConfigError: it does not parse, has an unknown key, or names a method, task or config
            file that it does not have.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"bench spec {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"bench spec {path} does not parse: {err}") from err
    if not isinstance(data, Mapping):
        raise ConfigError(f"bench spec {path} must be a mapping (docs/bench.md)")
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise ConfigError(f"bench spec {path}: unknown keys {unknown}; known: {sorted(KEYS)}")
    for key in ("base", "methods", "settings", "seeds"):
        if not data.get(key):
            raise ConfigError(f"bench spec {path} needs `{key}:` (docs/bench.md)")
    spec = Spec(
        path=path,
        base=_strings(data["base"], path, "base"),
        protocol=_strings(data.get("protocol") or [], path, "protocol"),
        args=_strings(data.get("args") or [], path, "args"),
        seeds=tuple(int(seed) for seed in data["seeds"]),
        methods={str(k): _overlay(v, path, f"methods.{k}") for k, v in data["methods"].items()},
        settings={str(k): _overlay(v, path, f"settings.{k}") for k, v in data["settings"].items()},
        single_task={str(k): str(v) for k, v in (data.get("single_task") or {}).items()},
        reference=data.get("reference"),
        baselines={
            str(k): _strings(v, path, f"baselines.{k}")
            for k, v in (data.get("baselines") or {}).items()
        },
        metrics={
            str(k): _strings(v, path, f"metrics.{k}")
            for k, v in (data.get("metrics") or {}).items()
        },
    )
    _check(spec)
    return spec


def _check(spec: Spec) -> None:
    """Every name the spec uses is defined, and every config file exists."""
    where = f"bench spec {spec.path}"
    named = {
        "single_task": list(spec.single_task),
        "baselines": [m for k, v in spec.baselines.items() for m in (k, *v)],
        **{f"settings.{k}.methods": list(v.methods or []) for k, v in spec.settings.items()},
    }
    for key, methods in named.items():
        missing = sorted(set(methods) - set(spec.methods))
        if missing:
            raise ConfigError(f"{where}: `{key}` names methods it does not define: {missing}")
    order = list(spec.methods)
    for method, overlay in spec.methods.items():
        teacher = overlay.teacher
        if teacher is not None and (
            teacher not in order or order.index(teacher) >= order.index(method)
        ):
            raise ConfigError(
                f"{where}: `methods.{method}.teacher` must name a method defined before it, "
                f"got {teacher!r}"
            )
        for name, setting in spec.settings.items():
            if teacher is not None and setting.methods is not None:
                if method in setting.methods and teacher not in setting.methods:
                    raise ConfigError(
                        f"{where}: setting {name} runs {method} but not its teacher {teacher}"
                    )
    for name, setting in spec.settings.items():
        if setting.teacher is not None:
            raise ConfigError(f"{where}: `settings.{name}.teacher`: only methods have teachers")
    files = [*spec.base, *spec.protocol] + [
        c for o in [*spec.methods.values(), *spec.settings.values()] for c in o.configs
    ]
    files += [spec.reference] if spec.reference else []
    for name in files:
        resolved = spec.resolve(name)
        if not resolved.startswith(CONFIG_SCHEME) and not Path(resolved).is_file():
            raise ConfigError(f"{where}: no file {resolved} (paths are relative to the spec)")


def _overlay(value: object, path: Path, key: str) -> Overlay:
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"configs", "args", "methods", "teacher"})
        if unknown:
            raise ConfigError(f"bench spec {path}: `{key}` has unknown keys {unknown}")
        methods = value.get("methods")
        return Overlay(
            configs=_strings(value.get("configs") or [], path, f"{key}.configs"),
            args=_strings(value.get("args") or [], path, f"{key}.args"),
            methods=None if methods is None else _strings(methods, path, f"{key}.methods"),
            teacher=None if value.get("teacher") is None else str(value["teacher"]),
        )
    return Overlay(configs=_strings(value or [], path, key))


def _strings(value: object, path: Path, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list):
        raise ConfigError(f"bench spec {path}: `{key}` must be a list, got {value!r}")
    return tuple(str(item) for item in value)


def _subset(wanted: Iterable | None, available: Iterable, what: str) -> set:
    available = list(available)
    if wanted is None:
        return set(available)
    wanted = list(wanted)
    missing = [w for w in wanted if w not in available]
    if missing:
        raise ConfigError(
            f"{what}s {missing} are not in the spec; it has: {', '.join(map(str, available))}"
        )
    return set(wanted)
