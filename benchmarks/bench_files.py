"""Photos in, photos out: ``denoise_files`` end to end (decode, noise estimate, model, encode, write) by stage.

A noisy 8-bit PNG of each size (``bench_denoise.make_photo``) is written ``--files`` times into a scratch
folder; ``denoise_files`` then denoises them all with the shipped model, once per ``--png-levels`` value, the
way ``cae-denoise denoise`` does (reader and writer threads overlap the stages of different files). Columns:
wall seconds and megapixels per second of the whole run (excluding process start and model loading), the
seconds each stage took summed over the files (``decode`` includes the noise estimate), ``outside model``:
the share of wall time not spent in the model, and the size of the outputs. PNGs are written through OpenCV
when it is installed (the ``png16`` extra); ``--without-opencv`` measures Pillow's writer instead.

    python benchmarks/bench_files.py                           # 12 MP, 2 files, PNG levels 1 and 6, CPU
    python benchmarks/bench_files.py --device cuda --files 4
    python benchmarks/bench_files.py --files 1 --without-opencv
    python benchmarks/bench_files.py --quick
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_denoise import make_photo
from common import (
    add_common_options,
    add_device_option,
    apply_threads,
    default_model_spec,
    parse_device,
    print_machine,
    print_table,
)
from PIL import Image

from cae_denoise.denoising import OutputSettings, denoise_files
from cae_denoise.io.images import opencv_png_writer
from cae_denoise.models.checkpoint import LoadedModel, load_model


def run(loaded: LoadedModel, megapixels: float, files: int, png_level: int, device: str, folder: Path) -> list[str]:
    """One table row: denoise ``files`` copies of a photo of ``megapixels`` at ``png_level``."""
    source = folder / f"in_{megapixels:g}"
    source.mkdir(exist_ok=True)
    photo = Image.fromarray(np.round(make_photo(megapixels) * 255).astype(np.uint8))
    for index in range(files):  # written by Pillow at its default level, as most software would
        photo.save(source / f"photo{index}.png")
    out = Path(tempfile.mkdtemp(prefix="out_", dir=folder))
    started = time.perf_counter()
    settings = OutputSettings("png", png_level=png_level)
    results = denoise_files(loaded, [str(source)], out_dir=out, settings=settings, device=device).files
    wall = time.perf_counter() - started
    failed = [result.error for result in results if result.error]
    if failed:
        raise SystemExit(f"denoise failed: {failed[0]}")
    stages = {name: sum(result.timings[name] for result in results) for name in ("decode", "model", "encode", "write")}
    stages["decode"] += sum(result.timings["noise_estimate"] for result in results)
    pixels = sum(result.megapixels for result in results)
    output_bytes = sum(result.output.stat().st_size for result in results if result.output)
    return [
        f"{megapixels:g} MP x {files}",
        str(png_level),
        f"{wall:.2f}",
        f"{pixels / wall:.2f}",
        *(f"{stages[name]:.2f}" for name in ("decode", "model", "encode", "write")),
        f"{100 * (wall - stages['model']) / wall:.0f}%",
        f"{output_bytes / 1e6:.1f}",
    ]


def png_writer_label() -> str:
    """Which library writes the PNGs, with its version."""
    import PIL

    cv2 = opencv_png_writer()
    return f"OpenCV {cv2.__version__}" if cv2 else f"Pillow {PIL.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)
    parser.add_argument("--sizes", type=float, nargs="+", default=[12], help="megapixels (default 12)")
    parser.add_argument("--files", type=int, default=2, help="copies of each photo (default %(default)s)")
    parser.add_argument("--png-levels", type=int, nargs="+", default=[1, 6], help="zlib levels (default 1 6)")
    parser.add_argument("--without-opencv", action="store_true", help="write PNGs with Pillow even if OpenCV is here")
    add_device_option(parser)
    args = parser.parse_args()
    if args.without_opencv:
        sys.modules["cv2"] = None  # an import of cv2 now fails, as where it is not installed
    apply_threads(args.threads)
    if args.quick:
        args.sizes, args.files, args.png_levels = [0.05], 2, [1]
    device = parse_device(parser, args.device)
    print_machine()
    print(f"device {device}; PNG writer: {png_writer_label()}; the model is loaded before the clock starts")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        loaded = load_model(default_model_spec(Path(scratch)), device)
        run(loaded, 0.05, 1, 1, str(device), Path(scratch))  # warm-up: first CUDA use, kernel selection
        for megapixels in args.sizes:
            for level in args.png_levels:
                rows.append(run(loaded, megapixels, args.files, level, str(device), Path(scratch)))
    headers = ["photos", "PNG level", "wall s", "MP/s", "decode s", "model s", "encode s", "write s", "outside model"]
    headers.append("output MB")
    print_table(headers, rows)


if __name__ == "__main__":
    main()
