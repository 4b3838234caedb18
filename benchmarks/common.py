"""Helpers shared by the benchmark scripts: options, devices, timing, tables, memory, machine facts, the model to time.

Not part of the package; the scripts import it as a sibling module (``python benchmarks/bench_x.py``).
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from cae_denoise.config import resolve_device
from cae_denoise.errors import CaeDenoiseError, UsageError
from cae_denoise.models.architectures import create_model
from cae_denoise.models.checkpoint import load_model, save_checkpoint
from cae_denoise.models.inference import preferred_layout
from cae_denoise.shipped import resolve_model_path

FALLBACK_ARCH = "unet"


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """``--quick`` (shrink everything to a smoke test) and ``--threads`` (torch intra-op threads)."""
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes and 2-3 iterations: checks the script works (< 30 s)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")


def add_batch_options(parser: argparse.ArgumentParser) -> None:
    """``--patch`` and ``--batch-size``, defaulting to the training defaults (``TrainConfig``)."""
    from cae_denoise.config import TrainConfig

    defaults = TrainConfig()
    parser.add_argument("--patch", type=int, default=defaults.patch, help="patch size (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="batch (default %(default)s)")


def add_device_option(parser: argparse.ArgumentParser, default: str = "cpu") -> None:
    """``--device``: where the benchmark runs its work (``parse_device`` checks it)."""
    parser.add_argument("--device", default=default, help="cpu, cuda or cuda:N (default %(default)s)")


def parse_device(parser: argparse.ArgumentParser, name: str) -> torch.device:
    """``resolve_device(name)``, or the parser's one-line error and exit code 2 (e.g. ``cuda`` without CUDA)."""
    try:
        return resolve_device(name)
    except UsageError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")


def apply_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


def synchronize(device: torch.device | None) -> None:
    """Wait for the work queued on a CUDA ``device`` (call before reading a timer); nothing elsewhere."""
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or what ``platform`` knows elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_label(device: torch.device) -> str:
    """``cpu``, or a CUDA device with its name: ``cuda:0 (NVIDIA H100 80GB HBM3)``."""
    if device.type != "cuda":
        return str(device)
    index = torch.cuda.current_device() if device.index is None else device.index
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"


def print_machine(device: torch.device | None = None) -> None:
    """One line about the machine and torch's threading (and the device the work runs on, if given), printed
    above every table."""
    line = f"cpu: {cpu_model()} | torch {torch.__version__} | torch.get_num_threads() = {torch.get_num_threads()}"
    print(line if device is None else f"{line} | device: {device_label(device)}")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (VmHWM) in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux; approximate elsewhere


def current_rss_mb() -> float:
    """Resident memory of this process now (VmRSS) in MiB, or 0 where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def median_seconds(
    function: Callable[[], object], *, warmup: int, repeats: int, device: torch.device | None = None
) -> float:
    """Median wall time of ``repeats`` calls after ``warmup`` untimed calls.

    On a CUDA ``device`` the clock is read only after synchronising, so a call counts the kernels it queued.
    """
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        synchronize(device)
        tick = time.perf_counter()
        function()
        synchronize(device)
        times.append(time.perf_counter() - tick)
    return statistics.median(times)


CEILING_CHANNELS = (32, 64, 128)


def conv_ceiling(batch: int, size: int, warmup: int, repeats: int, device: torch.device) -> dict[int, float]:
    """GFLOP/s of a 3x3 fp32 Conv2d forward (C -> C channels, padding 1) for each C in CEILING_CHANNELS.

    Each is timed with the images in both memory formats (NCHW and channels_last) and the faster counts:
    the ceiling is the best the convolution kernels of ``device`` do, whichever layout they prefer. On CUDA
    cuDNN picks its fastest kernels (``cudnn.benchmark``, as training sets it) and uses TF32 (PyTorch's default).
    """
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    results = {}
    with torch.inference_mode():
        for channels in CEILING_CHANNELS:
            conv = nn.Conv2d(channels, channels, 3, padding=1).to(device)
            fastest = float("inf")
            for layout in (torch.contiguous_format, torch.channels_last):
                images = torch.rand(batch, channels, size, size, device=device).contiguous(memory_format=layout)
                seconds = median_seconds(
                    lambda conv=conv, images=images: conv(images), warmup=warmup, repeats=repeats, device=device
                )
                fastest = min(fastest, seconds)
            results[channels] = 2 * batch * size * size * channels * channels * 9 / fastest / 1e9
    return results


def report_ceiling(quick: bool, device: torch.device) -> float:
    """Measure the conv ceiling on ``device`` (small sizes when ``quick``), print it on one line, return the best
    GFLOP/s."""
    batch, size, repeats = (2, 32, 2) if quick else (16, 128, 5)
    ceilings = conv_ceiling(batch, size, warmup=1, repeats=repeats, device=device)
    details = ", ".join(f"{c}->{c}: {g:.1f}" for c, g in ceilings.items())
    where = "on the CPU" if device.type == "cpu" else f"on {device}"
    print(f"conv ceiling {where} (3x3 Conv2d forward, batch {batch} x {size}^2, best layout), GFLOP/s: {details}")
    return max(ceilings.values())


def train_step_function(
    model: nn.Module, patch: int, batch_size: int, device: torch.device, seed: int = 0
) -> Callable[[], None]:
    """One training step as ``cae_denoise.training.loop`` does it on ``device``: forward, MSE loss, backward, Adam step.

    Every call reuses one fixed random batch (made on the host from ``seed``, then moved), so data preparation
    is not part of the step. Model and batch are moved to ``device`` in the layout the trainer uses there
    (``preferred_layout``); on CUDA cuDNN picks its fastest kernels, as the trainer lets it. The step does not
    synchronise: time it with ``median_seconds(..., device=device)``.
    """
    layout = preferred_layout(device)
    model.to(device, memory_format=layout)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    generator = torch.Generator().manual_seed(seed)
    clean = torch.rand(batch_size, 3, patch, patch, generator=generator)
    noisy = (clean + 0.1 * torch.randn(clean.shape, generator=generator)).clamp_(0, 1)
    clean, noisy = (tensor.to(device).contiguous(memory_format=layout) for tensor in (clean, noisy))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step() -> None:
        loss = F.mse_loss(model(noisy), clean)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def default_model_available() -> bool:
    try:
        resolve_model_path("default")
    except CaeDenoiseError:
        return False
    return True


def fallback_note() -> str:
    return f"NOTE: shipped default model missing; timing an untrained create_model({FALLBACK_ARCH!r}) instead"


def load_default_model() -> tuple[nn.Module, str]:
    """The shipped default model in eval mode and its label, or an untrained fallback (printing a note)."""
    if default_model_available():
        loaded = load_model("default")
        return loaded.model, f"default ({loaded.payload.get('arch')})"
    print(fallback_note())
    return create_model(FALLBACK_ARCH).eval(), f"untrained {FALLBACK_ARCH}"


def default_model_spec(workdir: Path) -> str:
    """``"default"``, or the path of an untrained fallback checkpoint written to ``workdir`` (printing a note)."""
    if default_model_available():
        return "default"
    print(fallback_note())
    path = workdir / f"untrained_{FALLBACK_ARCH}.pt"
    model = create_model(FALLBACK_ARCH)
    save_checkpoint(path, {"arch": FALLBACK_ARCH, "arch_args": {}, "model": model.state_dict()}, overwrite=True)
    return str(path)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Plain-text table: first column left-aligned, the others right-aligned; floats as given by the caller."""
    cells = [[str(cell) for cell in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        parts = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    print(line(cells[0]))
    print("  ".join("-" * width for width in widths))
    for row in cells[1:]:
        print(line(row))
