"""JTR: Joint-Task Regularization (Nishi, Kim, Li & Pfister, CVPR 2024) as a training term.

Two views of the batch x (= JTR's view 0, the supervised one), x¹ and x² = RandomScaleCrop(x)
with RandAugment-lite, are predicted in one forward of 2B images. Per view v the tasks are stacked
in the joint space (``dmtl.terms.jtr_space``): Ŷ^v holds every task's encoded prediction, Y^v the
encoded label where the sample labels the task and an independent encoding of the prediction where
it does not. Predictions of labelled tasks are detached. With g = (g_θ1, g_θ2) the auto-encoder:

    L_dist1 = 1 - mean_hw cos_c(ḡ_θ1(Y¹), ḡ_θ1(Ŷ¹))     ḡ: the auto-encoder with detached weights
    L_dist2 = 1 - mean_hw cos_c(g_θ1(sg Y²), g_θ1(sg Ŷ²))
    L_rec   = Σ_t rec_t(g(sg Y²)) + rec_t(g(sg Ŷ²))
    L       = α (L_dist1 + λ L_dist2) + λ L_rec, each averaged over the batch

so L_dist1 trains the network through the unlabelled tasks' predictions only, and L_dist2 and
L_rec train the auto-encoder only (docs/jtr.md). The auto-encoder runs on the whole batch at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from dmtl.config.groups import as_group
from dmtl.config.jtr import JTRConfig
from dmtl.data.augment import IMAGENET_MEAN, IMAGENET_STD
from dmtl.models.joint_autoencoder import JointTaskAE
from dmtl.tasks import TaskSpec
from dmtl.terms.base import TermInputs, TermOutput, TrainingTerm
from dmtl.terms.jtr_space import (
    encode_label,
    encode_prediction,
    gumbel_noise,
    joint_mask,
    raw_label,
    reconstruction_loss,
)
from dmtl.terms.predictions import predict_every_sample
from dmtl.terms.randaugment import denormalise, normalise, randaugment_lite
from dmtl.terms.views import draw_boxes, scale_crop

COS_EPS = 1e-12  # the released code's cosine eps
VIEWS = (1, 2)
BRANCHES = ("hat", "label")  # Ŷ, and Y where the task is unlabelled


class JTRTerm(TrainingTerm):
    """JTR's term and its auto-encoder over the tasks ``specs``."""

    name = "jtr"

    def __init__(self, specs: Sequence[TaskSpec], config: JTRConfig) -> None:
        super().__init__()
        self.specs = list(specs)
        self.config = config
        channels = sum(s.channels for s in self.specs)
        self.ae = JointTaskAE(channels, config.widths, per_sample=config.per_sample_ae)
        self.depth = (config.depth_mean, config.depth_std)

    def forward(self, inputs: TermInputs) -> TermOutput:
        cfg, batch = self.config, inputs.batch
        image, g = batch["image"], inputs.generator
        b, size = image.shape[0], tuple(image.shape[-2:])
        views = [
            scale_crop(batch, self.specs, draw_boxes(b, size, cfg.scales, g, image.device),
                       cfg.inverse_depth)
            for _ in VIEWS
        ]  # fmt: skip
        images = torch.cat([v["image"] for v in views])
        if cfg.randaugment:
            plain = denormalise(images, IMAGENET_MEAN, IMAGENET_STD)
            images = normalise(randaugment_lite(plain, g), IMAGENET_MEAN, IMAGENET_STD)
        preds = predict_every_sample(inputs, images, cfg.predictions, len(self.specs))
        preds = [{n: p[k * b : (k + 1) * b] for n, p in preds.items()} for k in range(2)]
        noise = self.draw_gumbel(preds, g)
        y1, yhat1, _, _ = self.joint(1, views[0], preds[0], noise)
        y2, yhat2, mask2, targets = self.joint(2, views[1], preds[1], noise)
        frozen = self.frozen_latents(y1, yhat1)
        dist1 = _distance(*frozen)
        (lat_y, rec_y), (lat_hat, rec_hat) = self.latents(y2.detach(), yhat2.detach())
        dist2 = _distance(lat_y, lat_hat)
        rec = self.reconstruction(rec_y, targets["label"], mask2)
        rec = rec + self.reconstruction(rec_hat, targets["hat"], mask2)
        lam = cfg.recon_weight
        total = cfg.alpha * (dist1.mean() + lam * dist2.mean()) + lam * rec.mean()
        logs = {"dist1": dist1.mean(), "dist2": dist2.mean(), "rec": rec.mean()}
        return TermOutput(total, {k: v.detach() for k, v in logs.items()})

    def draw_gumbel(
        self, preds: list[dict[str, torch.Tensor]], generator: torch.Generator | None
    ) -> dict[tuple[int, str, str], torch.Tensor]:
        """Gumbel noise for each (view, branch, class-id task), drawn in that order."""
        noise = {}
        for v, view in zip(VIEWS, preds, strict=True):
            for branch in BRANCHES:
                for spec in self.specs:
                    if spec.behaviour.class_ids:
                        noise[(v, branch, spec.name)] = gumbel_noise(view[spec.name], generator)
        return noise

    def joint(self, v: int, view: dict, preds: dict, noise: dict):
        """Y^v, Ŷ^v (B, C_in, H, W), the mask M^v and the reconstruction targets (detached).

        Returns:
            Y, Ŷ, M (pooled by ``input_stride``) and ``{"label": [...], "hat": [...]}``: each
            task's target of the reconstruction of Y and of Ŷ.
        """
        cfg, labelled = self.config, view["labelled"].bool()
        mask = joint_mask(self.specs, view["targets"], labelled)
        ys, hats, targets = [], [], {"label": [], "hat": []}
        for k, spec in enumerate(self.specs):
            lab = labelled[:, k].view(-1, 1, 1, 1)
            pred = preds[spec.name]
            pred = torch.where(lab, pred.detach(), pred)
            soft = v == 2 and cfg.soft_view2_segmentation_quirk
            hat_noise, label_noise = (
                noise.get((v, "hat", spec.name)),
                noise.get((v, "label", spec.name)),
            )
            hat = encode_prediction(spec, pred, mask, hat_noise, self.depth, soft=soft)
            guess = encode_prediction(spec, pred, mask, label_noise, self.depth)
            target = view["targets"][spec.name]
            y = torch.where(lab, encode_label(spec, target, self.depth, pred.dtype), guess)
            ys.append(y)
            hats.append(hat)
            if v == 2:
                label_t, hat_t = self._targets(spec, pred, target, lab, mask, hat, y, hat_noise)
                targets["label"].append(self._pool(label_t.detach()))
                targets["hat"].append(self._pool(hat_t.detach()))
        y, hat = self._pool(torch.cat(ys, 1)), self._pool(torch.cat(hats, 1))
        s = cfg.input_stride  # a pooled pixel is valid where all its sources are
        mask = mask if s == 1 else -F.max_pool2d(-mask, s, s, ceil_mode=True)
        return y, hat, mask, targets

    def _targets(self, spec, pred, target, lab, mask, hat, y, hat_noise):
        """The reconstruction targets of the Y and the Ŷ branch of one task (docs/jtr.md)."""
        cfg, space = self.config, spec.behaviour.joint_space
        if space == "probability":
            hard = encode_prediction(spec, pred, mask, hat_noise, self.depth)
            return y, hard
        if space == "direction":
            unit = F.normalize(pred, dim=1) * mask
            label = torch.where(lab, raw_label(spec, target, pred.dtype), unit)
            return label, hat if cfg.mixed_normal_targets_quirk else unit
        label = torch.where(lab, raw_label(spec, target, pred.dtype), pred * mask)
        return label, hat if cfg.double_depth_squash_quirk else pred * mask

    def frozen_latents(self, y: torch.Tensor, hat: torch.Tensor):
        """ḡ_θ1 of Y and Ŷ: gradients reach the inputs, never θ (running statistics discarded)."""
        state = {n: p.detach() for n, p in self.ae.named_parameters()}
        state.update({n: t.clone() for n, t in self.ae.named_buffers()})

        def encode(x):
            return functional_call(self.ae, state, (x,), {"reconstruct": False})

        return self._paired(encode, y, hat)

    def latents(self, y: torch.Tensor, hat: torch.Tensor):
        """(latent, reconstruction logits) of Y and of Ŷ."""
        return self._paired(self.ae, y, hat)

    def _paired(self, fn, y, hat):
        if self.config.per_sample_ae:  # each sample normalised alone: one call for both
            out = fn(torch.cat([y, hat]))
            b = y.shape[0]
            if isinstance(out, tuple):
                return tuple(o[:b] for o in out), tuple(o[b:] for o in out)
            return out[:b], out[b:]
        return fn(y), fn(hat)  # batch statistics of each stack, as the code's separate calls

    def reconstruction(self, logits: torch.Tensor, targets: list, mask: torch.Tensor):
        """Σ_t rec_t per sample (B,) of reconstruction logits split per task."""
        parts = logits.split([s.channels for s in self.specs], dim=1)
        losses = [
            reconstruction_loss(spec, part, target, mask, self.depth)
            for spec, part, target in zip(self.specs, parts, targets, strict=True)
        ]
        return torch.stack(losses).sum(0)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        s = self.config.input_stride
        return x if s == 1 else F.avg_pool2d(x, s, s, ceil_mode=True)


def _distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 - the mean over latent pixels of the cosine over channels, per sample (B,)."""
    return 1 - F.cosine_similarity(a, b, dim=1, eps=COS_EPS).flatten(1).mean(1)


def build_jtr(
    specs: Sequence[TaskSpec], groups: Mapping[str, Any], net: nn.Module
) -> JTRTerm | None:
    """The term when ``jtr.enabled``, else ``None``."""
    config = as_group(JTRConfig, groups.get("jtr"))
    return JTRTerm(specs, config) if config.enabled else None
