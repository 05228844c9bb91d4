"""Checks of single option values, each failing with a one-line ``ConfigError`` naming the key.

The option groups (``dmtl.config``) and the data module call these in their constructors, so a bad
number (a batch size of 0, a negative learning rate) stops the run before anything is built.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from dmtl.errors import ConfigError


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def integer_at_least(key: str, value: Any, low: int) -> None:
    """``value`` is an int >= ``low``.

    Raises:
        ConfigError: it is not, naming ``key`` and the value.
    """
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(f"{key} must be an integer >= {low}, got {value!r}")


def optional_integer_at_least(key: str, value: Any, low: int) -> None:
    """``value`` is ``None`` or an int >= ``low`` (see ``integer_at_least``)."""
    if value is not None:
        integer_at_least(key, value, low)


def positive(key: str, value: Any) -> None:
    """``value`` is a finite number > 0.

    Raises:
        ConfigError: it is not, naming ``key`` and the value.
    """
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{key} must be positive (a finite number > 0), got {value!r}")


def non_negative(key: str, value: Any) -> None:
    """``value`` is a finite number >= 0.

    Raises:
        ConfigError: it is not, naming ``key`` and the value.
    """
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{key} must be a finite number >= 0, got {value!r}")


def one_of(key: str, value: Any, choices: Iterable[str]) -> None:
    """``value`` is one of ``choices``.

    Raises:
        ConfigError: it is not, naming ``key``, the choices and the value.
    """
    choices = tuple(choices)
    if value not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}, got {value!r}")


def integers_at_least(key: str, values: Iterable[Any], low: int) -> None:
    """``values`` is a non-empty sequence of ints >= ``low``.

    Raises:
        ConfigError: it is empty or holds another value, naming ``key`` and the values.
    """
    values = list(values)
    if not values or any(not isinstance(v, int) or isinstance(v, bool) or v < low for v in values):
        raise ConfigError(f"{key} must be a non-empty list of integers >= {low}, got {values!r}")
