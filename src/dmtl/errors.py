"""Errors that dmtl raises for bad input; the CLI prints them as one line (``one_line``)."""

from __future__ import annotations

import re

import yaml

TRACEBACK = "Traceback (most recent call last)"  # a DataLoader worker's re-raised message
POINTER = re.compile(r"^[\s^~]*$")  # a line that only points at a column (``    ^``)


class DMTLError(Exception):
    """Base class of every error that describes bad user input (config, files, arrays)."""


class ConfigError(DMTLError, ValueError):
    """A configuration value is unknown or inconsistent (task name, label setting, ...)."""


class DataError(DMTLError, ValueError):
    """A data file exists but its content is wrong (shape, dtype, corrupt array, split size)."""


class MissingDataError(DMTLError, FileNotFoundError):
    """A file or directory that the dataset needs does not exist."""


class TrainingError(DMTLError, RuntimeError):
    """Training cannot go on (a non-finite loss, out of memory); the message says what to change."""


def one_line(err: BaseException) -> str:
    """The message of a bad-input error on one line, naming what it named on several.

    * A DataLoader worker re-raises an error in the main process with the worker's traceback in
      the message; its last line holds the original message, prefixed with the error's class path.
    * A YAML parse error (the cause of the error) becomes its problem with the line and column
      (1-based), after the error's own words that name the file.
    * Any other message has its lines joined; lines that only point at a column are dropped.
    """
    text = str(err)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) <= 1:
        return text.strip()
    if TRACEBACK in text:
        prefix = f"{type(err).__module__}.{type(err).__qualname__}: "
        return lines[-1].removeprefix(prefix)
    cause = err.__cause__
    if isinstance(cause, yaml.MarkedYAMLError) and str(cause) in text:
        head = " ".join(text.split(str(cause))[0].split())
        return f"{head} {_yaml_problem(cause)}".strip()
    return " ".join(line for line in lines if not POINTER.match(line))


def _yaml_problem(err: yaml.MarkedYAMLError) -> str:
    """``problem at line L, column C (context at line L', column C')`` of a YAML error."""

    def at(what: str | None, mark: yaml.Mark | None) -> str:
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return f"{what or 'syntax error'}{where}"

    problem = at(err.problem, err.problem_mark)
    if err.context:
        problem += f" ({at(err.context, err.context_mark)})"
    return problem
