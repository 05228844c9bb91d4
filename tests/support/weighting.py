"""Per-task batch losses of random partially labelled batches, for the loss weighting tests."""

from __future__ import annotations

import torch

NAMES = ["a", "b", "c"]


def batch_losses(per_sample: list[list[float]], labelled: list[list[bool]]):
    """L_t = Σ_{i labelled for t} ℓ_it / n_t by loops, and n_t, as (K,) tensors."""
    losses, counts = [], []
    for t in range(len(per_sample[0])):
        values = [per_sample[i][t] for i in range(len(per_sample)) if labelled[i][t]]
        losses.append(sum(values) / max(len(values), 1))
        counts.append(len(values))
    return torch.tensor(losses), torch.tensor(counts, dtype=torch.float)


def random_batch(g: torch.Generator, b: int = 4, absent: tuple[int, ...] = ()):
    """Per-sample losses ℓ (B, K) and labels (B, K) as lists; tasks ``absent`` never labelled."""
    per_sample = (torch.rand(b, len(NAMES), generator=g) * 3 + 0.1).tolist()
    labelled = (torch.rand(b, len(NAMES), generator=g) < 0.5).tolist()
    for i in range(b):
        labelled[i][i % len(NAMES)] = True  # every sample labels at least one task
        for t in absent:
            labelled[i][t] = False
    return per_sample, labelled


def loss_steps(seed: int = 2, count: int = 8) -> list[tuple[list[float], list[float]]]:
    """(L_t, n_t) of ``count`` steps; task b is absent from every third step."""
    g = torch.Generator().manual_seed(seed)
    steps = []
    for j in range(count):
        per_sample, labelled = random_batch(g, b=3, absent=(1,) if j % 3 == 1 else ())
        losses, counts = batch_losses(per_sample, labelled)
        steps.append((losses.tolist(), counts.tolist()))
    return steps
