"""The training-term door of the Lightning system: a registered term is built, added, logged, and
told of each optimiser step once (not once per accumulated batch)."""

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader

from dmtl.config import NetworkConfig
from dmtl.module import DiffusionMTLModule
from dmtl.terms import TERMS, TermInputs, TermOutput, TrainingTerm


class ConstantTerm(TrainingTerm):
    """A term worth ``value`` times the mean of the first task's predictions; counts its calls."""

    name = "constant"

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value
        self.calls = 0
        self.steps: list[int] = []
        self.seen: list[TermInputs] = []

    def forward(self, inputs: TermInputs) -> TermOutput:
        self.calls += 1
        self.seen.append(inputs)
        first = next(iter(inputs.out.predictions.values()))
        total = self.value * first.mean()
        return TermOutput(total, {"twice": 2 * total.detach()})

    def after_optimizer_step(self, student):
        self.steps.append(len(self.steps))


def _register(monkeypatch, value):
    built = []

    def builder(specs, groups, net):
        built.append(ConstantTerm(value))
        return built[-1]

    monkeypatch.setitem(TERMS, "constant", builder)
    return built


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    b, h, w = 4, 32, 40
    return {
        "image": torch.randn(b, 3, h, w, generator=g),
        "targets": {
            "semseg": torch.randint(0, 13, (b, h, w), generator=g),
            "depth": torch.rand(b, 1, h, w, generator=g) + 1,
            "normals": torch.nn.functional.normalize(torch.randn(b, 3, h, w, generator=g), dim=1),
        },
        "labelled": torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], dtype=torch.bool),
    }


def test_a_registered_term_is_added_to_the_supervised_loss(monkeypatch):
    built = _register(monkeypatch, 3.0)
    torch.manual_seed(0)
    module = DiffusionMTLModule(network=NetworkConfig(embed_dim=16))
    term = built[0]
    assert list(module.terms) == ["constant"] and module.terms["constant"] is term
    logged = {}
    module.log = lambda name, value, **k: logged.__setitem__(name, value)
    batch = _batch()
    torch.manual_seed(1)
    with_term = module.training_step(batch, 0)
    inputs = term.seen[-1]
    first = next(iter(inputs.out.predictions.values()))
    expected = logged["train/loss/constant"]
    assert torch.equal(expected, 3.0 * first.mean())
    assert torch.equal(logged["train/loss/constant/twice"], 2 * expected.detach())
    # the supervised part is what the module gives without the term, at the same noise
    module.terms = torch.nn.ModuleDict()
    torch.manual_seed(1)
    without = module.training_step(batch, 0)
    assert torch.allclose(with_term, without + expected, rtol=0, atol=1e-6)
    # the second view runs the same network
    again = inputs.predict(batch["image"])
    assert set(again.predictions) == {"semseg", "depth", "normals"}


def test_the_terms_hear_of_each_optimiser_step_once_under_accumulation(monkeypatch, tmp_path):
    built = _register(monkeypatch, 0.0)
    module = DiffusionMTLModule(network=NetworkConfig(embed_dim=16, backbone="resnet18"))
    batches = [_batch(i) for i in range(4)]
    trainer = pl.Trainer(
        max_steps=2,
        accumulate_grad_batches=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        default_root_dir=tmp_path,
    )
    loader = DataLoader(batches, batch_size=None)
    trainer.fit(module, train_dataloaders=loader)
    term = built[0]
    assert term.calls == 4  # every batch
    assert term.steps == [0, 1]  # every optimiser step
    assert term.seen[-1].total_steps == 2
