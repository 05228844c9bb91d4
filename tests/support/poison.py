"""A training loss made non-finite on chosen calls, for the loss guard's tests."""

import dataclasses

from dmtl.losses.masked import MultiTaskLoss


def poison_depth(monkeypatch, at_calls):
    """Make the depth loss NaN in the given (0-based) training loss calls."""
    forward = MultiTaskLoss.forward
    calls = []

    def poisoned(self, *args, **kwargs):
        out = forward(self, *args, **kwargs)
        calls.append(1)
        if len(calls) - 1 in at_calls:
            per_task = dict(out.per_task, depth=out.per_task["depth"] * float("nan"))
            out = dataclasses.replace(out, total=out.total + per_task["depth"], per_task=per_task)
        return out

    monkeypatch.setattr(MultiTaskLoss, "forward", poisoned)
