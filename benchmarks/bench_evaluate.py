"""Where the time of an evaluation goes: model inference, metrics, and everything else.

Runs ``evaluate_specs(["default"], sigmas_255=[25])`` on the built-in test split (as ``cae-denoise evaluate
default`` does) and splits its wall time using the report's own timers: each method's ``denoise_seconds``
(the model, and ``noisy``, the identity, which costs nothing) and ``metric_seconds`` (SSIM / MSE / PSNR of
every method's output). The rest is loading the model, decoding the images, adding noise and the paired
statistics. ``--quick`` evaluates 96x96 crops of the three test photos instead of the whole photos.

``--device cuda`` (or ``cuda:N``) evaluates with the model on that GPU (``evaluate_specs(..., device=...)``,
as ``cae-denoise evaluate --device cuda``; its tiling is ``default_tiling``'s for the GPU, and each image's
output is copied back to the host, so ``denoise_seconds`` includes the GPU's work). The metrics, decoding and
noise are computed on the CPU whatever the device (scikit-image and numpy), and the table says so; the peak GPU
memory (``torch.cuda.max_memory_allocated``) is printed below it. The first CUDA call's start-up is part of
the model's time, as in a real ``evaluate`` run.

    python benchmarks/bench_evaluate.py
    python benchmarks/bench_evaluate.py --device cuda
    python benchmarks/bench_evaluate.py --quick
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import (
    add_common_options,
    add_device_option,
    apply_threads,
    default_model_spec,
    parse_device,
    print_machine,
    print_table,
    synchronize,
)
from PIL import Image

from cae_denoise.data.sources import BUILTIN, load_source, make_split
from cae_denoise.evaluation.evaluate import evaluate_specs

QUICK_CROP = 96


def write_quick_data(folder: Path) -> None:
    """Centre crops of the built-in test photos, as PNGs: a three-image source for ``--quick``."""
    source = load_source(BUILTIN)
    for image in source.by_names(make_split(source).test):
        height, width = image.pixels.shape[:2]
        top, left = (height - QUICK_CROP) // 2, (width - QUICK_CROP) // 2
        crop = image.pixels[top : top + QUICK_CROP, left : left + QUICK_CROP]
        Image.fromarray((crop * 255).round().astype(np.uint8)).save(folder / f"{image.name}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)
    add_device_option(parser)
    parser.add_argument("--sigma", type=float, default=25.0, help="noise level, 0-255 scale (default %(default)s)")
    args = parser.parse_args()
    apply_threads(args.threads)
    device = parse_device(parser, args.device)

    print_machine(device)
    with tempfile.TemporaryDirectory() as workdir:
        spec = default_model_spec(Path(workdir))
        data, split = BUILTIN, "test"
        if args.quick:
            data, split = workdir, "all"
            write_quick_data(Path(workdir))
        tick = time.perf_counter()
        report = evaluate_specs([spec], data=data, split=split, sigmas_255=[args.sigma], device=device)
        synchronize(device)
        wall = time.perf_counter() - tick

    level = report["levels"][0]
    print(f"evaluated on {data if data == BUILTIN else 'quick crops'} ({split}): {', '.join(report['images'])}")
    psnr = ", ".join(f"{name} {scores['mean']['psnr']:.2f} dB" for name, scores in level["methods"].items())
    print(f"sigma {args.sigma:g}; mean PSNR: {psnr}")
    print()
    on_gpu = device.type == "cuda"
    rows = [
        [f"inference: {name}{f' ({device})' if on_gpu and name != 'noisy' else ''}", scores["denoise_seconds"]]
        for name, scores in level["methods"].items()
    ]
    rows.append(
        [f"metrics ({len(level['methods'])} methods{', on the CPU' if on_gpu else ''})", level["metric_seconds"]]
    )
    rows.append(["other (load, decode, noise, stats)", wall - sum(seconds for _, seconds in rows)])
    table = [[phase, f"{seconds:.3f}", f"{100 * seconds / wall:.1f}%"] for phase, seconds in rows]
    table.append(["total wall", f"{wall:.3f}", "100.0%"])
    print_table(["phase", "seconds", "share of wall"], table)
    print(f"(report's own wall_time_s: {report['wall_time_s']:.3f})")
    if on_gpu:
        peak = torch.cuda.max_memory_allocated(device) / 2**20
        print(f"peak GPU memory (torch.cuda.max_memory_allocated): {peak:.0f} MB")


if __name__ == "__main__":
    main()
