"""What one training step minimises, for each kind of training data (``training/tasks.py`` picks one per run).

- ``synthetic``: clean patches get fresh seeded noise (``noise/models.py``); loss MSE(model(noisy), clean). A model
  that takes a noise level estimates it from each noisy patch, as it does from a photo at inference. (Telling
  it the level of the noise alone, without the texture that raises the estimate on a photo, trained it on
  levels lower than those it is told at inference: 0.6 dB worse on camera noise in a 2000-step trial.) A model
  with a learned estimator (``models.LevelEstimator``) is told instead the true level of each patch's noise
  (the rms of noisy - clean, 0-255), as FFDNet is, so the level it is told carries what the pixels alone do
  not; its estimator learns that same true level beside it (``level_error``, weighted ``ESTIMATOR_WEIGHT``).
- ``pairs``: real noisy/clean crops taken at the same place (``data/pairs.py``); the same loss, no noise added.
- ``self-supervised``: noisy patches alone, Neighbor2Neighbor (Huang et al., CVPR 2021). Each 2x2 cell of a
  noisy patch gives two different neighbouring pixels, one to each of two half-size sub-images g1 and g2
  (never the same pixel), whose noise is independent while their signal is almost equal. The model learns
  to map g1 to g2: ``|f(g1) - g2|^2 + gamma * |f(g1) - g2 - (g1(f(y)) - g2(f(y)))|^2``, the second term (with
  ``f(y)`` computed without gradients on the whole patch) correcting for the small signal difference between
  neighbours. ``gamma`` rises linearly from 0 to ``NEIGHBOR2NEIGHBOR_GAMMA`` over the run, as in the paper.

Model side: NCHW tensors. ``prepare`` draws every random choice on the CPU from the run's generator (so runs
are seeded and resumable exactly); ``loss`` runs on the training device.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as functional
from torch import nn

from ..data.neighbours import neighbour_choices, subsample
from ..models.architectures import learns_level
from ..noise.models import NoiseModel

#: The regulariser's final weight (the paper's setting for Gaussian and real noise).
NEIGHBOR2NEIGHBOR_GAMMA = 2.0
#: Weight of a learned level estimator's error (``level_error``, about 1 untrained) beside the MSE (about 1e-3):
#: the estimator's weights are its own, so this mostly keeps its gradients from dominating a clipped norm.
ESTIMATOR_WEIGHT = 1e-3


class Objective(Protocol):
    """A training objective: ``prepare`` a CPU batch into tensors, then the ``loss`` of a network on them."""

    def prepare(self, batch: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]: ...

    def loss(self, network: nn.Module, *tensors: torch.Tensor, progress: float) -> torch.Tensor: ...


def true_level(noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """The rms of each sample's noise (noisy - clean) on the 0-255 scale: N values."""
    return (noisy.float() - clean.float()).square().mean(dim=(1, 2, 3)).sqrt() * 255.0


def level_error(estimate: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """How far estimated levels are from the true ones: the mean squared difference of ``log(1 + level / 5)``,
    relative for strong noise and near-absolute for faint noise (where a clean photo must read as clean)."""
    return (torch.log1p(estimate.float() / 5.0) - torch.log1p(truth / 5.0)).square().mean()


def _unwrapped(network: nn.Module) -> nn.Module:
    """The model inside DDP (``module``) and ``torch.compile`` (``_orig_mod``) wrappers."""
    while isinstance(getattr(network, "module", None), nn.Module) or hasattr(network, "_orig_mod"):
        network = network.module if isinstance(getattr(network, "module", None), nn.Module) else network._orig_mod
    return network


class _Supervised:
    """MSE between the network's output on noisy patches and the clean ones (and, for a model with a learned
    level estimator, the estimator's error on the true level, which that model is told)."""

    def loss(self, network: nn.Module, noisy: torch.Tensor, clean: torch.Tensor, *, progress: float) -> torch.Tensor:
        if not learns_level(_unwrapped(network)):
            return functional.mse_loss(network(noisy).float(), clean)
        truth = true_level(noisy, clean)
        denoised, estimate = network(noisy, truth, with_estimate=True)
        return functional.mse_loss(denoised.float(), clean) + ESTIMATOR_WEIGHT * level_error(estimate, truth)


class SyntheticNoise(_Supervised):
    """Supervised on clean patches with noise drawn per sample (the built-in way)."""

    def __init__(self, noise: NoiseModel) -> None:
        self.noise = noise

    def prepare(self, batch: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        return self.noise.add_to_batch(batch, generator), batch


class RealPairs(_Supervised):
    """Supervised on real pairs: a batch holds clean (channels 0-2) and noisy (3-5) crops of the same place."""

    def prepare(self, batch: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        return batch[:, 3:].contiguous(), batch[:, :3].contiguous()


class Neighbor2Neighbor:
    """Self-supervised on noisy patches alone (see the module docstring)."""

    def prepare(self, batch: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        return batch, neighbour_choices((batch.shape[0], batch.shape[2], batch.shape[3]), generator)

    def loss(self, network: nn.Module, noisy: torch.Tensor, choices: torch.Tensor, *, progress: float) -> torch.Tensor:
        first, second = subsample(noisy, choices)
        output = network(first).float()
        with torch.no_grad():
            whole_first, whole_second = subsample(network(noisy).float(), choices)
        gamma = NEIGHBOR2NEIGHBOR_GAMMA * progress
        reconstruction = functional.mse_loss(output, second.float())
        regulariser = functional.mse_loss(output - second.float(), whole_first - whole_second)
        return reconstruction + gamma * regulariser
