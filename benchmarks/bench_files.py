"""Photos in, photos out: ``denoise_files`` end to end (decode, noise estimate, model, encode, write) by stage.

A noisy 8-bit PNG of each size (``bench_denoise.make_photo``) is written ``--files`` times into a scratch
folder; ``denoise_files`` then denoises them all with the shipped model, once per ``--png-levels`` value, the
way ``cae-denoise denoise`` does (reader and writer threads overlap the stages of different files). Columns:
wall seconds and megapixels per second of the whole run (excluding process start and model loading), the
seconds each stage took summed over the files (``decode`` includes the noise estimate), and ``outside
model``: the share of wall time not spent in the model.

    python benchmarks/bench_files.py                           # 12 MP, 2 files, PNG levels 1 and 6, CPU
    python benchmarks/bench_files.py --device cuda --files 4
    python benchmarks/bench_files.py --quick
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

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

from cae_denoise.checkpoint import LoadedModel, load_model
from cae_denoise.files import OutputSettings, denoise_files
from cae_denoise.images import encode_image


def run(loaded: LoadedModel, megapixels: float, files: int, png_level: int, device: str, folder: Path) -> list[str]:
    """One table row: denoise ``files`` copies of a photo of ``megapixels`` at ``png_level``."""
    source = folder / f"in_{megapixels:g}"
    source.mkdir(exist_ok=True)
    data = encode_image(make_photo(megapixels))
    for index in range(files):
        (source / f"photo{index}.png").write_bytes(data)
    out = Path(tempfile.mkdtemp(prefix="out_", dir=folder))
    started = time.perf_counter()
    settings = OutputSettings("png", False, png_level)
    results = denoise_files(loaded, [str(source)], out_dir=out, settings=settings, device=device)
    wall = time.perf_counter() - started
    failed = [result.error for result in results if result.error]
    if failed:
        raise SystemExit(f"denoise failed: {failed[0]}")
    stages = {name: sum(result.timings[name] for result in results) for name in ("decode", "model", "encode", "write")}
    stages["decode"] += sum(result.timings["noise_estimate"] for result in results)
    pixels = sum(result.megapixels for result in results)
    return [
        f"{megapixels:g} MP x {files}",
        str(png_level),
        f"{wall:.2f}",
        f"{pixels / wall:.2f}",
        *(f"{stages[name]:.2f}" for name in ("decode", "model", "encode", "write")),
        f"{100 * (wall - stages['model']) / wall:.0f}%",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)
    parser.add_argument("--sizes", type=float, nargs="+", default=[12], help="megapixels (default 12)")
    parser.add_argument("--files", type=int, default=2, help="copies of each photo (default %(default)s)")
    parser.add_argument("--png-levels", type=int, nargs="+", default=[1, 6], help="zlib levels (default 1 6)")
    add_device_option(parser)
    args = parser.parse_args()
    apply_threads(args.threads)
    if args.quick:
        args.sizes, args.files, args.png_levels = [0.05], 2, [1]
    device = parse_device(parser, args.device)
    print_machine()
    print(f"device {device}; the model is loaded before the clock starts; wall time covers all files")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        loaded = load_model(default_model_spec(Path(scratch)), device)
        run(loaded, 0.05, 1, 1, str(device), Path(scratch))  # warm-up: first CUDA use, kernel selection
        for megapixels in args.sizes:
            for level in args.png_levels:
                rows.append(run(loaded, megapixels, args.files, level, str(device), Path(scratch)))
    headers = ["photos", "PNG level", "wall s", "MP/s", "decode s", "model s", "encode s", "write s", "outside model"]
    print_table(headers, rows)


if __name__ == "__main__":
    main()
