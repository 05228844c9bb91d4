"""``--config`` on the command line: ``dmtl://`` names of the packaged configs, missing files.

``--config dmtl://nyuv2/base.yaml`` names a config shipped with the package: the repository's
experiments/ folder, which src/dmtl/configs links to and the wheel holds as dmtl/configs. A config
path that does not exist is refused before parsing, with the ``dmtl://`` name of the packaged
config of the same relative path when there is one (``experiments/synthetic/default.yaml`` outside
a checkout is ``dmtl://synthetic/default.yaml``).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from dmtl.errors import ConfigError

CONFIG_SCHEME = "dmtl://"
PACKAGED_CONFIGS = Path(__file__).resolve().parents[1] / "configs"  # dmtl/configs
CONFIG_FLAGS = ("--config", "-c")
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")  # a --config value that is a file, not inline YAML


def packaged_config(name: str) -> Path:
    """The file of a packaged config ``dmtl://<folder>/<file>.yaml`` (``<folder>/<file>.yaml``).

    Raises:
        ConfigError: no such packaged config (the message lists the folders there are).
    """
    relative = name.removeprefix(CONFIG_SCHEME)
    path = (PACKAGED_CONFIGS / relative).resolve()
    root = PACKAGED_CONFIGS.resolve()
    if root not in path.parents or not path.is_file():
        folders = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        raise ConfigError(
            f"no packaged config {CONFIG_SCHEME}{relative}; packaged folders: "
            f"{', '.join(folders) or 'none (the package ships no configs)'}"
        )
    return path


def packaged_twin(value: str) -> str | None:
    """The ``dmtl://`` name of the packaged config whose path ends like ``value``, if any."""
    parts = Path(value).parts
    root = PACKAGED_CONFIGS.resolve()
    for start in range(len(parts)):
        relative = Path(*parts[start:])
        if ".." in relative.parts or relative.is_absolute():
            continue
        if (root / relative).is_file():
            return f"{CONFIG_SCHEME}{relative.as_posix()}"
    return None


def config_file(value: str) -> str:
    """A ``--config`` value: a ``dmtl://`` name turned into its file, a path checked to exist and
    to parse as YAML.

    Raises:
        ConfigError: an unknown ``dmtl://`` name, a config file that does not exist (with the
            packaged config of the same relative path as "did you mean"), or one that does not
            parse.
    """
    path = value
    if value.startswith(CONFIG_SCHEME):
        path = str(packaged_config(value))
    elif value.endswith(CONFIG_SUFFIXES) and not Path(value).is_file():
        twin = packaged_twin(value)
        hint = f"did you mean {twin}?" if twin else "give the path of a YAML file"
        raise ConfigError(f"no such config {value}: {hint}")
    if Path(path).is_file():
        check_yaml(path)
    return path


def check_yaml(path: str) -> None:
    """Parse the config file ``path`` as YAML (jsonargparse's error would not name the file).

    Raises:
        ConfigError: it does not parse; ``dmtl.errors.one_line`` adds the line and column.
    """
    try:
        yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"config {path} does not parse:\n{err}") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"config {path} cannot be read: {err}") from err


def resolve_config_args(argv: list[str]) -> list[str]:
    """``argv`` with every ``--config`` value (or ``-c``, ``--config=``) passed by ``config_file``.

    Raises:
        ConfigError: a ``dmtl://`` name that no packaged config has, or a missing config file.
    """
    out = list(argv)
    for i, token in enumerate(out):
        flag, eq, value = token.partition("=")
        if eq and flag in CONFIG_FLAGS:
            out[i] = f"{flag}={config_file(value)}"
        elif i > 0 and out[i - 1] in CONFIG_FLAGS:
            out[i] = config_file(token)
    return out
