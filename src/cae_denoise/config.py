"""Training settings (``TrainConfig``) and device selection; importing this module does not load torch.

A leaf: it imports nothing of the package but ``errors``. What the settings mean (the parsed noise models, the
architecture, the kind of training) is built once from a config by ``tasks.task_for``, which also checks them.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import CaeDenoiseError, UsageError

if TYPE_CHECKING:
    import torch

#: The files a training run writes in its folder (``--out``): a folder holding any of them holds a run.
LAST, BEST, REPORT, CURVES, EVALUATION = (
    "last.pt",
    "best.pt",
    "train_report.json",
    "training_curves.png",
    "eval_test.json",
)
RUN_FILES = (LAST, BEST, REPORT, CURVES, EVALUATION)

#: The kinds of training (``TrainConfig.kind``): what a run learns from.
SYNTHETIC, PAIRS, SELF_SUPERVISED = "synthetic", "pairs", "self-supervised"
SCHEDULES = ("constant", "cosine")
#: The schedule of checkpoints saved before ``schedule`` was a setting (they trained at a constant rate); newer
#: ones store theirs. The default became cosine when constant rates were measured to swing the test PSNR by up
#: to 1 dB between epochs (README, "Which numbers reproduce where").
PRE_SCHEDULE = "constant"
#: Adam's learning rate when ``lr`` is not given: from random weights, and when fine-tuning (``init``). Measured on
#: the README's fine-tuning example (the default model on camera noise, 300 steps): 1e-3 wrecks what the model
#: knows (-2.2 dB on camera:high, -5.6 dB on sigma 25 against the default model), FINE_TUNE_LR keeps it (-0.09 dB,
#: not significant, on camera:high; -0.4 dB on sigma 25, which the run does not train on).
DEFAULT_LR = 1e-3
FINE_TUNE_LR = 1e-4
#: The rule, as recorded in every run's report and checkpoint.
LR_RULE = f"--lr, else {DEFAULT_LR:g} from random weights and {FINE_TUNE_LR:g} when fine-tuning (--init)"
#: Devices the tool can run on (``torch.device`` accepts more, such as meta or xpu, which it cannot use).
DEVICE_TYPES = ("cpu", "cuda", "mps")
#: Widest first level accepted: beyond this a model stops fitting a laptop's memory.
MAX_CHANNELS = 512
#: Most 2x downsampling levels accepted.
MAX_DEPTH = 6
#: The smallest image side that can be scored: SSIM (``metrics.ssim``) uses an 11 x 11 window.
MIN_SCORED_SIDE = 11
#: The most weights a model may have, built for training or from a checkpoint (1.6 GB of Adam state and more).
MAX_PARAMETERS = 100_000_000
#: The most pixels one training step may hold (``batch_size`` samples of ``patch`` or ``resize`` squared): 2**24,
#: e.g. 256 crops of 256 x 256, or 1,024 of 128 x 128 (the H100 measurements in the README use 64 of 128 x 128).
MAX_STEP_PIXELS = 2**24
#: The most decoded pixels the images of a data set may hold together (all of its files, both sides of real
#: pairs), checked from the files' headers before any is decoded (``data.load_sources``). Decoded, a pixel takes
#: ``BYTES_PER_PIXEL`` (float32 RGB); the training sampler keeps views, not copies, but real pairs are stacked
#: into a second copy. Measured peak memory of ``Task.build_data`` over 50 MP of 5 MP PNGs: 12.7 bytes per
#: pixel with synthetic noise, 18.8 for real pairs (24 at most). So the default, 500 megapixels, is 6-12 GB
#: while a run starts: room on a 24 GiB machine for the model and everything else. ``--max-megapixels`` raises it.
DEFAULT_MAX_MEGAPIXELS = 500
BYTES_PER_PIXEL = 12
#: The range (inclusive) of every size-like setting, declared once: ``TrainConfig.validate`` refuses a value
#: outside it before any work starts, a checkpoint's settings are checked against it when it is loaded, and
#: the command-line help quotes it. The upper bounds keep a run within a machine's memory and the minutes a
#: user expects: a 1,024-pixel crop, 4,096 samples per step, 1,000 dead-leaves images (0.4 s and 0.8 MB each).
BOUNDS: dict[str, tuple[int | float, int | float]] = {
    "patch": (8, 1024),
    "resize": (MIN_SCORED_SIDE, 2048),
    "batch_size": (1, 4096),
    "channels": (1, MAX_CHANNELS),
    "depth": (1, MAX_DEPTH),
    "negative_slope": (0.0, 1.0),
    "dead_leaves": (0, 1000),
    "seed": (0, 2**63 - 1),
    "val_sigma": (0.0, 255.0),
    "max_megapixels": (1, 1_000_000),
}


def bound_text(name: str) -> str:
    """A setting's range for help texts, e.g. ``8-1024``."""
    low, high = BOUNDS[name]
    return f"{low:g}-{high:g}" if isinstance(low, float) else f"{low}-{high:,}"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; the checkpoint stores it as a dict.

    ``sigma`` is on the 0-255 scale: one level (``"25"``) or a range (``"5-50"``, blind training); ``noise``,
    when set, replaces it with any noise model (``noise.parse_noise``: ``camera``, ``gaussian:0-55+camera``).
    Samples are random ``patch`` x ``patch`` crops, or whole images resized to ``resize`` x ``resize``
    when ``resize`` is set. One epoch is ``steps_per_epoch`` optimiser steps of ``batch_size`` samples.
    ``grad_clip`` > 0 clips the gradient norm (0 turns it off). ``schedule`` is ``constant`` or ``cosine``
    (learning rate decayed to 0 over the run). ``dead_leaves`` adds that many procedural 256x256 images
    (see ``data/synthetic.py``) to the training images. ``amp`` trains in bfloat16 autocast (GPUs with bf16,
    or CPUs); ``compile`` wraps the model in ``torch.compile``. ``init`` starts from the weights of a checkpoint
    (or ``default``) instead of random ones: fine-tuning; parameters it lacks keep their initial values.
    ``lr`` left None becomes ``DEFAULT_LR``, or ``FINE_TUNE_LR`` with ``init`` (``LR_RULE``): the config always holds
    the learning rate the run uses, and so does its checkpoint.
    ``val_noise``, when set, replaces Gaussian noise at ``val_sigma`` for validation and the test evaluation.
    ``max_megapixels`` bounds the decoded pixels of the data (``data.load_sources``). ``BOUNDS`` holds the range
    of every size-like setting.
    """

    arch: str = "leaky"
    data: str | None = "builtin"
    out: str = ""
    sigma: str = "25"
    patch: int = 64
    resize: int | None = None
    batch_size: int = 16
    lr: float | None = None
    epochs: int = 6
    steps_per_epoch: int = 200
    seed: int = 0
    device: str = "auto"
    channels: int | None = None
    depth: int | None = None
    negative_slope: float = 0.2
    schedule: str = "cosine"
    grad_clip: float = 0.0
    dead_leaves: int = 0
    amp: bool = False
    compile: bool = False
    val_sigma: float = 25.0
    val_seed: int = 0
    noisy_data: str | None = None
    noise: str | None = None
    init: str | None = None
    val_noise: str | None = None
    max_megapixels: int = DEFAULT_MAX_MEGAPIXELS

    def __post_init__(self) -> None:
        if not self.out:  # the run folder follows the architecture unless given
            object.__setattr__(self, "out", f"runs/{self.arch}")
        if self.lr is None:  # LR_RULE
            object.__setattr__(self, "lr", FINE_TUNE_LR if self.init else DEFAULT_LR)

    @property
    def kind(self) -> str:
        """What the run learns from: ``synthetic`` noise added to ``data``, real ``pairs`` (``data`` clean,
        ``noisy_data`` noisy), or ``self-supervised`` (``noisy_data`` alone, ``data`` None)."""
        if self.noisy_data is None:
            return SYNTHETIC
        return SELF_SUPERVISED if self.data is None else PAIRS

    @property
    def total_steps(self) -> int:
        """Optimiser steps in the whole run."""
        return self.epochs * self.steps_per_epoch

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild from ``to_dict`` output (e.g. read from a checkpoint): unknown keys (from newer versions) and
        values of the wrong type are errors; missing keys take their defaults."""
        if not isinstance(data, dict):
            raise CaeDenoiseError(f"training settings must be a mapping, got {type(data).__name__}")
        hints = typing.get_type_hints(cls)
        unknown = sorted(str(key) for key in set(data) - set(hints))
        if unknown:
            raise CaeDenoiseError(f"unknown training settings {unknown}; made by a newer cae-denoise?")
        for key, value in data.items():
            if not _has_type(value, hints[key]):
                kind = type(value).__name__
                raise CaeDenoiseError(f"training setting {key!r} has a value of the wrong type ({kind})")
        config = cls(**({"schedule": PRE_SCHEDULE} | data))
        for name, value, low, high in config.out_of_bounds():
            raise CaeDenoiseError(f"training setting {name!r} is {value!r}, outside [{low}, {high}] (config.BOUNDS)")
        return config

    def out_of_bounds(self) -> list[tuple[str, Any, int | float, int | float]]:
        """The settings whose values lie outside ``BOUNDS`` (NaN included), as (name, value, low, high)."""
        found = []
        for name, (low, high) in BOUNDS.items():
            value = getattr(self, name)
            if value is not None and not low <= value <= high:
                found.append((name, value, low, high))
        return found

    def check_values(self) -> None:
        """The checks that need the values alone (ranges, combinations); ``tasks.task_for`` runs them, then
        parses what the settings describe. Raises ``UsageError`` naming the option."""
        for name, value, low, high in self.out_of_bounds():
            option, between = f"--{name.replace('_', '-')}", f"between {_number(low)} and {_number(high)}"
            raise UsageError(f"{option} {_number(value)}: must be {between}")
        side = self.resize or self.patch
        checks = [
            (0 < self.lr <= 1, f"--lr {self.lr}: must be in (0, 1]; Adam typically uses 1e-4 to 1e-3"),
            (self.epochs >= 1, f"--epochs {self.epochs}: must be at least 1"),
            (self.steps_per_epoch >= 1, f"--steps-per-epoch {self.steps_per_epoch}: must be at least 1"),
            (self.schedule in SCHEDULES, f"--schedule {self.schedule!r}: choose {' or '.join(SCHEDULES)}"),
            (self.grad_clip >= 0, f"--grad-clip {self.grad_clip}: must be 0 (off) or positive"),
            (
                self.batch_size * side * side <= MAX_STEP_PIXELS,
                f"--batch-size {self.batch_size} of {side}x{side} samples: {self.batch_size * side * side:,} pixels "
                f"per step, over the {MAX_STEP_PIXELS:,} limit; lower --batch-size or "
                f"{'--resize' if self.resize else '--patch'}",
            ),
            (self.init is None or bool(self.init.strip()), "--init: give a checkpoint file, or 'default'"),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(message)
        if self.data is None and self.noisy_data is None:
            raise UsageError("give --data (clean images) or --noisy-data (noisy photos), or both (real pairs)")
        if self.noisy_data is not None and self.data == "builtin":
            raise UsageError(
                "the built-in photos have no noisy captures: pair your own --data CLEAN with --noisy-data NOISY, "
                "or give --noisy-data alone to train without clean images"
            )

    def changed_from(self, saved: TrainConfig, *, allowed: tuple[str, ...] = ("out",)) -> list[str]:
        """The settings whose values differ from ``saved`` (a run's recorded settings), but for ``allowed``."""
        mine, theirs = self.to_dict(), saved.to_dict()
        return sorted(key for key, value in mine.items() if key not in allowed and theirs[key] != value)


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
    except (RuntimeError, TypeError, ValueError):
        device = None
    if device is None or device.type not in DEVICE_TYPES or (device.type != "cuda" and device.index not in (None, 0)):
        raise UsageError(f"--device {name!r}: not a supported device (use auto, cpu, cuda, cuda:N or mps)")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: CUDA is not available in this PyTorch build or machine")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise UsageError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"--device {name}: Apple MPS is not available here")
    return device


def _number(value: int | float) -> str:
    """A setting's value as a user typed it: integers whole, floats short (``5``, ``0.2``, ``nan``)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _has_type(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits a simple type hint: ``int``, ``float``, ``str``, ``bool`` or ``X | None``."""
    options = typing.get_args(hint) or (hint,)
    for option in options:
        if option is type(None) and value is None:
            return True
        if option is bool and isinstance(value, bool):
            return True
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if option is float and isinstance(value, int | float) and not isinstance(value, bool):
            return True
        if option is str and isinstance(value, str):
            return True
    return False
