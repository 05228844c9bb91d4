"""The command line's parse errors as one line ``dmtl: error: ...``, with a "did you mean".

jsonargparse prints a page of usage before its error; ``OneLineParser`` prints only the error,
rewritten to name the option and what to do (``explain``): an unknown option gets the closest
known one, a value outside a fixed set of choices gets the allowed values. ``--help`` still prints
the usage.
"""

from __future__ import annotations

import ast
import difflib
import re
import sys
from collections.abc import Iterable
from typing import Any, NoReturn

from jsonargparse._common import debug_mode_active
from lightning.pytorch.cli import LightningArgumentParser

UNRECOGNIZED = re.compile(r"unrecognized arguments: (.*)", re.S)
NOT_ACCEPTED = re.compile(r"does not accept (?:option|nested key)s? '([^']+)'")
PARSER_KEY = re.compile(r'^Parser key "([^"]+)":\s*(.*)$', re.S)
LITERAL = re.compile(r"Expected a typing\.Literal\[(.*?)\]\. Got value: (.*)$", re.S)
UNION = re.compile(r"Union subtypes\s+Subtypes: \[(.*?)\]\s+Errors:.*Given value: (.*)$", re.S)
TYPED = re.compile(r"^Expected an? (.*?)\. Got value: (.*)$", re.S)
CLASS = re.compile(r"<class '(?:builtins\.)?([\w.]+)'>")
CLOSE_ENOUGH = 0.6  # difflib's ratio above which a known option is offered as "did you mean"


class OneLineParser(LightningArgumentParser):
    """LightningCLI's parser whose errors are one line on stderr, then exit status 2."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        """Print ``dmtl: error: <explain(message)>`` and exit 2 (jsonargparse's own way where
        it only tries a parse: ``exit_on_error`` off, or its debug mode)."""
        if not self.exit_on_error or debug_mode_active():
            super().error(message, ex)
        print(f"dmtl: error: {explain(message, known_options(self))}", file=sys.stderr)
        self.exit(2)


def known_options(parser: Any) -> list[str]:
    """The dotted option names of ``parser`` and of its subcommands' parsers."""
    names: list[str] = []
    stack = [parser]
    while stack:
        current = stack.pop()
        names += [a.dest for a in current._actions if "." in a.dest or a.dest.isidentifier()]
        subcommands = getattr(current, "_subcommands_action", None)
        if subcommands is not None:
            stack += list(subcommands._name_parser_map.values())
    return sorted({n for n in names if not n.endswith(".help") and n != "help"})


def explain(message: str, options: Iterable[str]) -> str:
    """jsonargparse's error ``message`` as one line that names the option and what to do.

    Args:
        message: the parser's error message (possibly several lines).
        options: the known option names, for "did you mean".
    """
    options = list(options)
    text = message.strip()
    unknown = _unknown_options(text)
    if unknown:
        return "; ".join(_unknown(key, options) for key in unknown)
    keyed = PARSER_KEY.match(text)
    if keyed:
        key, problem = keyed.groups()
        choice = LITERAL.search(problem)
        if choice:
            return _bad_choice(key, choice.group(2).strip(), choice.group(1))
        typed = UNION.search(problem) or TYPED.match(problem)
        if typed:
            return f"{key}: expected {_types(typed.group(1))}, got '{typed.group(2).strip()}'"
        return f"{key}: {_joined(problem)}"
    return _joined(text)


def _unknown_options(text: str) -> list[str]:
    """The option names that an "unrecognized arguments" or "does not accept" error names."""
    given = NOT_ACCEPTED.findall(text)
    found = UNRECOGNIZED.search(text)
    if found:
        tokens = found.group(1).split()
        given += [t[2:].split("=", 1)[0] for t in tokens if t.startswith("--")]
    return given


def _unknown(key: str, options: list[str]) -> str:
    """``unknown option KEY; did you mean OPTION?`` (or where the options are listed)."""
    guess = closest(key, options)
    hint = f"did you mean {guess}?" if guess else "`dmtl <command> --help` lists the options"
    return f"unknown option {key}; {hint}"


def closest(key: str, options: list[str]) -> str | None:
    """The known option ``key`` most likely meant: one of its group whose name is the initials of
    ``key``'s last part (``learning_rate`` → ``lr``), else the closest by ``difflib``."""
    parent, _, leaf = key.rpartition(".")
    initials = "".join(word[:1] for word in leaf.split("_"))
    for option in options:
        option_parent, _, option_leaf = option.rpartition(".")
        if option_parent == parent and option_leaf in (initials, leaf.replace("-", "_")):
            return option
    found = difflib.get_close_matches(key, options, n=1, cutoff=CLOSE_ENOUGH)
    return found[0] if found else None


def _bad_choice(key: str, value: str, literal: str) -> str:
    """``KEY: 'VALUE' is not one of A, B, C; did you mean B?``."""
    try:
        allowed = [str(v) for v in ast.literal_eval(f"({literal},)")]
    except (SyntaxError, ValueError):
        allowed = [literal]
    line = f"{key}: '{value}' is not one of {', '.join(allowed)}"
    guess = difflib.get_close_matches(value, allowed, n=1, cutoff=CLOSE_ENOUGH)
    return f"{line}; did you mean {guess[0]}?" if guess else line


def _types(text: str) -> str:
    """``[<class 'int'>, <class 'NoneType'>]``'s inside as ``int or None``."""
    names = CLASS.sub(r"\1", text).replace("NoneType", "None")
    return " or ".join(part.strip() for part in re.split(r",\s*(?![^\[]*\])", names))


def _joined(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())
