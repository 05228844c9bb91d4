"""The chain's noise from one source: a ``NoiseSource`` the module hands down.

The Lightning module decides where each forward's noise comes from and builds one ``NoiseSource``:
per training step (``training``: a generator seeded by the noise seed, the step and the rank), per
inference seed in evaluation (``evaluation``: each image's own maps keyed by its identity, or maps
shared by the batch), or none (``zero``: the ablation without diffusion, or evaluation without
noise). The network and ``MTDNet`` only forward it; the network asks it once per forward for the
chain's S maps of every task (``draw``), and nothing else draws the chain's noise. No attribute is
changed to switch seeds. The pattern is diffusers' schedulers', whose ``step`` takes the generator a
caller hands it and draws nothing else.
"""

from dmtl.noise.hashed import hashed_normal, identity_seeds, stable_seed
from dmtl.noise.source import NoiseSource, run_noise_seed, training_seed

__all__ = [
    "NoiseSource",
    "hashed_normal",
    "identity_seeds",
    "run_noise_seed",
    "stable_seed",
    "training_seed",
]
