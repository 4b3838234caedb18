"""Training settings (``TrainConfig``) and device selection; importing this module does not load torch."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import CaeDenoiseError

if TYPE_CHECKING:
    import torch

    from .noise import GaussianNoise

SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; the checkpoint stores it as a dict.

    ``sigma`` is on the 0-255 scale: one level (``"25"``) or a range (``"5-50"``, blind training).
    Samples are random ``patch`` x ``patch`` crops, or whole images resized to ``resize`` x ``resize``
    when ``resize`` is set. One epoch is ``steps_per_epoch`` optimiser steps of ``batch_size`` samples.
    ``grad_clip`` > 0 clips the gradient norm (0 turns it off). ``schedule`` is ``constant`` or ``cosine``
    (learning rate decayed to 0 over the run). ``dead_leaves`` adds that many procedural 256x256 images
    (see ``synthetic.py``) to the training images. ``amp`` trains in bfloat16 autocast (GPUs with bf16,
    or CPUs); ``compile`` wraps the model in ``torch.compile``.
    """

    arch: str = "leaky"
    data: str = "builtin"
    out: str = ""
    sigma: str = "25"
    patch: int = 64
    resize: int | None = None
    batch_size: int = 16
    lr: float = 1e-3
    epochs: int = 6
    steps_per_epoch: int = 200
    seed: int = 0
    device: str = "auto"
    channels: int | None = None
    depth: int | None = None
    negative_slope: float = 0.2
    schedule: str = "constant"
    grad_clip: float = 0.0
    dead_leaves: int = 0
    amp: bool = False
    compile: bool = False
    val_sigma: float = 25.0
    val_seed: int = 0

    def __post_init__(self) -> None:
        if not self.out:  # the run folder follows the architecture unless given
            object.__setattr__(self, "out", f"runs/{self.arch}")

    @property
    def total_steps(self) -> int:
        """Optimiser steps in the whole run."""
        return self.epochs * self.steps_per_epoch

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild from ``to_dict`` output; unknown keys (from newer versions) are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise CaeDenoiseError(f"unknown training settings {unknown}; made by a newer cae-denoise?")
        return cls(**data)

    def arch_args(self) -> dict[str, Any]:
        """The given (not None) values of channels, depth and negative_slope that this architecture accepts.

        Unset values fall back to the architecture's own defaults, recorded in the checkpoint as built.
        """
        from .models import model_factory

        accepted = inspect.signature(model_factory(self.arch)).parameters
        candidates = {"channels": self.channels, "depth": self.depth, "negative_slope": self.negative_slope}
        return {key: value for key, value in candidates.items() if key in accepted and value is not None}

    def noise(self) -> GaussianNoise:
        """The training noise model that ``sigma`` describes."""
        from .noise import parse_sigma

        return parse_sigma(self.sigma)

    def validate(self) -> None:
        """Check every option before any work starts; raises ``CaeDenoiseError`` naming the option."""
        self.arch_args()
        self.noise()
        checks = [
            (self.patch >= 8, f"--patch {self.patch}: must be at least 8 pixels"),
            (self.resize is None or self.resize >= 8, f"--resize {self.resize}: must be at least 8 pixels"),
            (self.batch_size >= 1, f"--batch-size {self.batch_size}: must be at least 1"),
            (0 < self.lr <= 1, f"--lr {self.lr}: must be in (0, 1]; Adam typically uses 1e-4 to 1e-3"),
            (self.seed >= 0, f"--seed {self.seed}: must be 0 or more"),
            (self.epochs >= 1, f"--epochs {self.epochs}: must be at least 1"),
            (self.steps_per_epoch >= 1, f"--steps-per-epoch {self.steps_per_epoch}: must be at least 1"),
            (self.channels is None or self.channels >= 1, f"--channels {self.channels}: must be at least 1"),
            (self.depth is None or 1 <= self.depth <= 6, f"--depth {self.depth}: must be between 1 and 6"),
            (self.schedule in SCHEDULES, f"--schedule {self.schedule!r}: choose {' or '.join(SCHEDULES)}"),
            (self.grad_clip >= 0, f"--grad-clip {self.grad_clip}: must be 0 (off) or positive"),
            (self.dead_leaves >= 0, f"--dead-leaves {self.dead_leaves}: must be 0 or more"),
            (0 <= self.val_sigma <= 255, f"--val-sigma {self.val_sigma}: must be in [0, 255]"),
        ]
        for ok, message in checks:
            if not ok:
                raise CaeDenoiseError(message)
        resolve_device(self.device)


def resume_config(folder: str | Path, changed_options: list[str]) -> TrainConfig:
    """The saved settings of the run in ``folder`` (from its ``last.pt``), to continue it exactly.

    ``changed_options`` are the training options the user also gave: a resumed run keeps its own settings,
    so any of them is an error rather than silently ignored.
    """
    from .checkpoint import read_resume_point

    if changed_options:
        raise CaeDenoiseError(
            f"--resume continues {folder} with its saved settings; these options cannot change it: "
            f"{', '.join(changed_options)} (start a new run with another --out instead)"
        )
    path = Path(folder) / "last.pt"
    if not path.is_file():
        raise CaeDenoiseError(f"--resume {folder}: no last.pt there to continue from")
    return dataclasses.replace(TrainConfig.from_dict(read_resume_point(path).config), out=str(folder))


def resolve_device(name: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an explicit device that is not available is an error."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise CaeDenoiseError(f"--device {name!r}: not a device name (use auto, cpu, cuda, cuda:N or mps)") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CaeDenoiseError(f"--device {name}: CUDA is not available in this PyTorch build or machine")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise CaeDenoiseError(f"--device {name}: Apple MPS is not available here")
    return device
