"""cae-denoise: train, evaluate, compare and apply convolutional-autoencoder image denoisers.

The public API is importable from here; heavy modules (torch) load on first use, so that
``import cae_denoise``, ``cae_denoise.__version__`` and ``cae-denoise --help`` stay instant.

>>> import cae_denoise
>>> clean = cae_denoise.denoise(noisy_uint8_photo)  # same shape, dtype and range as the input
>>> from cae_denoise import TrainConfig, train, evaluate_specs, load_model
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import Any

from .errors import CaeDenoiseError

try:
    __version__ = metadata.version("cae-denoise")
except metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "unknown"

#: Public name -> module that defines it.
_EXPORTS = {
    "denoise": "api",
    "TrainConfig": "config",
    "train": "training.loop",
    "evaluate_specs": "evaluation.evaluate",
    "evaluate_methods": "evaluation.evaluate",
    "paired_difference": "evaluation.stats",
    "run_experiment": "training.experiment",
    "load_model": "models.checkpoint",
    "load_checkpoint": "models.checkpoint",
    "denoise_array": "models.inference",
    "denoise_files": "denoising",
    "train_and_evaluate": "training.pipeline",
    "create_model": "models.architectures",
    "list_models": "models.architectures",
    "register_model": "models.architectures",
    "load_source": "data.sources",
    "GaussianNoise": "noise.models",
    "CameraNoise": "noise.models",
    "parse_noise": "noise.models",
    "estimate_noise_sigma": "noise.estimate",
    "image_metrics": "evaluation.metrics",
    "classical_denoiser": "evaluation.classical",
}

__all__ = ["CaeDenoiseError", "__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cae_denoise' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
