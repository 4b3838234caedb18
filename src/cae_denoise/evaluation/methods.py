"""Denoising methods named on the command line: checkpoints, ``default``, classical methods and learned peers alike.

A denoiser is any ``f(noisy) -> clean`` on HxWx3 float32 images in [0, 1], whatever produced it (a trained
model, NLM, BM3D, FFDNet, the identity), so evaluation and comparison treat them alike; the one exception is an
oracle variant (``NAME:oracle``), which also sees the clean image (``oracle.OracleDenoiser``). This module turns
the names a user types into such functions and describes each one for the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import SYNTHETIC
from ..data.pairs import match_key
from ..data.sources import BUILTIN, NamedImage
from ..errors import CaeDenoiseError, UsageError
from ..io.outputs import resolved
from ..models.checkpoint import LoadedModel, load_model
from ..models.inference import denoise_array
from ..noise.estimate import estimate_noise_sigma
from ..shipped import DEFAULT_MODEL
from .classical import CLASSICAL_SETTINGS, NOISY_METHOD, Denoiser, classical_denoiser, classical_names
from .oracle import SEARCH, OracleDenoiser
from .peers import PEER_LICENCES, PEER_SETTINGS, load_peer, peer_denoiser, peer_names


def model_denoiser(model: nn.Module, device: torch.device | str = "cpu") -> Denoiser:
    """Wrap a network (in eval mode) as an image-to-image denoiser (tiled, any size)."""
    return lambda noisy: denoise_array(model, noisy, device=device)


def same_source(first: str, second: str) -> bool:
    """Whether two ``--data`` values name the same source, however the path is spelled."""
    return first == second if BUILTIN in (first, second) else resolved(first) == resolved(second)


def leakage(loaded: LoadedModel, data: str, images: list[NamedImage], noisy_data: str | None = None) -> list[str]:
    """Names of evaluation images this model was trained on, which would inflate its scores: the same clean
    source, or the same noisy photos (matched by file name, any extension), and a name in its training part."""
    config = loaded.config
    if config is None:  # no recorded settings: nothing says which images it saw
        return []
    same = same_source(str(config.data), data) or (
        noisy_data is not None and config.noisy_data is not None and same_source(config.noisy_data, noisy_data)
    )
    if not same:
        return []
    trained_on = {match_key(name) for name in loaded.payload.get("split", {}).get("train", [])}
    return [image.name for image in images if match_key(image.name) in trained_on]


ORACLE = "oracle"
ESTIMATED = "estimated"
#: How a level-tuned method (classical or peer) is told the noise level: as named (``NAME``), or with a suffix
#: (``NAME:estimated``, ``NAME:oracle``); the words go into its label and its report entry.
TOLD = {
    "": "the true sigma of one Gaussian level, else each noisy image's estimated level (estimate_noise_sigma)",
    ESTIMATED: "each noisy image's estimated level (estimate_noise_sigma), as a user has it, even where the true "
    "sigma is known",
    ORACLE: f"oracle sigma: {SEARCH}",
}


@dataclass
class Method:
    """A method named on the command line: a checkpoint (or ``default``), a classical method or a learned peer
    (``peer``, loaded); the last two are told a noise level as ``told`` says (a key of ``TOLD``)."""

    label: str
    spec: str
    loaded: LoadedModel | None = None
    peer: nn.Module | None = None
    told: str = ""

    def denoiser(self, sigma_255: float | None, device: torch.device | str) -> Denoiser | OracleDenoiser:
        """The denoiser to run at noise level ``sigma_255``: classical methods and peers are tuned to it, or, when
        it is None (real noise) or they are ``NAME:estimated``, to each image's estimated level
        (``noise.estimate_noise_sigma``); ``NAME:oracle`` searches each image's best level against its clean
        reference (``oracle.OracleDenoiser``)."""
        if self.loaded is not None:
            return model_denoiser(self.loaded.model, device)
        peer = self.peer

        def tuned(sigma: float) -> Denoiser:
            return classical_denoiser(self.spec, sigma) if peer is None else peer_denoiser(peer, sigma, device)

        if self.told == ORACLE:
            return OracleDenoiser(tuned, sigma_255)
        if sigma_255 is not None and self.told != ESTIMATED:
            return tuned(sigma_255)
        return lambda noisy: tuned(estimate_noise_sigma(noisy))(noisy)

    def describe(self, data: str, images: list[NamedImage], noisy_data: str | None = None) -> dict[str, Any]:
        """Report entry: what the method is and how it is told the noise level, and, for a model, what it was
        trained on."""
        if self.peer is not None:
            return {
                "kind": "learned peer",
                "settings": PEER_SETTINGS[self.spec],
                "licence": PEER_LICENCES[self.spec],
                "parameters": sum(p.numel() for p in self.peer.parameters()),
                "noise_level": TOLD[self.told],
            }
        if self.loaded is None:
            return {"kind": "classical", "settings": CLASSICAL_SETTINGS[self.spec], "noise_level": TOLD[self.told]}
        payload, config = self.loaded.payload, self.loaded.config
        return {
            "kind": "model",
            "checkpoint": self.spec,
            "arch": payload.get("arch"),
            "arch_args": payload.get("arch_args"),
            "trained_on": config.data if config else None,
            "train_sigma": config.sigma if config else None,
            "training_kind": config.kind if config else SYNTHETIC,
            "test_images_seen_in_training": leakage(self.loaded, data, images, noisy_data),
            "train_config": config.to_dict() if config else {},
        }


def level_tuned_names() -> list[str]:
    """Names of the methods told a noise level, which also take ``NAME:estimated`` and ``NAME:oracle``: classical
    methods and peers."""
    return [name for name in (*classical_names(), *peer_names()) if name != NOISY_METHOD]


def _level_tuned(spec: str, device: torch.device | str) -> Method | None:
    """``spec`` as a classical method or peer (``NAME``, ``NAME:estimated`` or ``NAME:oracle``), or None."""
    name, _, suffix = spec.rpartition(":")
    if not (suffix in (ESTIMATED, ORACLE) and name in level_tuned_names()):
        name, suffix = spec, ""
    if name in classical_names():
        classical_denoiser(name, 25.0)  # a missing optional package fails here, before any work
        method = Method(name, name, told=suffix)
    elif name in peer_names():
        method = Method(name, name, peer=load_peer(name, device), told=suffix)
    else:
        return None
    if suffix:
        method.label = f"{name} ({suffix} sigma)"
    return method


def resolve_methods(specs: list[str], device: torch.device | str = "cpu") -> list[Method]:
    """Load each spec once: classical methods and peers by name (``NAME:estimated``, ``NAME:oracle`` to choose how
    they are told the noise level), anything else as a checkpoint path or ``default``.

    Labels are the method's name (``NAME (estimated sigma)``, ``NAME (oracle sigma)`` with a suffix), else the
    model's architecture, else (if taken) the path as given.
    """
    methods: list[Method] = []
    reserved = {*classical_names(), *peer_names()}
    for spec in specs:
        taken = {method.label for method in methods}
        tuned = _level_tuned(spec, device)
        if tuned is not None:
            if tuned.label in taken:
                raise UsageError(f"{spec} is named twice")
            methods.append(tuned)
            continue
        if not Path(spec).exists() and spec != DEFAULT_MODEL:
            if spec.endswith((f":{ORACLE}", f":{ESTIMATED}")):
                suffix = spec.rpartition(":")[2]
                raise UsageError(
                    f"{spec}: only methods told a noise level take :{suffix} ({', '.join(level_tuned_names())})"
                )
            names = ", ".join([*classical_names(), *peer_names(), DEFAULT_MODEL])
            raise CaeDenoiseError(f"{spec}: no such checkpoint file, and not a method name ({names})")
        loaded = load_model(spec, device)
        candidates = [DEFAULT_MODEL if spec == DEFAULT_MODEL else str(loaded.payload.get("arch", spec)), spec]
        candidates += [f"{spec} ({copy})" for copy in range(2, len(specs) + 2)]
        label = next(c for c in candidates if c not in taken and c not in reserved)
        methods.append(Method(label, spec, loaded))
    return methods


def common_resize(methods: list[Method]) -> int | None:
    """The ``--resize`` all models were trained with (they must agree), or None."""
    configs = [method.loaded.config for method in methods if method.loaded is not None]
    sizes = {config.resize if config else None for config in configs}
    if len(sizes) > 1:
        raise CaeDenoiseError("models were trained with different --resize settings; compare them on one input size")
    return sizes.pop() if sizes else None
