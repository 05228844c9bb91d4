"""Execution options that change the speed of the network, never its function.

- ``to_channels_last``: NHWC memory for the convolution weights (and, by the caller, the inputs);
  cuDNN's fastest bf16/fp16 convolution kernels (tensor cores) read NHWC.
- ``compile_network``: ``torch.compile`` of the network's parts, each on its own so that the
  parameter names (and so checkpoints) stay as they are and the graph breaks fall between parts.

Why the parts are compiled separately, and the denoising network with dynamic shapes: the
backbone, neck, initial decoders and condition fusion see the whole batch, whose size is fixed in
training (``drop_last``) and changes at most once in evaluation (the last batch), so they are
compiled for static shapes (an evaluation tail batch costs one more compilation). The denoising
network in training sees only the labelled (sample, task) pairs; how many a task has changes from
batch to batch, and a static graph would be recompiled for every new count until the recompile
limit sends the rest back to eager mode. It is compiled with dynamo's automatic dynamic shapes
(``dynamic=None``): the first call is compiled static; when a pair count changes, the one
recompilation marks exactly the dimensions that changed (the pair counts) as symbolic, and that
graph serves every later batch. (``dynamic=True`` would make every dimension symbolic, spatial
sizes and channels too, and tracing the chain that way took minutes on a CPU; counts of 0 and 1
are still specialised, and a batch without a task is a different dict: a few graphs at most.)
Training and evaluation mode are separate graphs too. Selecting the labelled rows (``nonzero``: a
shape that depends on data) and drawing the noise (a ``torch.Generator``) stay outside the
compiled parts, in eager code, as does the upsampling of the predictions to the image size.
"""

from __future__ import annotations

import torch
from torch import nn

COMPILE_BACKENDS = ("inductor", "aot_eager", "eager")


def to_channels_last(module: nn.Module) -> nn.Module:
    """Convert every 4-D parameter and buffer of ``module`` to NHWC memory, in place."""
    return module.to(memory_format=torch.channels_last)


def channels_last_input(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) image in NHWC memory (same values, same shape)."""
    return image.contiguous(memory_format=torch.channels_last)


def compile_network(net: nn.Module, backend: str = "inductor") -> nn.Module:
    """Compile the parts of a ``MultiTaskNet``/``DiffusionMTLNet`` in place (``nn.Module.compile``).

    Args:
        net: the network; its state-dict keys do not change.
        backend: ``inductor`` (generated kernels), ``aot_eager`` (the traced graphs run by eager
            kernels: checks tracing without a C++/Triton compiler) or ``eager``.

    Returns:
        ``net`` itself.
    """
    if backend not in COMPILE_BACKENDS:
        raise ValueError(f"unknown compile backend {backend!r}; use one of {COMPILE_BACKENDS}")
    # One graph for the trunk (backbone, neck, every task decoder): the decoders share a code
    # object, so compiled one by one they would use up dynamo's recompile limit on each other.
    net.initial = torch.compile(net.initial, backend=backend, dynamic=False)
    condition = getattr(net, "condition", None)
    if condition is not None:
        condition.compile(backend=backend, dynamic=False)
    mtd = getattr(net, "mtd", None)
    if mtd is not None:
        mtd.compile(backend=backend, dynamic=None)
    return net
