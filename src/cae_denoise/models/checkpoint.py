"""Self-describing checkpoints: saved atomically, loaded safely.

A checkpoint is a dict of tensors and JSON-safe primitives only (architecture name and arguments,
training config, split, noise, history, versions, weights, optimizer and RNG state), so
``torch.load(..., weights_only=True)`` accepts it and a crafted pickle cannot run code.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import nn

from ..config import BOUNDS, LAST, MAX_PARAMETERS, TrainConfig
from ..errors import CaeDenoiseError, UsageError, one_line, shorten
from ..io.outputs import write_file
from ..io.regular import open_regular
from ..shipped import resolve_model_path
from .architectures import create_model, list_models, weights_sha256

FORMAT = "cae-denoise-checkpoint"
FORMAT_VERSION = 1


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


#: A checkpoint may not unpack to more than this many times its size on disk, nor to more than MAX_UNPACKED_BYTES.
#: torch.save stores records uncompressed (ratio 1); a crafted file can deflate them, and torch.load expands
#: every record in memory before anything could be checked.
MAX_EXPANSION = 4
MAX_UNPACKED_BYTES = 4 * 2**30


def _check_expansion(handle: BinaryIO, path: Path) -> None:
    """Refuse a (zip-format) checkpoint whose records would unpack to far more memory than the file's size."""
    if not zipfile.is_zipfile(handle):
        return  # not zip-based (a legacy pickle, or junk): torch.load refuses or reads it without inflating
    try:
        with zipfile.ZipFile(handle) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise CaeDenoiseError(f"{path}: not a cae-denoise checkpoint (damaged archive: {one_line(error)})") from error
    size = os.fstat(handle.fileno()).st_size
    limit = min(MAX_UNPACKED_BYTES, MAX_EXPANSION * max(size, 2**20))
    if unpacked > limit:
        raise CaeDenoiseError(
            f"{path}: refused, it would unpack to {unpacked / 2**20:,.0f} MiB from {size / 2**20:,.1f} "
            "MiB on disk (a compressed checkpoint bomb?)"
        )


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and check a checkpoint without executing any code it may contain."""
    path = Path(path)
    if path.is_dir():
        raise CaeDenoiseError(f"{path}: is a folder, not a checkpoint file")
    if not path.exists():
        raise CaeDenoiseError(f"{path}: checkpoint file not found")
    try:
        handle = open_regular(path, str(path), "a checkpoint file")  # a FIFO or device is refused, not waited on
    except OSError as error:
        raise CaeDenoiseError(f"{path}: cannot open the checkpoint ({one_line(error)})") from error
    try:
        with handle, warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": noise next to our message
            _check_expansion(handle, path)
            handle.seek(0)
            warnings.simplefilter("ignore")
            payload = torch.load(handle, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        target = _refused_global(error)
        if target is None:
            raise CaeDenoiseError(f"{path}: not a cae-denoise checkpoint (unreadable or corrupt file)") from error
        raise CaeDenoiseError(
            f"{path}: refused, the file tries to load code ({target}); checkpoints may hold only tensors and values"
        ) from error
    except CaeDenoiseError:  # from _check_expansion
        raise
    except Exception as error:  # torch.load on arbitrary bytes raises KeyError, IndexError, RuntimeError, ...
        raise CaeDenoiseError(f"{path}: not a cae-denoise checkpoint (unreadable or truncated file)") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CaeDenoiseError(f"{path}: not a cae-denoise checkpoint (a PyTorch file of another kind)")
    version = payload.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise CaeDenoiseError(f"{path}: not a cae-denoise checkpoint (format version {str(version)[:20]!r})")
    if version > FORMAT_VERSION:
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
    noise: dict[str, Any] | None,
    training: dict[str, Any],
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
        "training": training,
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

    config: TrainConfig
    train_state: dict[str, Any]
    history: list[dict[str, float]]
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any] | None
    sampler_states: list[torch.Tensor]


#: The counters a resumable checkpoint's ``train_state`` holds, and their types.
TRAIN_STATE_FIELDS = {
    "epoch": int,
    "step_in_epoch": int,
    "global_step": int,
    "epoch_loss_sum": float,
    "best_score": float,
    "seconds": float,
}


def read_resume_point(path: str | Path) -> ResumePoint:
    """The resumable state in ``path`` (a ``last.pt``); a checkpoint without it, or with counters of the wrong
    type, is an error."""
    payload = load_checkpoint(path)
    try:
        point = ResumePoint(
            config=_typed_config(payload["config"], Path(path)),
            train_state=dict(payload["train_state"]),
            history=list(payload["history"]),
            model=payload["model"],
            optimizer=payload["optimizer"],
            scheduler=payload["scheduler"],
            sampler_states=list(payload["rng"]["sampler"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CaeDenoiseError(f"{path}: not a resumable training checkpoint (lacks {error})") from error
    state = point.train_state
    if "best_val_psnr" in state:  # checkpoints from before runs could select by a self-supervised loss
        state["best_score"] = state.pop("best_val_psnr")
    for name, kind in TRAIN_STATE_FIELDS.items():
        value = state.get(name)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (kind is int and not isinstance(value, int))
        ):
            shown = shorten(repr(value))
            raise CaeDenoiseError(f"{path}: not a resumable training checkpoint (train_state {name} is {shown})")
    if set(state) != set(TRAIN_STATE_FIELDS):
        raise CaeDenoiseError(f"{path}: not a resumable training checkpoint (train_state fields {sorted(state)})")
    for row in point.history:
        numbers = isinstance(row, dict) and all(
            isinstance(value, int | float) and not isinstance(value, bool) for value in row.values()
        )
        if not numbers or not {"epoch", "train_loss"} <= set(row) or not {"val_psnr", "val_loss"} & set(row):
            raise CaeDenoiseError(f"{path}: not a resumable training checkpoint (a history row is {str(row)[:80]})")
    return point


def resume_config(folder: str | Path, changed_options: list[str], epochs: int | None = None) -> TrainConfig:
    """The saved settings of the run in ``folder`` (from its ``last.pt``), to continue it exactly, or, with
    ``epochs``, to extend (or shorten) it to that many epochs, at least those it has already trained.

    ``changed_options`` are the other training options the user also gave: a resumed run keeps its own settings,
    so any of them is an error rather than silently ignored. A cosine schedule then runs over the new total from
    the current step (``train.restore``).
    """
    if changed_options:
        raise UsageError(
            f"--resume continues {folder} with its saved settings; these options cannot change it: "
            f"{', '.join(changed_options)} (only --epochs can; start a new run with another --out instead)"
        )
    path = Path(folder) / LAST
    if not path.exists():  # a FIFO or device there is refused by name when it is read
        raise UsageError(f"--resume {folder}: no last.pt there to continue from")
    point = read_resume_point(path)
    saved = point.config
    if epochs is not None:
        done = int(point.train_state["epoch"])
        if epochs < max(done, 1):
            raise UsageError(
                f"--epochs {epochs}: the run in {folder} has trained {done} epoch(s) already; give at least {done}"
            )
        saved = dataclasses.replace(saved, epochs=epochs)
    return dataclasses.replace(saved, out=str(folder))


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
    #: The training settings the checkpoint recorded (None in a checkpoint that records none).
    config: TrainConfig | None = None

    def weights_sha256(self) -> str:
        """SHA-256 of the weights, to tell which model made an output (``models.weights_sha256``)."""
        return weights_sha256(self.model)


#: The architecture arguments a checkpoint may give. Their ranges, which bound what a stranger's file may ask us to
#: build, are those of training (``config.BOUNDS``), so a run never writes a checkpoint it would then refuse.
ARCH_ARGS = ("channels", "depth", "negative_slope")


def _checked_arch(payload: dict[str, Any], path: Path) -> tuple[str, dict[str, Any]]:
    """The architecture name and arguments of a checkpoint, each checked for type and range."""
    for field in ("arch", "model"):
        if field not in payload:
            raise CaeDenoiseError(f"{path}: checkpoint lacks the field {field!r}")
    arch, arch_args = payload["arch"], payload.get("arch_args", {})
    if not isinstance(arch, str):
        raise CaeDenoiseError(f"{path}: field 'arch' must be a name, got {type(arch).__name__}")
    if arch not in list_models():
        raise CaeDenoiseError(
            f"{path}: unknown architecture {arch[:60]!r}; this cae-denoise has {', '.join(list_models())}"
        )
    if not isinstance(arch_args, dict):
        raise CaeDenoiseError(f"{path}: field 'arch_args' must be a mapping, got {type(arch_args).__name__}")
    for key, value in arch_args.items():
        if key not in ARCH_ARGS:
            raise CaeDenoiseError(f"{path}: unknown architecture argument {str(key)[:60]!r}")
        low, high = BOUNDS[key]
        integral = isinstance(low, int)
        right_type = isinstance(value, int if integral else int | float) and not isinstance(value, bool)
        if not right_type or not (low <= value <= high):
            shown = shorten(repr(value))
            raise CaeDenoiseError(f"{path}: architecture argument {key}={shown} is outside [{low}, {high}]")
    return arch, arch_args


def _check_weights(model_on_meta: nn.Module, weights: Any, path: Path, arch: str) -> None:
    """Weights must be finite tensors with exactly the names and shapes the architecture expects."""
    if not isinstance(weights, dict):
        raise CaeDenoiseError(f"{path}: field 'model' must hold the weights, got {type(weights).__name__}")
    expected = {name: tuple(tensor.shape) for name, tensor in model_on_meta.state_dict().items()}
    found = {name: tuple(t.shape) if isinstance(t, torch.Tensor) else None for name, t in weights.items()}
    if found != expected:
        missing = sorted(set(expected) - set(found))
        unexpected = sorted(set(found) - set(expected))
        wrong = sorted(name for name in set(found) & set(expected) if found[name] != expected[name])
        detail = (
            f"missing {missing[:3]}"
            if missing
            else f"unexpected {unexpected[:3]}"
            if unexpected
            else f"shape of {wrong[:3]}"
        )
        raise CaeDenoiseError(
            f"{path}: weights do not fit architecture {arch!r} of this cae-denoise version ({detail})"
        )
    for name, tensor in weights.items():
        if tensor.is_meta or tensor.layout != torch.strided:
            raise CaeDenoiseError(
                f"{path}: weight {name} is not a plain tensor of values ({tensor.layout}, {tensor.device})"
            )
        if not tensor.is_floating_point():
            raise CaeDenoiseError(f"{path}: weight {name} is {tensor.dtype}, not floating point; the model is broken")
        if not bool(torch.isfinite(tensor).all()):
            raise CaeDenoiseError(f"{path}: weight {name} holds NaN or infinite values; the model is broken")


def _check_metadata(payload: dict[str, Any], path: Path) -> None:
    """The descriptive fields evaluation reads, when present: ``split`` maps part names to lists of image names,
    ``training`` is a mapping whose ``kind`` (if any) is a name."""
    if "split" in payload:
        split = payload["split"]
        names_ok = isinstance(split, dict) and all(
            isinstance(part, str) and isinstance(names, list | tuple) and all(isinstance(n, str) for n in names)
            for part, names in split.items()
        )
        if not names_ok:
            raise CaeDenoiseError(
                f"{path}: field 'split' must map train/val/test to lists of image names, got {type(split).__name__}"
            )
    if "training" in payload:
        training = payload["training"]
        if not isinstance(training, dict) or not isinstance(training.get("kind", ""), str):
            kind = type(training.get("kind")).__name__ if isinstance(training, dict) else type(training).__name__
            raise CaeDenoiseError(f"{path}: field 'training' must be a mapping with a 'kind' name, got {kind}")


def load_model(spec: str | Path, device: torch.device | str = "cpu") -> LoadedModel:
    """Rebuild the recorded architecture of a checkpoint (or ``"default"``) and load its weights.

    Everything the file says is checked before anything is built: the architecture and its arguments
    (types and ranges), the descriptive fields (``_check_metadata``), the size of the model (built first on
    the meta device, which allocates nothing), the names and shapes of the weights, and that every weight is finite.
    """
    path = resolve_model_path(spec)
    payload = load_checkpoint(path)
    arch, arch_args = _checked_arch(payload, path)
    _check_metadata(payload, path)
    with torch.device("meta"):
        skeleton = create_model(arch, **arch_args)
    size = sum(tensor.numel() for tensor in skeleton.state_dict().values())
    if size > MAX_PARAMETERS:
        raise CaeDenoiseError(f"{path}: architecture {arch!r} with {arch_args} has {size:,} weights, over the limit")
    _check_weights(skeleton, payload["model"], path, arch)
    config = _typed_config(payload["config"], path) if "config" in payload else None
    model = create_model(arch, **arch_args)
    model.load_state_dict(payload["model"])
    model.to(device).eval()
    return LoadedModel(model, str(spec), payload, config)


def _typed_config(saved: Any, path: Path) -> TrainConfig:
    """A checkpoint's recorded training settings as a ``TrainConfig``; an error naming ``path`` if they are not."""
    try:
        return TrainConfig.from_dict(saved)
    except CaeDenoiseError as error:
        message = str(error)
        raise CaeDenoiseError(message if message.startswith(str(path)) else f"{path}: {message}") from error
