"""Calibration of the blind level: is ``--strength 1`` (the estimated level as it is) the best strength?

For a level-conditioned model (``--model``, default the shipped ``default``, an ``unet-level``): the test photos
(or ``--data DIR``) split by kind, colour photos and grey ones (three equal channels: a grey file as
``images.read_rgb`` reads it), with seeded Gaussian noise at sigma 10, 20 and 30 (``--sigmas``). Grey photos get
grey noise: one noise channel (``GaussianNoise(s, s).add_seeded`` on the photo's first channel, the evaluation
protocol) copied into R, G and B, because a grey file has one channel, so its noise is the same in all three.
Colour photos get the usual independent noise per channel. Each noisy photo is denoised as
``cae-denoise denoise --strength S`` does it (the level told is ``inference.Smoothing(S).level_for`` of the photo's
``estimate_noise_sigma``) for every S of ``--strengths`` (0.5 to 3).

Prints, per (kind, noise): the mean PSNR over photos at each strength, the best strength, PSNR at the best and
at 1, the gap (target: gap <= 0.3 dB at strength 1) and the median level told at strength 1. A second table
(``--camera SPEC``, default ``camera:0.005-0.03:jpeg=none``: shot noise up to 2.5x ``camera:high``'s, no JPEG;
the same generator the default model trained on, so not another pipeline) does the same for camera noise on
the colour photos; ``--camera none`` leaves it out.

    python benchmarks/bench_strength.py
    python benchmarks/bench_strength.py --model runs/v3/best.pt --sigmas 10,20,30,50
    python benchmarks/bench_strength.py --quick

``--quick``: 64-pixel centre crops of four photos, the first sigma only, strengths 0.5, 1 and 2.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
from common import add_common_options, add_device_option, apply_threads, parse_device, print_machine
from quality import denoise_as_the_cli, is_grey, load_photos, markdown_table

from cae_denoise.data.sources import BUILTIN
from cae_denoise.evaluation.metrics import psnr
from cae_denoise.models.architectures import takes_noise_level
from cae_denoise.models.checkpoint import load_model
from cae_denoise.noise.models import GaussianNoise, NoiseModel, parse_noise

STRENGTHS = "0.5,0.75,1,1.25,1.5,2,2.5,3"
QUICK_STRENGTHS = "0.5,1,2"
MAX_GAP_DB = 0.3


def noisy_copy(noise: NoiseModel, clean: np.ndarray, seed: int, index: int, grey: bool) -> np.ndarray:
    """A seeded noisy copy; of a grey photo, as a grey file holds it: one noise channel, the same in R, G and B."""
    if grey:
        return np.repeat(noise.add_seeded(clean[..., :1], seed, index), 3, axis=2)
    return noise.add_seeded(clean, seed, index)


def curve(loaded, noisy_and_clean, strengths, device) -> tuple[list[float], float]:
    """Mean PSNR over photos at each strength, and the median level the model was told at strength 1."""
    table = np.zeros((len(noisy_and_clean), len(strengths)))
    levels = []
    for row, (noisy, clean) in enumerate(noisy_and_clean):
        for column, strength in enumerate(strengths):
            output, level = denoise_as_the_cli(loaded, noisy, device, strength)
            table[row, column] = psnr(clean, output, data_range=1.0)
            if strength == 1:
                levels.append(level)
    return list(table.mean(axis=0)), statistics.median(levels) if levels else float("nan")


def summary(label: str, count: int, means: list[float], strengths: list[float]) -> list[str]:
    """The summary row of one (kind, noise): best strength, PSNR there and at 1, the gap and the verdict."""
    best = int(np.argmax(means))
    at_one = means[strengths.index(1.0)]
    gap = means[best] - at_one
    verdict = "PASS" if gap <= MAX_GAP_DB else "FAIL"
    return [label, str(count), f"{strengths[best]:g}", f"{means[best]:.2f}", f"{at_one:.2f}", f"{gap:.2f}", verdict]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)
    add_device_option(parser)
    parser.add_argument("--model", default="default", help="a level-conditioned checkpoint (default %(default)s)")
    parser.add_argument("--data", default=BUILTIN, help="'builtin' (its 8 test photos) or a folder of photos")
    parser.add_argument("--sigmas", default="10,20,30", help="Gaussian sigmas, 0-255 (default %(default)s)")
    parser.add_argument("--strengths", default=STRENGTHS, help="strengths to try (default %(default)s); 1 included")
    parser.add_argument("--camera", default="camera:0.005-0.03:jpeg=none", help="camera noise spec, or 'none'")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default %(default)s)")
    args = parser.parse_args()
    apply_threads(args.threads)
    device = parse_device(parser, args.device)
    strengths = sorted({float(s) for s in (QUICK_STRENGTHS if args.quick else args.strengths).split(",")} | {1.0})
    sigmas = [float(s) for s in args.sigmas.split(",")][: 1 if args.quick else None]
    loaded = load_model(args.model, device)
    if not takes_noise_level(loaded.model):
        parser.exit(2, f"{parser.prog}: error: {args.model} is not told a noise level; --strength does not apply\n")
    print_machine(device)
    photos = load_photos(args.data, args.quick)
    kinds = {
        "colour": [(i, p) for i, p in enumerate(photos) if not is_grey(p.pixels)],
        "grey": [(i, p) for i, p in enumerate(photos) if is_grey(p.pixels)],
    }
    names = "; ".join(f"{kind}: {', '.join(p.name for _, p in chosen) or 'none'}" for kind, chosen in kinds.items())
    print(f"\n{args.model} ({loaded.payload.get('arch')}), noise seed {args.seed}; {names}\n")
    headers = ["photos, noise", "photos", "best strength", "PSNR at best", "PSNR at 1", "gap (dB)", "verdict"]
    curve_headers = ["photos, noise", *(f"{s:g}" for s in strengths), "level told at 1 (median)"]
    jobs = [(kind, GaussianNoise(sigma, sigma), f"gaussian {sigma:g}") for kind in kinds for sigma in sigmas]
    if args.camera != "none":
        camera = parse_noise(args.camera)
        jobs.append(("colour", camera, camera.spec))
    rows, curves = [], []
    for kind, noise, noise_name in jobs:
        pairs = [(noisy_copy(noise, p.pixels, args.seed, i, kind == "grey"), p.pixels) for i, p in kinds[kind]]
        if not pairs:
            continue
        label = f"{kind}, {noise_name}"
        means, told = curve(loaded, pairs, strengths, device)
        rows.append(summary(label, len(pairs), means, strengths))
        curves.append([label, *(f"{m:.2f}" for m in means), f"{told:.1f}"])
    print(markdown_table(headers, rows, left=(0, len(headers) - 1)))
    print(f"\nTarget: PSNR at strength 1 within {MAX_GAP_DB:g} dB of the best strength. Mean PSNR (dB) per strength:\n")
    print(markdown_table(curve_headers, curves))


if __name__ == "__main__":
    main()
