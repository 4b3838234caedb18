"""Inference precision on a GPU: TF32 and bfloat16 autocast against fp32, in speed and in pixels.

For the shipped model, tiled as ``cae-denoise denoise`` runs it (``inference.denoise_array``), on a noisy photo
(``bench_denoise.make_photo``): the model seconds for a ``--megapixels`` photo under each mode, and the largest
difference from the CPU's fp32 output on a 1 MP photo, in 8-bit steps (1/255). Modes: ``fp32`` (TF32 off),
``tf32`` (cuDNN and matmul TF32 on, PyTorch's default for convolutions) and ``bf16`` (autocast).

    python benchmarks/bench_precision.py --device cuda
    python benchmarks/bench_precision.py --quick          # CPU smoke test
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np
import torch
from bench_denoise import make_photo
from common import (
    add_common_options,
    add_device_option,
    apply_threads,
    parse_device,
    print_machine,
    print_table,
    synchronize,
)

from cae_denoise.models.checkpoint import load_model
from cae_denoise.models.inference import denoise_array


def _mode(name: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The precision context of one mode (TF32 flags only matter on CUDA)."""
    stack = contextlib.ExitStack()
    if device.type == "cuda":
        stack.enter_context(torch.backends.cudnn.flags(enabled=True, allow_tf32=name == "tf32"))
        previous = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = name == "tf32"
        stack.callback(setattr, torch.backends.cuda.matmul, "allow_tf32", previous)
    if name == "bf16":
        stack.enter_context(torch.autocast(device.type, dtype=torch.bfloat16))
    return stack


def _timed(model: torch.nn.Module, photo: np.ndarray, device: torch.device) -> tuple[np.ndarray, float]:
    synchronize(device)
    tick = time.perf_counter()
    output = denoise_array(model, photo, device=device)
    synchronize(device)
    return output, time.perf_counter() - tick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)
    add_device_option(parser, default="cuda")
    parser.add_argument("--megapixels", type=float, default=12, help="photo size for the timing (default 12)")
    args = parser.parse_args()
    apply_threads(args.threads)
    device = parse_device(parser, "cpu" if args.quick else args.device)
    small, large = (make_photo(0.02), make_photo(0.05)) if args.quick else (make_photo(1), make_photo(args.megapixels))
    print_machine()
    reference = denoise_array(load_model("default", "cpu").model, small, device="cpu")
    model = load_model("default", device).model
    rows = []
    for name in ("fp32", "tf32", "bf16"):
        with _mode(name, device):
            _timed(model, small, device)  # warm-up
            output, _ = _timed(model, small, device)
            _, seconds = _timed(model, large, device)
        difference = float(np.abs(output - reference).max()) * 255
        rows.append(
            [name, f"{seconds:.3f}", f"{large.shape[0] * large.shape[1] / 1e6 / seconds:.1f}", f"{difference:.2f}"]
        )
    sizes = f"timing on {large.shape[1]}x{large.shape[0]}, differences on {small.shape[1]}x{small.shape[0]}"
    print(f"device {device}; {sizes}")
    print_table(["mode", "model s", "MP/s", "max |out - CPU fp32| (1/255)"], rows)


if __name__ == "__main__":
    main()
