"""Independent NumPy references of the metrics, computed over all batches at once."""

from __future__ import annotations

import numpy as np
import torch
from metric_cases import IGNORE, WITHIN_DEG


def _cat(batches: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[np.ndarray, np.ndarray]:
    preds = torch.cat([p for p, _ in batches]).numpy().astype(np.float64)
    targets = torch.cat([t for _, t in batches]).numpy()
    return preds, targets


def np_segmentation(batches, num_classes: int) -> dict[str, float]:
    logits, target = _cat(batches)
    pred = logits.argmax(axis=1).ravel()
    gt = target.ravel()
    keep = gt != IGNORE
    pred, gt = pred[keep], gt[keep]
    ious = []
    for c in range(num_classes):
        union = np.logical_or(pred == c, gt == c).sum()
        if union > 0:
            ious.append(np.logical_and(pred == c, gt == c).sum() / union)
    return {"miou": 100 * float(np.mean(ious)), "pixel_acc": 100 * float(np.mean(pred == gt))}


def np_depth(batches) -> dict[str, float]:
    pred, gt = _cat(batches)
    keep = gt > 0
    p, g = pred[keep], gt[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(p > 0, np.maximum(p / g, g / p), np.inf)
    return {
        "abs_err": float(np.mean(np.abs(p - g))),
        "rel_err": float(np.mean(np.abs(p - g) / g)),
        "rmse": float(np.sqrt(np.mean((p - g) ** 2))),
        "delta1": 100 * float(np.mean(ratio < 1.25)),
    }


def np_normal_angles(batches) -> np.ndarray:
    pred, gt = _cat(batches)
    gt = gt.astype(np.float64)
    keep = np.any(gt != 0, axis=1)
    norm = np.linalg.norm(pred, axis=1, keepdims=True)
    unit = np.divide(pred, norm, out=np.zeros_like(pred), where=norm > 0)
    cos = np.clip(
        np.sum(unit * gt / np.linalg.norm(gt, axis=1, keepdims=True).clip(1e-300), 1), -1, 1
    )
    return np.degrees(np.arccos(cos))[keep]


def np_normals(batches) -> dict[str, float]:
    angles = np_normal_angles(batches)
    out = {
        "mean": float(angles.mean()),
        "median": float(np.median(angles)),
        "rmse": float(np.sqrt(np.mean(angles**2))),
    }
    for t in WITHIN_DEG:
        out[f"within_{t:g}"] = 100 * float(np.mean(angles < t))
    return out


def _np_dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Square dilation of a (N, H, W) bool mask by shifting (independent of max-pooling)."""
    height, width = mask.shape[-2:]
    padded = np.pad(mask, ((0, 0), (radius, radius), (radius, radius)))
    out = np.zeros_like(mask)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out |= padded[:, dy : dy + height, dx : dx + width]
    return out


def np_boundary(batches, thresholds, radius: int) -> dict[str, float]:
    logits, target = _cat(batches)
    logits, target = logits[:, 0], target[:, 0]
    prob = 1.0 / (1.0 + np.exp(-logits))
    valid = target != IGNORE
    gt = valid & (target == 1)
    gt_near = _np_dilate(gt, radius)
    best_f, best_t = -1.0, None
    for t in thresholds:
        edge = valid & (prob >= t)
        precision = (edge & gt_near).sum() / max(edge.sum(), 1)
        recall = (gt & _np_dilate(edge, radius)).sum() / gt.sum()
        f = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
        if f > best_f:
            best_f, best_t = f, t
    return {"f1": 100 * best_f, "threshold": best_t}


def np_thin(mask: np.ndarray) -> np.ndarray:
    """Guo–Hall parallel thinning of one (H, W) map, pixel by pixel from the published rules."""
    img = mask.astype(bool).copy()
    height, width = img.shape

    def at(r: int, c: int) -> bool:
        return 0 <= r < height and 0 <= c < width and bool(img[r, c])

    while True:
        removed_any = False
        for first in (True, False):
            remove = []
            for r in range(height):
                for c in range(width):
                    if not img[r, c]:
                        continue
                    # p1..p8: E, NE, N, NW, W, SW, S, SE.
                    p = [
                        at(r, c + 1),
                        at(r - 1, c + 1),
                        at(r - 1, c),
                        at(r - 1, c - 1),
                        at(r, c - 1),
                        at(r + 1, c - 1),
                        at(r + 1, c),
                        at(r + 1, c + 1),
                    ]
                    ring = p + [p[0]]
                    xh = sum(
                        1 for i in (0, 2, 4, 6) if not ring[i] and (ring[i + 1] or ring[i + 2])
                    )
                    n1 = sum(1 for i in (0, 2, 4, 6) if ring[i] or ring[i + 1])
                    n2 = sum(1 for i in (1, 3, 5, 7) if ring[i] or ring[i + 1])
                    if first:
                        g3 = not ((p[1] or p[2] or not p[7]) and p[0])
                    else:
                        g3 = not ((p[5] or p[6] or not p[3]) and p[4])
                    if xh == 1 and 2 <= min(n1, n2) <= 3 and g3:
                        remove.append((r, c))
            for r, c in remove:
                img[r, c] = False
            removed_any |= bool(remove)
        if not removed_any:
            return img
