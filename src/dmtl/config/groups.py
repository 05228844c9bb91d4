"""Option groups as data: a dict (a checkpoint's saved hyper-parameters) back into its group, and
a group into plain data (``dmtl.config`` defines the groups)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields, is_dataclass
from typing import Any, TypeVar

from dmtl.errors import ConfigError

G = TypeVar("G")


def as_group(cls: type[G], value: G | Mapping[str, Any] | None) -> G:
    """``value`` as an instance of the group ``cls``: a dict (saved hyper-parameters) is rebuilt.

    Raises:
        ConfigError: a dict with a key the group does not have (named in the message).
    """
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if is_dataclass(value):
        value = asdict(value)
    if not isinstance(value, Mapping):
        raise ConfigError(f"{cls.__name__}: expected a mapping of options, got {value!r}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(value) - known)
    if unknown:
        names, options = ", ".join(unknown), ", ".join(sorted(known))
        raise ConfigError(f"{cls.__name__}: unknown option(s) {names}; known: {options}")
    kwargs = dict(value)
    if "mults" in kwargs and kwargs["mults"] is not None:
        kwargs["mults"] = tuple(kwargs["mults"])
    return cls(**kwargs)


def group_dict(group: Any) -> dict[str, Any]:
    """A group as plain data (tuples as lists): what a checkpoint or a YAML file holds."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(group).items()}
