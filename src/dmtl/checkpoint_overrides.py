"""The command line's model options over a checkpoint's: what ``--ckpt_path`` keeps and lets go.

LightningCLI rebuilds the model of ``--ckpt_path`` from the checkpoint's hyper-parameters, which
replace the config's whole model section, command line included: ``dmtl test --ckpt_path X
--model.evaluation.boundary_metric=ods`` would score boundaries with the saved metric, and
``--model.diffusion.inference_noise=false`` would still draw noise, both silently. Here the
``--model.*`` options given on the command line win over the checkpoint where they may: the
evaluation, loss, optimiser and speed groups and the diffusion's noise options (``RUNTIME``), which
change how a trained network is run, scored or trained on, not its weights. Any other option
(the network, denoiser, the diffusion's space, steps or conditioning, XTC*'s mapping) shapes the
weights the checkpoint holds: given with the checkpoint's own value it is accepted, with another
one it ends the run with one line naming the option and both values, instead of a state-dict
mismatch after the model was built (or a silent no-op). Options in config files do not override
the checkpoint: a run's own ``config.yaml`` repeats what the checkpoint saved.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dmtl.errors import ConfigError

PREFIX = "model."
_MISSING = object()
# Groups and fields that a checkpoint's weights do not depend on (docs/options.md).
RUNTIME = (
    "loss",
    "optim",
    "evaluation",
    "speed",
    "diffusion.inference_noise",
    "diffusion.inference_seed",
    "diffusion.noise_seed",
)
# ... except these: a loss weighting's parameters and buffers are part of the checkpoint's state.
STATEFUL = ("loss.weighting",)


def command_line_keys(argv: Sequence[str]) -> list[str]:
    """The model options given on a command line, as dotted keys below ``model``.

    ``--model.evaluation.inference_seeds=[0,1]`` and ``--model.diffusion.inference_noise false``
    give ``evaluation.inference_seeds`` and ``diffusion.inference_noise``; ``--model=file.yaml``
    (a whole model section) gives none.
    """
    keys = []
    for token in argv:
        if token.startswith("--" + PREFIX):
            key = token[2 + len(PREFIX) :].split("=", 1)[0]
            if key and key not in keys:
                keys.append(key)
    return keys


def is_runtime(key: str) -> bool:
    """Whether option ``key`` (below ``model``) may differ from a checkpoint's saved value."""
    if any(key == r or key.startswith(r + ".") for r in STATEFUL):
        return False
    return any(key == r or key.startswith(r + ".") for r in RUNTIME)


def keep_command_line(
    hparams: Mapping[str, Any], keys: Sequence[str], parsed: Mapping[str, Any], checkpoint: Path
) -> dict[str, Any]:
    """A checkpoint's grouped hyper-parameters with the command line's ``keys`` put back.

    Args:
        hparams: the checkpoint's hyper-parameters (``dmtl.checkpoint_check.read_checked``).
        keys: the command line's model options (``command_line_keys``).
        parsed: the parsed model section of the config, command line included (a jsonargparse
            ``Namespace`` or a dict), where each key's typed value is read.
        checkpoint: the checkpoint's path, for the message.

    Raises:
        ConfigError: a key outside ``RUNTIME`` is given another value than the checkpoint's.
    """
    out = copy.deepcopy(dict(hparams))
    for key in keys:
        value = _get(parsed, key)
        if value is _MISSING:  # not an option of the parsed model section: nothing to keep
            continue
        value, saved = _plain(value), _get(out, key)
        if not is_runtime(key):
            if saved is not _MISSING and _plain(saved) != value:
                raise ConfigError(
                    f"--model.{key}={value!r} differs from the {saved!r} that checkpoint "
                    f"{checkpoint} was trained with: it shapes the weights, which the checkpoint "
                    f"fixes; drop the option (options that may change: {', '.join(RUNTIME)})"
                )
            continue
        _set(out, key, value)
    return out


def _get(tree: Any, key: str) -> Any:
    node = tree
    for part in key.split("."):
        try:
            node = node[part]
        except (KeyError, TypeError, AttributeError):
            node = getattr(node, part, _MISSING) if node is not None else _MISSING
        if node is _MISSING:
            return _MISSING
    return node


def _set(tree: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    node = tree
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[last] = value


def _plain(value: Any) -> Any:
    """Namespaces as dicts and tuples as lists, so that parsed and saved values compare."""
    if hasattr(value, "as_dict"):
        value = value.as_dict()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
