"""How a task's prediction map is encoded for prediction diffusion and for the condition feature.

Diffusion adds Gaussian noise of a fixed scale, so every task's map is first brought to a common,
bounded range of about [-1, 1]:

- segmentation (semseg, human parts, saliency): class probabilities, softmax(logits) * 2 - 1;
- boundary: edge probability, sigmoid(logit) * 2 - 1;
- normals: the unit vector, normalize(prediction) (components already in [-1, 1]);
- depth: metres mapped linearly, depth / depth_scale * 2 - 1 (0 m -> -1, depth_scale -> +1).

The encoding is differentiable: in prediction diffusion the denoiser's heads output raw task
predictions (logits, metres, vectors) and their encoding is the chain's estimate x̂_0.

``decode_prediction`` maps an encoded (possibly noisy) map back to raw predictions:
log-probabilities as logits, the logit of the edge probability, the vector itself, metres. It
inverts the encoding up to what the encoding forgets (a constant added to all logits, the length of
a normal vector) and is what the prediction-space input skip of ``MTDNet`` adds its correction to.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dmtl.errors import ConfigError
from dmtl.tasks import TaskSpec

DEFAULT_DEPTH_SCALE = 10.0  # metres: NYUv2's range and the synthetic rooms' far wall
DECODE_EPS = 1e-4  # probabilities are clamped to [eps, 1 - eps] before a log or logit


def encode_prediction(
    spec: TaskSpec, raw: torch.Tensor, depth_scale: float = DEFAULT_DEPTH_SCALE
) -> torch.Tensor:
    """Encode raw predictions (N, C, h, w) of a task into its diffusion space (N, C, h, w).

    Raises:
        ConfigError: a task kind without an encoding.
    """
    if spec.kind == "segmentation":
        return raw.softmax(dim=1) * 2 - 1
    if spec.kind == "boundary":
        return raw.sigmoid() * 2 - 1
    if spec.kind == "normals":
        return F.normalize(raw, dim=1)
    if spec.kind == "depth":
        return raw / depth_scale * 2 - 1
    raise ConfigError(f"no prediction encoding for task kind {spec.kind!r} (task {spec.name!r})")


def decode_prediction(
    spec: TaskSpec, encoded: torch.Tensor, depth_scale: float = DEFAULT_DEPTH_SCALE
) -> torch.Tensor:
    """Raw predictions (N, C, h, w) whose encoding is ``encoded`` (the inverse of the encoding).

    Noisy maps leave [-1, 1]: probabilities are clamped to [``DECODE_EPS``, 1 - ``DECODE_EPS``]
    (segmentation: log p of the clamped, renormalised probabilities; boundary: logit p); depth
    and normals are linear and need no clamp.

    Raises:
        ConfigError: a task kind without an encoding.
    """
    if spec.kind == "segmentation":
        prob = ((encoded + 1) / 2).clamp(DECODE_EPS, 1 - DECODE_EPS)
        return (prob / prob.sum(dim=1, keepdim=True)).log()
    if spec.kind == "boundary":
        return ((encoded + 1) / 2).clamp(DECODE_EPS, 1 - DECODE_EPS).logit()
    if spec.kind == "normals":
        return encoded
    if spec.kind == "depth":
        return (encoded + 1) / 2 * depth_scale
    raise ConfigError(f"no prediction encoding for task kind {spec.kind!r} (task {spec.name!r})")
