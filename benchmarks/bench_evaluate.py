"""Where the time of an evaluation goes: model inference, metrics, and everything else.

Runs ``evaluate_specs(["default"], sigmas_255=[25])`` on the built-in test split (as ``cae-denoise evaluate
default`` does) and splits its wall time using the report's own timers: each method's ``denoise_seconds``
(the model, and ``noisy``, the identity, which costs nothing) and ``metric_seconds`` (SSIM / MSE / PSNR of
every method's output). The rest is loading the model, decoding the images, adding noise and the paired
statistics. ``--quick`` evaluates 96x96 crops of the three test photos instead of the whole photos.

    python benchmarks/bench_evaluate.py
    python benchmarks/bench_evaluate.py --quick
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import add_common_options, apply_threads, default_model_spec, print_machine, print_table
from PIL import Image

from cae_denoise.data import BUILTIN, load_source, make_split
from cae_denoise.evaluate import evaluate_specs

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
    parser.add_argument("--sigma", type=float, default=25.0, help="noise level, 0-255 scale (default %(default)s)")
    args = parser.parse_args()
    apply_threads(args.threads)

    print_machine()
    with tempfile.TemporaryDirectory() as workdir:
        spec = default_model_spec(Path(workdir))
        data, split = BUILTIN, "test"
        if args.quick:
            data, split = workdir, "all"
            write_quick_data(Path(workdir))
        tick = time.perf_counter()
        report = evaluate_specs([spec], data=data, split=split, sigmas_255=[args.sigma])
        wall = time.perf_counter() - tick

    level = report["levels"][0]
    print(f"evaluated on {data if data == BUILTIN else 'quick crops'} ({split}): {', '.join(report['images'])}")
    psnr = ", ".join(f"{name} {scores['mean']['psnr']:.2f} dB" for name, scores in level["methods"].items())
    print(f"sigma {args.sigma:g}; mean PSNR: {psnr}")
    print()
    rows = [[f"inference: {name}", s["denoise_seconds"]] for name, s in level["methods"].items()]
    rows.append([f"metrics ({len(level['methods'])} methods)", level["metric_seconds"]])
    rows.append(["other (load, decode, noise, stats)", wall - sum(seconds for _, seconds in rows)])
    table = [[phase, f"{seconds:.3f}", f"{100 * seconds / wall:.1f}%"] for phase, seconds in rows]
    table.append(["total wall", f"{wall:.3f}", "100.0%"])
    print_table(["phase", "seconds", "share of wall"], table)
    print(f"(report's own wall_time_s: {report['wall_time_s']:.3f})")


if __name__ == "__main__":
    main()
