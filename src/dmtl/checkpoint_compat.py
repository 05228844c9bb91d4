"""Checkpoints of the earlier layout: the module's flat options mapped onto the option groups.

Until the option groups (``dmtl.config``), ``DiffusionMTLModule`` took 46 flat options
(``backbone``, ``embed_dim``, ``diffusion: feature``, ``denoiser_width``, ``lr``, ...), and its
checkpoints hold them flat in ``hyper_parameters``. ``FLAT_OPTIONS`` is the one table from those
names to ``group.field``; ``grouped_hparams`` rewrites a checkpoint's hyper-parameters with it,
so ``DiffusionMTLModule.load_from_checkpoint`` and ``dmtl test|validate|predict --ckpt_path`` load
both layouts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import torch

from dmtl.config import GROUPS
from dmtl.errors import ConfigError

# flat option of the earlier layout -> (group, field) of the grouped one
FLAT_OPTIONS: dict[str, tuple[str, str]] = {
    "backbone": ("network", "backbone"),
    "pretrained": ("network", "pretrained"),
    "backbone_weights": ("network", "backbone_weights"),
    "embed_dim": ("network", "embed_dim"),
    "neck": ("network", "neck"),
    "neck_stride": ("network", "neck_stride"),
    "decoder_blocks": ("network", "decoder_blocks"),
    "diffusion": ("diffusion", "space"),
    "steps": ("diffusion", "steps"),
    "schedule": ("diffusion", "schedule"),
    "refine_only": ("diffusion", "refine_only"),
    "condition": ("diffusion", "condition"),
    "condition_input": ("diffusion", "condition_input"),
    "cond_channels": ("diffusion", "cond_channels"),
    "depth_scale": ("diffusion", "depth_scale"),
    "prediction_scale": ("diffusion", "prediction_scale"),
    "noise_seed": ("diffusion", "noise_seed"),
    "inference_seed": ("diffusion", "inference_seed"),
    "inference_noise": ("diffusion", "inference_noise"),
    "denoiser": ("denoiser", "kind"),
    "denoiser_width": ("denoiser", "width"),
    "denoiser_mults": ("denoiser", "mults"),
    "denoiser_blocks": ("denoiser", "blocks"),
    "denoiser_skip": ("denoiser", "skip"),
    "attn_blocks": ("denoiser", "attn_blocks"),
    "attn_heads": ("denoiser", "attn_heads"),
    "loss_recipe": ("loss", "recipe"),
    "loss_weights": ("loss", "weights"),
    "initial_weight": ("loss", "initial_weight"),
    "loss_normalization": ("loss", "normalization"),
    "normals_loss": ("loss", "normals"),
    "optimizer": ("optim", "name"),
    "lr": ("optim", "lr"),
    "weight_decay": ("optim", "weight_decay"),
    "poly_power": ("optim", "poly_power"),
    "poly_interval": ("optim", "poly_interval"),
    "reference": ("evaluation", "reference"),
    "boundary_metric": ("evaluation", "boundary_metric"),
    "boundary_max_dist": ("evaluation", "boundary_max_dist"),
    "saliency_literature_sigmoid": ("evaluation", "saliency_literature_sigmoid"),
    "log_initial_metrics": ("evaluation", "log_initial_metrics"),
    "channels_last": ("speed", "channels_last"),
    "compile": ("speed", "compile"),
}
# group fields newer than the flat layout: its checkpoints take their defaults
ADDED_LATER = frozenset(
    {
        ("network", "num_classes"),
        ("diffusion", "feature_scale"),
        ("evaluation", "inference_seeds"),
        ("evaluation", "depth_clamp_min"),
        ("evaluation", "absent_class"),
        ("evaluation", "boundary_thresholds"),
        ("loss", "weighting"),
        ("loss", "weighting_options"),
    }
)
# flat options that left the module: the panel PNGs are the panel callback's (--panels.samples)
DROPPED = frozenset({"panel_samples"})
SHARED = frozenset({"dataset", "tasks"})  # the same name in both layouts
ZIP_START = b"PK\x03\x04"  # torch.save's format is a zip archive
PICKLE_START = b"\x80"  # the PROTO opcode that starts a pickle of protocol 2 or later
LIGHTNING_KEYS = frozenset({"_instantiator", "_class_path"})  # written by LightningCLI
HOW_TO = (
    "a released DiffusionMTL checkpoint is converted with `dmtl convert-checkpoint SRC DST`; a "
    "dmtl checkpoint holds the grouped options (network, diffusion, denoiser, loss, optim, "
    "evaluation, speed) or the flat ones of the earlier layout (docs/options.md)"
)


def is_flat(hparams: Mapping[str, Any]) -> bool:
    """Whether ``hparams`` are of the earlier, flat layout.

    They are when they hold a name only that layout has, or a plain value where a group goes
    (``diffusion: feature``, ``denoiser: unet``).
    """
    flat_only = (set(FLAT_OPTIONS) | DROPPED) - set(GROUPS)
    return bool(flat_only & set(hparams)) or any(
        name in hparams and not isinstance(hparams[name], Mapping) for name in GROUPS
    )


def grouped_hparams(hparams: Mapping[str, Any], source: str = "the checkpoint") -> dict[str, Any]:
    """The module arguments of a checkpoint's ``hyper_parameters``, in the grouped layout.

    Flat hyper-parameters are mapped with ``FLAT_OPTIONS`` (``panel_samples`` is dropped); grouped
    ones are kept. Lightning's own keys (``_instantiator``, ``_class_path``) are left out.

    Args:
        hparams: the saved hyper-parameters.
        source: what to name in an error (the checkpoint's path).

    Raises:
        ConfigError: not a mapping, or a key of neither layout (one line, with how to convert).
    """
    if not isinstance(hparams, Mapping):
        kind = type(hparams).__name__
        raise ConfigError(f"{source}: unreadable hyper_parameters (a {kind}); {HOW_TO}")
    hparams = {k: v for k, v in hparams.items() if k not in LIGHTNING_KEYS}
    if not is_flat(hparams):
        unknown = sorted(set(hparams) - set(GROUPS) - SHARED)
        if unknown:
            raise ConfigError(f"{source}: unknown hyper-parameters {', '.join(unknown)}; {HOW_TO}")
        return hparams
    unknown = sorted(set(hparams) - set(FLAT_OPTIONS) - DROPPED - SHARED)
    if unknown:
        raise ConfigError(
            f"{source}: unknown hyper-parameters {', '.join(unknown)} of the flat layout; {HOW_TO}"
        )
    out: dict[str, Any] = {k: hparams[k] for k in SHARED if k in hparams}
    for name, value in hparams.items():
        if name in FLAT_OPTIONS:
            group, field = FLAT_OPTIONS[name]
            out.setdefault(group, {})[field] = value
    return out


def read_checkpoint(checkpoint: str | Path | IO[bytes]) -> Mapping[str, Any]:
    """A checkpoint's top-level dict, loaded weights-only (no pickled code ever runs).

    A path is read memory-mapped (the tensors stay on disk); a file object is read and rewound.

    Raises:
        ConfigError: the file is empty, truncated, not a torch checkpoint, holds pickled objects
            or code, or is not a dict (one line that names the file and says which).
    """
    source = str(checkpoint) if isinstance(checkpoint, (str, Path)) else "the checkpoint"
    try:
        raw = _load(checkpoint)
    except Exception as err:  # pickle errors come in many types; all mean "not loadable"
        raise ConfigError(f"cannot read checkpoint {source}: {_why(checkpoint, err)}") from err
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source} is not a Lightning checkpoint (a dict); {HOW_TO}")
    return raw


def read_hparams(checkpoint: str | Path | IO[bytes]) -> dict[str, Any]:
    """A checkpoint's ``hyper_parameters`` in the grouped layout ({} when it has none).

    Raises:
        ConfigError: the file is not a weights-only torch checkpoint (``read_checkpoint``), or its
            hyper-parameters are of no known layout.
    """
    source = str(checkpoint) if isinstance(checkpoint, (str, Path)) else "the checkpoint"
    raw = read_checkpoint(checkpoint)
    return grouped_hparams(raw.get("hyper_parameters") or {}, source)


def load_kwargs(checkpoint: str | Path | IO[bytes], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The module arguments to rebuild a checkpoint's module with: its own, then ``overrides``.

    A group given in ``overrides`` as a dict changes only the fields it names
    (``diffusion={"inference_noise": False}``); any other override replaces the saved value.
    """
    kwargs = read_hparams(checkpoint)
    for name, value in overrides.items():
        if name in GROUPS and isinstance(value, Mapping):
            value = {**(kwargs.get(name) or {}), **value}
        kwargs[name] = value
    return kwargs


def _load(checkpoint: str | Path | IO[bytes]) -> Any:
    """``torch.load`` with weights only: memory-mapped from a path when its format allows."""
    if isinstance(checkpoint, (str, Path)):
        try:
            return torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # not the zip format: mmap cannot read it, a plain load may
            return torch.load(checkpoint, map_location="cpu", weights_only=True)
    start = checkpoint.tell()
    raw = torch.load(checkpoint, map_location="cpu", weights_only=True)
    checkpoint.seek(start)
    return raw


def _why(checkpoint: str | Path | IO[bytes], err: Exception) -> str:
    """Why ``torch.load`` failed, in words: empty, truncated, pickled code, or not a checkpoint."""
    text = str(err)
    if isinstance(checkpoint, (str, Path)):
        path = Path(checkpoint)
        if path.is_dir():
            return "it is a folder; name a .ckpt file in it (or `last`)"
        if not path.is_file():
            return "the file does not exist"
        if path.stat().st_size == 0:
            return "the file is empty (0 bytes): it was never written completely; use another one"
    unsafe = re.search(r"GLOBAL (\S+)", text)
    if unsafe:
        return (
            f"it holds pickled code or objects ({unsafe.group(1)}) that dmtl never loads "
            "(torch.load weights_only=True); a checkpoint holds only tensors and plain values"
        )
    is_zip = isinstance(checkpoint, (str, Path)) and _starts_with(Path(checkpoint), ZIP_START)
    if is_zip or "central directory" in text or "zip archive" in text:
        return (
            "the file is truncated or corrupt (an incomplete torch zip archive): it was not "
            "completely written or copied; use another one"
        )
    if isinstance(checkpoint, (str, Path)) and _starts_with(Path(checkpoint), PICKLE_START):
        return "it is a pickle that is not a torch checkpoint; dmtl never unpickles objects"
    return f"it is not a torch checkpoint written by dmtl or Lightning; {HOW_TO}"


def _starts_with(path: Path, prefix: bytes) -> bool:
    with open(path, "rb") as file:
        return file.read(len(prefix)) == prefix
