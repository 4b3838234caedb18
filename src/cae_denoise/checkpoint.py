"""Self-describing checkpoints: saved atomically, loaded safely.

A checkpoint is a dict of tensors and JSON-safe primitives only (architecture name and arguments,
training config, split, noise, history, versions, weights, optimizer and RNG state), so
``torch.load(..., weights_only=True)`` accepts it and a crafted pickle cannot run code.
"""

from __future__ import annotations

import io
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import CaeDenoiseError
from .models import create_model
from .outputs import write_file

FORMAT = "cae-denoise-checkpoint"
FORMAT_VERSION = 1
#: The name that stands for the model shipped inside the package.
DEFAULT_MODEL = "default"


def resolve_model_path(spec: str | Path) -> Path:
    """A checkpoint path as given, or the shipped default model's path for ``"default"``."""
    if str(spec) != DEFAULT_MODEL:
        return Path(spec)
    path = Path(__file__).parent / "assets" / "default_model.pt"
    if not path.is_file():
        raise CaeDenoiseError(f"the shipped default model is missing from this installation ({path}); reinstall")
    return path


def save_checkpoint(path: str | Path, payload: dict[str, Any], *, overwrite: bool) -> Path:
    """Write ``payload`` (plus the format marker) to ``path`` atomically (``outputs.write_file``)."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **payload}, buffer)
    return write_file(path, buffer.getvalue(), overwrite=overwrite)


def _refused_global(error: Exception) -> str | None:
    """The code a pickle tried to reach (e.g. ``posix.system``), from PyTorch's weights-only refusal."""
    for line in str(error).splitlines():
        if "GLOBAL" in line:
            return line.split("GLOBAL", 1)[1].split()[0]
    return None


def _first_detail(error: Exception, markers: tuple[str, ...]) -> str:
    """The first line of a long PyTorch error that holds one of ``markers``, else its first line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    chosen = next((line for line in lines if any(marker in line for marker in markers)), lines[0] if lines else "")
    return chosen[:200]


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and check a checkpoint without executing any code it may contain."""
    path = Path(path)
    if not path.is_file():
        raise CaeDenoiseError(f"{path}: checkpoint file not found")
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": noise next to our own message
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        target = _refused_global(error)
        if target is None:
            raise CaeDenoiseError(f"{path}: not a cae-denoise checkpoint (unreadable or corrupt file)") from error
        raise CaeDenoiseError(
            f"{path}: refused, the file tries to load code ({target}); checkpoints may hold only tensors and values"
        ) from error
    except Exception as error:  # torch.load on arbitrary bytes raises KeyError, IndexError, RuntimeError, ...
        raise CaeDenoiseError(f"{path}: not a cae-denoise checkpoint (unreadable or truncated file)") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CaeDenoiseError(f"{path}: not a cae-denoise checkpoint (a PyTorch file of another kind)")
    if int(payload.get("format_version", 0)) > FORMAT_VERSION:
        raise CaeDenoiseError(
            f"{path}: checkpoint format {payload['format_version']} is newer than this cae-denoise "
            f"understands ({FORMAT_VERSION}); upgrade cae-denoise"
        )
    return payload


def training_payload(
    *,
    config: dict[str, Any],
    arch_args: dict[str, Any],
    split: dict[str, list[str]],
    noise: dict[str, Any],
    train_state: dict[str, Any],
    history: list[dict[str, float]],
    versions: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    sampler_states: list[torch.Tensor],
) -> dict[str, Any]:
    """The checkpoint of a training run: what ``load_model`` needs to rebuild the model, what
    ``read_resume_point`` needs to continue the run bit for bit, and what a reader needs to trust it."""
    return {
        "arch": config["arch"],
        "arch_args": arch_args,
        "config": config,
        "split": split,
        "noise": noise,
        "history": history,
        "train_state": train_state,
        "versions": versions,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": {"sampler": sampler_states},
    }


@dataclass
class ResumePoint:
    """What a saved run needs to continue: its config, counters, history, and every state dict."""

    config: dict[str, Any]
    train_state: dict[str, Any]
    history: list[dict[str, float]]
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any] | None
    sampler_states: list[torch.Tensor]


def read_resume_point(path: str | Path) -> ResumePoint:
    """The resumable state in ``path`` (a ``last.pt``); a checkpoint without it is an error."""
    payload = load_checkpoint(path)
    try:
        return ResumePoint(
            config=payload["config"],
            train_state=payload["train_state"],
            history=list(payload["history"]),
            model=payload["model"],
            optimizer=payload["optimizer"],
            scheduler=payload["scheduler"],
            sampler_states=list(payload["rng"]["sampler"]),
        )
    except (KeyError, TypeError) as error:
        raise CaeDenoiseError(f"{path}: not a resumable training checkpoint (lacks {error})") from error


#: Fields only a resumed training run needs; ``export_for_inference`` drops them.
TRAINING_ONLY_FIELDS = ("optimizer", "scheduler", "rng", "train_state")


def export_for_inference(source: str | Path, target: str | Path, *, overwrite: bool = False) -> Path:
    """Copy a checkpoint without optimiser and RNG state: a smaller file that still describes itself."""
    payload = load_checkpoint(source)
    return save_checkpoint(
        target, {k: v for k, v in payload.items() if k not in TRAINING_ONLY_FIELDS}, overwrite=overwrite
    )


@dataclass
class LoadedModel:
    """A model rebuilt from a checkpoint, in eval mode, with the checkpoint's metadata."""

    model: nn.Module
    name: str
    payload: dict[str, Any]

    @property
    def config(self) -> dict[str, Any]:
        """The training config the checkpoint recorded, as a dict."""
        return self.payload.get("config", {})


def load_model(spec: str | Path, device: torch.device | str = "cpu") -> LoadedModel:
    """Rebuild the recorded architecture of a checkpoint (or ``"default"``) and load its weights."""
    path = resolve_model_path(spec)
    payload = load_checkpoint(path)
    try:
        model = create_model(payload["arch"], **payload.get("arch_args", {}))
        model.load_state_dict(payload["model"])
    except KeyError as error:
        raise CaeDenoiseError(f"{path}: checkpoint lacks the field {error}") from error
    except RuntimeError as error:
        raise CaeDenoiseError(
            f"{path}: weights do not fit architecture {payload['arch']!r} of this cae-denoise version "
            f"({_first_detail(error, ('size mismatch', 'Missing key', 'Unexpected key'))})"
        ) from error
    model.to(device).eval()
    return LoadedModel(model, str(spec), payload)
