"""Denoising methods named on the command line: checkpoints, ``default`` and classical methods alike.

A denoiser is any ``f(noisy) -> clean`` on HxWx3 float32 images in [0, 1], whatever produced it (a trained
model, NLM, BM3D, the identity), so evaluation and comparison treat them alike. This module turns the
names a user types into such functions and describes each one for the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoint import DEFAULT_MODEL, LoadedModel, load_model
from .classical import CLASSICAL_SETTINGS, Denoiser, classical_denoiser, classical_names
from .data import BUILTIN, NamedImage
from .errors import CaeDenoiseError, UsageError
from .inference import denoise_array
from .noise import estimate_noise_sigma
from .pairs import match_key


def model_denoiser(model: nn.Module, device: torch.device | str = "cpu") -> Denoiser:
    """Wrap a network (in eval mode) as an image-to-image denoiser (tiled, any size)."""
    return lambda noisy: denoise_array(model, noisy, device=device)


def same_source(first: str, second: str) -> bool:
    """Whether two ``--data`` values name the same source, however the path is spelled."""
    if BUILTIN in (first, second):
        return first == second
    try:
        return Path(first).resolve() == Path(second).resolve()
    except (OSError, RuntimeError):  # a link loop: compare the spellings
        return Path(first).absolute() == Path(second).absolute()


def leakage(loaded: LoadedModel, data: str, images: list[NamedImage], noisy_data: str | None = None) -> list[str]:
    """Names of evaluation images this model was trained on, which would inflate its scores: the same clean
    source, or the same noisy photos (matched by file name, any extension), and a name in its training part."""
    config = loaded.config
    same = same_source(str(config.get("data")), data) or (
        noisy_data is not None
        and config.get("noisy_data") is not None
        and same_source(config["noisy_data"], noisy_data)
    )
    if not same:
        return []
    trained_on = {match_key(name) for name in loaded.payload.get("split", {}).get("train", [])}
    return [image.name for image in images if match_key(image.name) in trained_on]


@dataclass
class Method:
    """A method named on the command line: a checkpoint (or ``default``) or a classical method."""

    label: str
    spec: str
    loaded: LoadedModel | None = None

    def denoiser(self, sigma_255: float | None, device: torch.device | str) -> Denoiser:
        """The denoiser to run at noise level ``sigma_255``: classical methods are tuned to it, or, when it is
        None (real noise), to each image's estimated level (``noise.estimate_noise_sigma``)."""
        if self.loaded is not None:
            return model_denoiser(self.loaded.model, device)
        if sigma_255 is not None:
            return classical_denoiser(self.spec, sigma_255)
        return lambda noisy: classical_denoiser(self.spec, estimate_noise_sigma(noisy))(noisy)

    def describe(self, data: str, images: list[NamedImage], noisy_data: str | None = None) -> dict[str, Any]:
        """Report entry: what the method is and, for a model, what it was trained on."""
        if self.loaded is None:
            return {"kind": "classical", "settings": CLASSICAL_SETTINGS[self.spec]}
        payload = self.loaded.payload
        return {
            "kind": "model",
            "checkpoint": self.spec,
            "arch": payload.get("arch"),
            "arch_args": payload.get("arch_args"),
            "trained_on": self.loaded.config.get("data"),
            "train_sigma": self.loaded.config.get("sigma"),
            "training_kind": self.loaded.payload.get("training", {}).get("kind", "synthetic"),
            "test_images_seen_in_training": leakage(self.loaded, data, images, noisy_data),
            "train_config": self.loaded.config,
        }


def resolve_methods(specs: list[str], device: torch.device | str = "cpu") -> list[Method]:
    """Load each spec once: classical names as they are, anything else as a checkpoint path or ``default``.

    Labels are the classical name, else the model's architecture, else (if taken) the path as given.
    """
    methods: list[Method] = []
    for spec in specs:
        taken = {method.label for method in methods}
        if spec in classical_names():
            if spec in taken:
                raise UsageError(f"{spec} is named twice")
            methods.append(Method(spec, spec))
            continue
        if not Path(spec).exists() and spec != DEFAULT_MODEL:
            raise CaeDenoiseError(
                f"{spec}: no such checkpoint file, and not a method name ({', '.join(classical_names())}, default)"
            )
        loaded = load_model(spec, device)
        candidates = [DEFAULT_MODEL if spec == DEFAULT_MODEL else str(loaded.payload.get("arch", spec)), spec]
        candidates += [f"{spec} ({copy})" for copy in range(2, len(specs) + 2)]
        label = next(c for c in candidates if c not in taken and c not in classical_names())
        methods.append(Method(label, spec, loaded))
    return methods


def common_resize(methods: list[Method]) -> int | None:
    """The ``--resize`` all models were trained with (they must agree), or None."""
    sizes = {method.loaded.config.get("resize") for method in methods if method.loaded is not None}
    if len(sizes) > 1:
        raise CaeDenoiseError("models were trained with different --resize settings; compare them on one input size")
    return sizes.pop() if sizes else None
