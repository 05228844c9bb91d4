"""Convert a released DiffusionMTL checkpoint into a Lightning checkpoint of ``DiffusionMTLModule``.

``dmtl convert-checkpoint SRC DST`` reads the released state dict (plain, or under ``model``,
with or without DDP's ``module.`` prefixes) with ``torch.load(weights_only=True)``, so no pickled
code runs; renames every tensor to the module's names (docs/released.md); checks the released
diffusion-schedule buffers against the schedule dmtl recomputes and drops them; and writes a
checkpoint with ``state_dict``, ``hyper_parameters`` (the paper-exact network, read off the
tensors' shapes) and the Lightning version, which ``dmtl test|validate|predict --ckpt_path DST``
loads. Missing, unexpected or misshapen tensors stop the conversion with a ``DataError`` that
lists them.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from dmtl.config import GROUPS, EvaluationConfig
from dmtl.config.groups import as_group, group_dict
from dmtl.data.datasets import dataset_info
from dmtl.diffusion import GaussianDiffusion
from dmtl.errors import ConfigError, DataError, MissingDataError
from dmtl.released.recipe import DATASET, released_recipe

COMMAND = "convert-checkpoint"
DDP_PREFIX = "module."
SCHEDULE_PREFIX = "diffusion_model."
SCHEDULE_RTOL = 1e-5
MAX_LISTED = 20  # names shown in an error; the count says how many more

# released name -> module name, first match wins; τ is any task name.
RENAMES: tuple[tuple[str, str], ...] = (
    (r"backbone\.(.+)", r"net.backbone.model.\1"),
    (r"backbone_embed\.(weight|bias)", r"net.neck.proj.\1"),
    (r"preliminary_dec\.(\w+)\.(\d+)\.(.+)", r"net.decoders.\1.blocks.\2.\3"),
    (r"preliminary_head\.(\w+)\.0\.(weight|bias)", r"net.decoders.\1.head.\2"),
    (r"diffusion_model\.pred_combinator\.out_layer\.(.+)", r"net.condition.fuse.\1"),
    (r"diffusion_model\.denoiser\.t_embedder\.mlp\.(.+)", r"net.mtd.denoiser.time_mlp.\1"),
    (r"diffusion_model\.denoiser\.pre_layer\.(.+)", r"net.mtd.denoiser.inputs.\1"),
    (r"diffusion_model\.denoiser\.crossblocks\.(.+)", r"net.mtd.denoiser.blocks.\1"),
    (r"diffusion_model\.denoiser\.task_heads\.(.+)", r"net.mtd.denoiser.heads.\1"),
    (
        r"diffusion_model\.denoiser\.final_task_heads\.(\w+)\.linear_pred\.(.+)",
        r"net.mtd.heads.\1.\2",
    ),
)
# The released schedule buffers that dmtl does not keep, as functions of its own buffers.
EXTRA_SCHEDULE = {
    "log_one_minus_alphas_cumprod": lambda d: (1 - d["alphas_cumprod"]).log(),
    "sqrt_recip_alphas_cumprod": lambda d: d["alphas_cumprod"].rsqrt(),
    "sqrt_recipm1_alphas_cumprod": lambda d: (1 / d["alphas_cumprod"] - 1).sqrt(),
}


def load_released(path: str | Path) -> dict[str, torch.Tensor]:
    """The released state dict, unwrapped from ``{'model': ...}`` and without ``module.``.

    Raises:
        MissingDataError: no such file.
        DataError: not a weights-only torch file, or not a dict of tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"checkpoint {path} does not exist")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle errors come in many types; all mean "not loadable"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"cannot read checkpoint {path} with weights_only=True: {first}") from err
    if isinstance(raw, Mapping) and isinstance(raw.get("model"), Mapping):
        raw = raw["model"]
    if not isinstance(raw, Mapping) or not raw:
        raise DataError(f"checkpoint {path} holds no state dict (a dict of tensors)")
    state = {}
    for key, value in raw.items():
        if not isinstance(value, torch.Tensor):
            raise DataError(f"checkpoint {path}: entry {key!r} is not a tensor")
        state[key.removeprefix(DDP_PREFIX)] = value
    return state


def rename(key: str) -> str | None:
    """The module name of a released tensor; ``None`` when no rule knows it."""
    for pattern, target in RENAMES:
        if re.fullmatch(pattern, key):
            return re.sub(pattern, target, key)
    return None


def released_model_args(
    state: Mapping[str, torch.Tensor],
    dataset: str = "pascal_context",
    backbone: str = "resnet18",
    attn_heads: int = 4,
) -> dict[str, Any]:
    """``DiffusionMTLModule`` arguments of the released network: the recipe, sized by the tensors.

    The groups are ``dmtl.released.recipe``'s, with the widths and block counts read off the
    shapes, no ImageNet download (the weights are the checkpoint's) and, outside PASCAL-Context,
    the default evaluation. Tasks are those with a ``preliminary_head``, in the dataset's standard
    order (the order of the condition conv's input channels).

    Raises:
        DataError: a tensor the arguments depend on is missing.
        ConfigError: a task the dataset does not have.
    """
    need = "backbone_embed.weight"
    if need not in state:
        raise DataError(f"the checkpoint has no {need!r}: not a released DiffusionMTL state dict")
    heads = _captures(state, r"preliminary_head\.(\w+)\.0\.weight")
    info = dataset_info(dataset)  # ConfigError for an unknown dataset
    unknown = sorted(heads - set(info.channels))
    if unknown:
        raise ConfigError(f"checkpoint tasks {unknown} are not tasks of dataset {dataset!r}")
    standard = list(info.standard_tasks)
    order = standard + [t for t in info.channels if t not in standard]
    blocks = _captures(state, r"preliminary_dec\.\w+\.(\d+)\..+")
    attn = _captures(state, r"diffusion_model\.denoiser\.crossblocks\.(\d+)\..+")
    betas = state.get(SCHEDULE_PREFIX + "betas")
    tasks = [t for t in order if t in heads]
    recipe = released_recipe()
    loss = recipe["loss"]
    loss.weights = {t: w for t, w in (loss.weights or {}).items() if t in tasks}
    # LightningCLI lets a checkpoint's hyper-parameters override the config's model section, so
    # the evaluation protocol is written here: the literature's for PASCAL-Context (the recipe's).
    evaluation = recipe["evaluation"] if dataset == DATASET else EvaluationConfig()
    groups = {
        **recipe,
        "network": replace(
            recipe["network"],
            backbone=backbone,
            pretrained=False,
            embed_dim=int(state[need].shape[0]),
            decoder_blocks=len(blocks),
        ),
        "diffusion": replace(
            recipe["diffusion"], steps=int(betas.numel()) if betas is not None else 2
        ),
        "denoiser": replace(recipe["denoiser"], attn_blocks=len(attn), attn_heads=attn_heads),
        "evaluation": evaluation,
    }
    return {"dataset": dataset, "tasks": tasks, **groups}


def _captures(state: Mapping[str, torch.Tensor], pattern: str) -> set[str]:
    """The distinct first groups of the keys that match ``pattern`` in full."""
    return {m.group(1) for k in state if (m := re.fullmatch(pattern, k))}


def check_schedule(state: Mapping[str, torch.Tensor], steps: int) -> list[str]:
    """Compare the released schedule buffers with dmtl's linear schedule; return their names.

    Raises:
        DataError: a buffer differs (another schedule or S): the converted network would not be
            the released one.
    """
    ours = {n: b.double() for n, b in GaussianDiffusion(steps, "linear").named_buffers()}
    ours.update({n: f(ours) for n, f in EXTRA_SCHEDULE.items()})
    found = []
    for key, value in state.items():
        if not key.startswith(SCHEDULE_PREFIX) or key.count(".") != 1:
            continue
        name = key.removeprefix(SCHEDULE_PREFIX)
        if name not in ours:
            continue
        if value.shape != ours[name].shape or not torch.allclose(
            value.double(), ours[name], rtol=SCHEDULE_RTOL, atol=0
        ):
            raise DataError(
                f"schedule buffer {key!r} of the checkpoint differs from the linear schedule with "
                f"S = {steps}: {value.tolist()} vs {ours[name].tolist()}"
            )
        found.append(key)
    return found


def convert_state_dict(
    state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], steps: int
) -> dict[str, torch.Tensor]:
    """Rename the released tensors; every one of ``expected`` (name -> tensor/shape) must come.

    Raises:
        DataError: unexpected (unmapped or unknown) or missing tensors, or shape mismatches.
    """
    schedule = set(check_schedule(state, steps))
    out, unexpected, misshapen, seen = {}, [], [], set()
    for key, value in state.items():
        if key in schedule:
            continue
        target = rename(key)
        if target is None or target not in expected:
            unexpected.append(key)
            continue
        seen.add(target)
        if tuple(value.shape) != tuple(expected[target].shape):
            misshapen.append(f"{key} {tuple(value.shape)} vs {tuple(expected[target].shape)}")
            continue
        out[target] = value.detach().clone().contiguous()
    missing = sorted(set(expected) - seen)
    problems = []
    for title, names in (
        ("unexpected tensors", unexpected),
        ("missing tensors", missing),
        ("shape mismatches", misshapen),
    ):
        if names:
            shown = ", ".join(names[:MAX_LISTED])
            more = f" (+{len(names) - MAX_LISTED} more)" if len(names) > MAX_LISTED else ""
            problems.append(f"{len(names)} {title}: {shown}{more}")
    if problems:
        raise DataError("cannot convert the checkpoint: " + "; ".join(problems))
    return out


def module_hparams(args: Mapping[str, Any]) -> dict[str, Any]:
    """Every ``DiffusionMTLModule`` argument as plain data: its default, overridden by ``args``.

    Groups (instances or dicts of some of their fields) come back as dicts of every field.

    Raises:
        ConfigError: an argument the module does not take, or a field its group does not have.
    """
    unknown = sorted(set(args) - set(GROUPS) - {"dataset", "tasks"})
    if unknown:
        raise ConfigError(f"unknown DiffusionMTLModule arguments {unknown}")
    hp: dict[str, Any] = {"dataset": args.get("dataset", "synthetic"), "tasks": args.get("tasks")}
    for name, cls in GROUPS.items():
        hp[name] = group_dict(as_group(cls, args.get(name)))
    return hp


def convert_checkpoint(
    src: str | Path,
    dst: str | Path,
    dataset: str = "pascal_context",
    backbone: str = "resnet18",
    attn_heads: int = 4,
) -> Path:
    """Convert the released checkpoint ``src`` into a Lightning checkpoint at ``dst``.

    Args:
        src: the released ``.pth``/``.pt`` file.
        dst: where to write the Lightning checkpoint (parent folders are created).
        dataset: the dataset whose task set the checkpoint's tasks belong to.
        backbone: timm name of the backbone the checkpoint holds.
        attn_heads: attention heads (not visible in the tensors; the release uses 4).

    Returns:
        ``dst``.
    """
    from dmtl.module import DiffusionMTLModule

    state = load_released(src)
    hparams = module_hparams(released_model_args(state, dataset, backbone, attn_heads))
    with torch.device("meta"):  # names and shapes only, no memory, no init cost
        expected = DiffusionMTLModule(**hparams).state_dict()
    converted = convert_state_dict(state, expected, hparams["diffusion"]["steps"])
    checkpoint = {
        "state_dict": converted,
        "hyper_parameters": hparams,
        "pytorch-lightning_version": pl.__version__,
        "epoch": 0,
        "global_step": 0,
        "dmtl_converted_from": str(Path(src).resolve()),
    }
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, dst)
    return dst


def main(argv: Sequence[str]) -> None:
    """``dmtl convert-checkpoint SRC DST [--dataset D] [--backbone B] [--attn_heads H]``."""
    parser = argparse.ArgumentParser(
        prog=f"dmtl {COMMAND}",
        description="Convert a released DiffusionMTL checkpoint into a dmtl Lightning checkpoint.",
    )
    parser.add_argument("src", help="the released checkpoint (state dict, or {'model': ...})")
    parser.add_argument("dst", help="the Lightning checkpoint to write")
    parser.add_argument(
        "--dataset", default="pascal_context", help="whose task set the checkpoint's tasks are"
    )
    parser.add_argument("--backbone", default="resnet18", help="timm name of the backbone")
    parser.add_argument(
        "--attn_heads", type=int, default=4, help="attention heads (not in the tensors; 4)"
    )
    args = parser.parse_args(list(argv))
    dst = convert_checkpoint(args.src, args.dst, args.dataset, args.backbone, args.attn_heads)
    print(f"wrote {dst}; use it with: dmtl test --config <config> --ckpt_path {dst}")
