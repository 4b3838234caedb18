"""Whole-photo denoising speed and peak memory: the default model (tiled) against NLM and BM3D.

Test photos of 1, 4 and 12 megapixels (4:3) are made offline by mirror-tiling ``skimage.data.chelsea()`` up
to the size and adding Gaussian noise of sigma 25/255 (seeded). Each (size, method) runs in a fresh child
process (this script with the hidden ``--child`` option), so its peak resident memory (VmHWM) is its own:
``base MB`` is the child's resident memory just before denoising (Python, torch, the model and the input
image), ``peak MB`` the most it ever held. Methods: the shipped default model via
``cae_denoise.models.inference.denoise_array`` (the tiling of ``default_tiling`` for the device: on the CPU
256-pixel tiles, one at a time), scikit-image NLM as ``classical_denoiser("nlm", 25)`` (up to ``--nlm-max-mp``)
and BM3D if the optional ``bm3d`` package imports (up to ``--bm3d-max-mp``; it is expected to take about 40 s
per megapixel). ``vs model`` is the method's time divided by the model's at the same size. For the model,
``GFLOP/s`` is its forward FLOPs per pixel (``FlopCounterMode`` on a 128 x 128 input) times the photo's pixels
over the seconds (tile overlap is not counted: it is overhead), and ``of ceiling`` compares that with the conv
ceiling of ``bench_train.py`` on the same device.

``--device cuda`` (or ``cuda:N``) runs the model on that GPU with the GPU tiling (512-pixel tiles, 4 at a
time); its call is timed after one untimed warm-up call on the same photo (CUDA's lazy start-up and kernel
selection), synchronised, and ``GPU peak MB`` adds ``torch.cuda.max_memory_allocated``. NLM and BM3D have
no GPU implementation: they always run on the CPU, and the table says so.

    python benchmarks/bench_denoise.py                  # 1, 4, 12 MP on the CPU
    python benchmarks/bench_denoise.py --sizes 1 4      # fewer sizes
    python benchmarks/bench_denoise.py --device cuda    # the model on the GPU (NLM, BM3D still on the CPU)
    python benchmarks/bench_denoise.py --quick          # smoke test on tiny images
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time

import numpy as np
import skimage.data
import torch
from common import (
    add_common_options,
    add_device_option,
    apply_threads,
    current_rss_mb,
    default_model_available,
    fallback_note,
    load_default_model,
    parse_device,
    peak_rss_mb,
    print_machine,
    print_table,
    report_ceiling,
    synchronize,
)
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cae_denoise.evaluation.classical import classical_denoiser
from cae_denoise.models.inference import default_tiling, denoise_array

SIGMA = 25.0
METHODS = ("model", "nlm", "bm3d")


def make_photo(megapixels: float, seed: int = 0) -> np.ndarray:
    """A noisy 4:3 HxWx3 float32 photo of about ``megapixels``: chelsea mirror-tiled, plus sigma-25 noise."""
    width = round((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = round(megapixels * 1e6 / width)
    cat = skimage.data.chelsea().astype(np.float32) / 255.0
    photo = np.pad(cat, ((0, max(0, height - cat.shape[0])), (0, max(0, width - cat.shape[1])), (0, 0)), "symmetric")
    photo = np.ascontiguousarray(photo[:height, :width])
    rng = np.random.default_rng(seed)
    for top in range(0, height, 256):  # in strips, so the noise never doubles the memory
        strip = photo[top : top + 256]
        strip += (SIGMA / 255.0) * rng.standard_normal(strip.shape, dtype=np.float32)
        np.clip(strip, 0.0, 1.0, out=strip)
    return photo


def forward_flops_per_pixel(model: nn.Module, device: torch.device, size: int = 128) -> float:
    """Forward FLOPs per pixel of a fully convolutional model on ``device``, counted on one ``size``^2 image."""
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(torch.rand(1, 3, size, size, device=device))
    return counter.get_total_flops() / size**2


def child(megapixels: float, method: str, tile: int, tile_batch: int, device: torch.device) -> None:
    """Run one method on one photo (the model on ``device``, NLM and BM3D on the CPU); print seconds, memory and
    (model) FLOPs per pixel as one JSON line."""
    photo = make_photo(megapixels)
    flops_per_pixel = 0.0
    if method == "model":
        model, _ = load_default_model()
        model.to(device)
        flops_per_pixel = forward_flops_per_pixel(model, device)
        run = lambda noisy: denoise_array(model, noisy, device=device, tile=tile, batch_size=tile_batch)  # noqa: E731
    else:
        device = torch.device("cpu")
        run = classical_denoiser(method, SIGMA)
    if device.type == "cuda":
        run(photo)  # warm-up: CUDA's lazy start-up and kernel selection are not the model's speed
    synchronize(device)
    base = current_rss_mb()
    tick = time.perf_counter()
    run(photo)
    synchronize(device)
    seconds = time.perf_counter() - tick
    pixels = photo[..., 0].size
    result = {
        "seconds": seconds,
        "base_mb": base,
        "peak_mb": peak_rss_mb(),
        "gpu_peak_mb": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else 0.0,
        "pixels": pixels,
        "flops_per_pixel": flops_per_pixel,
    }
    print(json.dumps(result))


def measure(megapixels: float, method: str, args: argparse.Namespace) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", str(megapixels), method, "--device", args.device]
    command += ["--tile", str(args.tile), "--tile-batch", str(args.tile_batch)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"child {megapixels} MP {method} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)
    add_device_option(parser)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 4, 12], help="megapixels (default 1 4 12)")
    parser.add_argument("--tile", type=int, help="model tile size (default: default_tiling's for the device)")
    parser.add_argument("--tile-batch", type=int, help="tiles per batch (default: default_tiling's for the device)")
    parser.add_argument("--nlm-max-mp", type=float, default=12, help="run NLM up to this size (default %(default)s)")
    parser.add_argument("--bm3d-max-mp", type=float, default=1, help="run BM3D up to this size (default %(default)s)")
    parser.add_argument("--child", nargs=2, metavar=("MP", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    apply_threads(args.threads)
    device = parse_device(parser, args.device)
    tile, tile_batch = default_tiling(device)
    args.tile, args.tile_batch = args.tile or tile, args.tile_batch or tile_batch
    if args.child:
        child(float(args.child[0]), args.child[1], args.tile, args.tile_batch, device)
        return
    if args.quick:
        args.sizes, args.tile = [0.02, 0.05], 128
        args.nlm_max_mp = args.bm3d_max_mp = 0.05

    print_machine(device)
    if not default_model_available():
        print(fallback_note())
    has_bm3d = importlib.util.find_spec("bm3d") is not None
    if not has_bm3d:
        print("NOTE: bm3d is not installed (pip install bm3d); BM3D rows are left out")
    ceiling = report_ceiling(args.quick, device)
    print(f"noise sigma {SIGMA:g}, model tile {args.tile}, {args.tile_batch} tiles per batch; each row a fresh process")
    if device.type == "cuda":
        print(f"model on {device} (timed after one warm-up call); NLM and BM3D on the CPU (no GPU implementation)")
    print()

    rows = []
    for megapixels in args.sizes:
        chosen = ["model"]
        chosen += ["nlm"] if megapixels <= args.nlm_max_mp else []
        chosen += ["bm3d"] if has_bm3d and megapixels <= args.bm3d_max_mp else []
        model_seconds = None
        for method in chosen:
            result = measure(megapixels, method, args)
            seconds = result["seconds"]
            model_seconds = model_seconds or seconds
            gflops = result["flops_per_pixel"] * result["pixels"] / seconds / 1e9
            row = [
                f"{megapixels:g} MP",
                method if device.type == "cpu" else f"{method} ({device if method == 'model' else 'cpu'})",
                f"{seconds:.2f}",
                f"{result['pixels'] / 1e6 / seconds:.3f}",
                f"{result['base_mb']:.0f}",
                f"{result['peak_mb']:.0f}",
                f"{seconds / model_seconds:.2f}x",
                f"{gflops:.1f}" if gflops else "-",
                f"{100 * gflops / ceiling:.0f}%" if gflops else "-",
            ]
            if device.type == "cuda":
                row.append(f"{result['gpu_peak_mb']:.0f}" if method == "model" else "-")
            rows.append(row)
    headers = ["size", "method", "seconds", "MP/s", "base MB", "peak MB", "vs model", "GFLOP/s", "of ceiling"]
    print_table(headers + (["GPU peak MB"] if device.type == "cuda" else []), rows)


if __name__ == "__main__":
    main()
