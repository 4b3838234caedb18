"""cae-denoise: train, evaluate, compare and apply convolutional-autoencoder image denoisers.

The public API is importable from here; heavy modules (torch) load on first use, so that
``import cae_denoise``, ``cae_denoise.__version__`` and ``cae-denoise --help`` stay instant.

>>> import cae_denoise
>>> clean = cae_denoise.denoise(noisy_uint8_photo)  # same shape, dtype and range as the input
>>> from cae_denoise import TrainConfig, train, evaluate_specs, load_model
"""

from __future__ import annotations

import importlib
import sys
import types
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

__all__ = ["CaeDenoiseError", "__version__", *sorted(_EXPORTS)]


class _Package(types.ModuleType):
    """Keeps a public name that is also a module's (``train``) the function: importing the submodule
    ``cae_denoise.train`` would otherwise replace the package's ``train`` with the module. (So spell the module
    ``from cae_denoise.train import ...``, never ``import cae_denoise.train as ...``.)"""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return  # the submodule stays in sys.modules; the public name comes from __getattr__
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cae_denoise' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
