"""What each output format costs on one photo: file size and encode time of its denoised pixels (run by hand).

Usage: ``python benchmarks/bench_outputs.py PHOTO DENOISED`` where DENOISED is ``cae-denoise denoise PHOTO --format
png``'s output (the model is not run here, so the table measures encoding alone). Prints one row per format: PNG
level 1 (the old default for every input), JPEG at quality 95 (``--format auto`` for a JPEG input), TIFF without
compression (as written before) and compressed (LZW or zlib with a predictor, now), 8-bit and 16-bit colour, and
the side-by-side picture at full size (as before) and labelled and downscaled to 2 MP (now). Best of 2 runs.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable

import numpy as np
import tifffile
from PIL import Image

from cae_denoise.io.images import decode_image, encode_image
from cae_denoise.io.pictures import side_by_side


def timed(label: str, make: Callable[[], bytes]) -> None:
    best, data = float("inf"), b""
    for _ in range(2):
        tick = time.perf_counter()
        data = make()
        best = min(best, time.perf_counter() - tick)
    print(f"| {label} | {len(data) / 1e6:.2f} | {best:.2f} |")


def main(photo: str, denoised: str) -> None:
    noisy, clean = decode_image(photo).rgb, decode_image(denoised).rgb
    height, width = clean.shape[:2]
    print(f"{width} x {height} ({height * width / 1e6:.1f} MP)\n\n| output | MB | encode s |\n|---|---|---|")

    def raw_tiff(bit_depth: int) -> bytes:
        buffer = io.BytesIO()
        if bit_depth == 8:
            Image.fromarray(np.round(clean * 255).astype(np.uint8)).save(buffer, format="TIFF")
        else:
            tifffile.imwrite(buffer, np.round(clean * 65535).astype(np.uint16), photometric="rgb")
        return buffer.getvalue()

    gap = np.ones((height, 8, 3), np.float32)
    timed("PNG level 1 (before: every input)", lambda: encode_image(clean, fmt="png"))
    timed("JPEG quality 95 (now: a JPEG input)", lambda: encode_image(clean, fmt="jpeg"))
    timed("TIFF 8-bit, uncompressed (before)", lambda: raw_tiff(8))
    timed("TIFF 8-bit, LZW + predictor (now)", lambda: encode_image(clean, fmt="tiff"))
    timed("TIFF 16-bit colour, uncompressed (before; DENOISED widened to 16 bits)", lambda: raw_tiff(16))
    timed("TIFF 16-bit colour, zlib 1 + predictor (now)", lambda: encode_image(clean, fmt="tiff", bit_depth=16))
    timed("side-by-side, full size PNG (before)", lambda: encode_image(np.concatenate([noisy, gap, clean], axis=1)))
    timed("side-by-side, labelled, at most 2 MP PNG (now)", lambda: encode_image(side_by_side(noisy, clean)))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
