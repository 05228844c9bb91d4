"""Jacobian descent (dmtl.losses.aggregation) against a row-by-row autograd oracle."""

import importlib.util

import pytest
import torch
from torch import nn
from torchjd.aggregation import MGDA, UPGrad

from dmtl.errors import ConfigError
from dmtl.losses.aggregation import (
    AGGREGATORS,
    JacobianDescent,
    check_installed,
    check_trainer,
    graph_leaves,
)


class _Net(nn.Module):
    """A shared trunk, two heads, and a parameter no objective uses."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.trunk = nn.Parameter(torch.randn(4, 5, generator=g))
        self.head_a = nn.Parameter(torch.randn(5, generator=g))
        self.head_b = nn.Parameter(torch.randn(5, generator=g))
        self.unused = nn.Parameter(torch.randn(3, generator=g))

    def objectives(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = torch.tanh(x @ self.trunk)
        return {
            "a": ((h @ self.head_a) - 1).pow(2).mean(),
            "b": ((h @ self.head_b) + 2).pow(2).mean(),
            "zero": 0.0 * (h @ self.head_b).sum(),  # in the graph, an exactly zero gradient
        }


def _oracle(net: _Net, x: torch.Tensor, aggregator) -> tuple[torch.Tensor, list[str]]:
    """Each objective's gradient by its own autograd call, the zero rows dropped, aggregated."""
    params = [net.trunk, net.head_a, net.head_b]
    rows, names = [], []
    for name, value in net.objectives(x).items():
        grads = torch.autograd.grad(value, params, allow_unused=True, retain_graph=True)
        row = torch.cat([(g if g is not None else torch.zeros_like(p)).flatten()
                         for g, p in zip(grads, params, strict=True)])  # fmt: skip
        if bool(row.abs().sum() > 0):
            rows.append(row)
            names.append(name)
    jacobian = torch.stack(rows)
    return aggregator(len(rows), jacobian.device)(jacobian), names


@pytest.mark.parametrize("name", list(AGGREGATORS))
def test_the_step_is_the_aggregate_of_the_row_by_row_jacobian(name):
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))
    net = _Net()
    expected, names = _oracle(net, x, AGGREGATORS[name])
    weights = JacobianDescent(name).backward(net.objectives(x), list(net.parameters()))
    got = torch.cat([net.trunk.grad.flatten(), net.head_a.grad.flatten(),
                     net.head_b.grad.flatten()])  # fmt: skip
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert names == ["a", "b"]
    assert set(weights) <= {"a", "b"}  # the zero row was left out
    assert net.unused.grad is None  # outside the graph: no gradient, as after backward()
    assert not any(hasattr(p, "jac") for p in net.parameters())  # nothing left behind


def test_upgrad_of_agreeing_rows_is_the_sum_and_of_one_row_its_gradient():
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(2))
    net = _Net()
    (plain,) = torch.autograd.grad(net.objectives(x)["a"], [net.trunk])
    JacobianDescent("upgrad").backward({"a": net.objectives(x)["a"]}, [net.trunk])
    torch.testing.assert_close(net.trunk.grad, plain)
    net.trunk.grad = None
    a = net.objectives(x)["a"]
    JacobianDescent("upgrad").backward({"a": a, "a_again": a * 1.0}, [net.trunk])
    torch.testing.assert_close(net.trunk.grad, 2 * plain)  # no conflict: the equal weighting's


def test_a_zero_row_would_stop_mgda_and_is_left_out():
    """The partial-label pitfall: an absent task's zero row puts the origin in MGDA's hull."""
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(3))
    net = _Net()
    objectives = net.objectives(x)
    rows = [torch.autograd.grad(objectives[n], [net.trunk], retain_graph=True)[0].flatten()
            for n in ("a", "b")]  # fmt: skip
    with_zero = torch.stack([rows[0], rows[1], torch.zeros_like(rows[0])])
    assert float(MGDA()(with_zero).norm()) == 0.0
    JacobianDescent("mgda").backward(objectives, [net.trunk])
    torch.testing.assert_close(net.trunk.grad.flatten(), MGDA()(torch.stack(rows)))
    assert float(net.trunk.grad.norm()) > 0
    # UPGrad's weights with the ones preference: the row of the zero is absent, not 0
    assert UPGrad(pref_vector=torch.ones(2))(torch.stack(rows)).shape == rows[0].shape


def test_no_row_left_writes_no_gradient():
    net = _Net()
    x = torch.randn(2, 4)
    assert JacobianDescent("upgrad").backward({"zero": net.objectives(x)["zero"]},
                                              list(net.parameters())) == {}  # fmt: skip
    assert all(p.grad is None for p in net.parameters())
    assert not any(hasattr(p, "jac") for p in net.parameters())
    assert JacobianDescent("upgrad").backward({"constant": torch.tensor(1.0)}, []) == {}


def test_graph_leaves_are_the_parameters_the_objectives_reach():
    net = _Net()
    objectives = net.objectives(torch.randn(2, 4))
    assert graph_leaves([objectives["a"]]) == {id(net.trunk), id(net.head_a)}
    assert id(net.unused) not in graph_leaves(objectives.values())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"precision": "16-mixed"}, "has no fp16 loss scaling"),
        ({"gradient_clip_val": 10}, "--trainer.gradient_clip_val=10"),
        ({"accumulate_grad_batches": 2}, "--trainer.accumulate_grad_batches=2"),
        ({"compile": True}, "--model.speed.compile=false"),
        ({"world_size": 2}, "runs on one process"),
    ],
)
def test_settings_jacobian_descent_cannot_honour_are_refused(options, message):
    with pytest.raises(ConfigError, match=message):
        check_trainer("upgrad", **options)
    check_trainer("upgrad", precision="bf16-mixed", gradient_clip_val=None)  # allowed


def test_a_missing_torchjd_is_one_line_with_the_pip_command(monkeypatch):
    found = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "quadprog" else found(n, *a)
    )
    line = r"needs quadprog, not installed: pip install 'dmtl\[jd\]'"
    with pytest.raises(ConfigError, match=line):
        check_installed("upgrad")
    check_installed("mgda")  # MGDA needs no QP solver
    with pytest.raises(ConfigError, match="unknown Jacobian aggregator"):
        JacobianDescent("gradnorm")
