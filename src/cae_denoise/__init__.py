"""cae-denoise: train, evaluate, compare and apply convolutional-autoencoder image denoisers.

The public API is importable from here; heavy modules (torch) load on first use, so that
``import cae_denoise`` and ``cae-denoise --help`` stay instant.

>>> from cae_denoise import TrainConfig, train, evaluate_specs, load_model, denoise_array
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import CaeDenoiseError

#: Public name -> module that defines it.
_EXPORTS = {
    "TrainConfig": "config",
    "train": "train",
    "evaluate_specs": "evaluate",
    "evaluate_methods": "evaluate",
    "paired_difference": "stats",
    "run_experiment": "experiment",
    "load_model": "checkpoint",
    "load_checkpoint": "checkpoint",
    "denoise_array": "inference",
    "denoise_files": "files",
    "train_and_evaluate": "pipeline",
    "create_model": "models",
    "list_models": "models",
    "register_model": "models",
    "load_source": "data",
    "GaussianNoise": "noise",
    "CameraNoise": "noise",
    "parse_noise": "noise",
    "estimate_noise_sigma": "noise",
    "image_metrics": "metrics",
    "classical_denoiser": "classical",
}

__all__ = ["CaeDenoiseError", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cae_denoise' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
