"""First, do no harm: what a denoiser does to photos that are clean, or nearly clean.

For a model (``--model``, default the shipped ``default``; any checkpoint path) and optional comparators
(``--compare nlm,bm3d,ffdnet``, each told each photo's estimated level, as a user has it), on the built-in test
photos (or every photo of ``--data DIR``):

- clean photos as they are, no noise added: PSNR of the output against the input (target >= 45 dB), the largest
  change of any pixel value in 0-255 levels (target <= 16), and the share of pixels with a change above 4 levels
  in any channel;
- Gaussian noise at sigma 2 and 5 (seeded: ``GaussianNoise(s, s).add_seeded(photo, seed, index)``, clipped,
  the evaluation protocol): PSNR of the noisy input and of the output against the clean photo (target: output
  better than input).

The model runs as ``cae-denoise denoise`` runs it (``checkpoint.load_model``, then ``denoise_array`` told the
level ``inference.Smoothing`` gives for the photo's ``estimate_noise_sigma``). Outputs are compared as floats, before
the 8-bit rounding of a written file (at most half a level). Prints one Markdown table per method: a row per
photo, a mean row (PSNR averaged in dB, the largest change over all photos), and PASS / FAIL against the targets
(FAIL names the targets missed).

    python benchmarks/bench_no_harm.py
    python benchmarks/bench_no_harm.py --model runs/v3/best.pt --compare nlm,ffdnet
    python benchmarks/bench_no_harm.py --data ~/photos --quick
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from common import add_common_options, add_device_option, apply_threads, parse_device, print_machine
from quality import denoise_as_the_cli, load_photos, markdown_table, user_level_comparator

from cae_denoise.data.sources import BUILTIN
from cae_denoise.evaluation.metrics import psnr
from cae_denoise.models.checkpoint import load_model
from cae_denoise.noise.models import GaussianNoise

MIN_CLEAN_PSNR = 45.0
MAX_CHANGE_LEVELS = 16.0
CHANGED_LEVELS = 4.0
LOW_SIGMAS = (2.0, 5.0)


def measure(denoise, photos, seed: int) -> list[dict[str, float]]:
    """Per photo: the clean-photo numbers and, per low sigma, the input's and the output's PSNR."""
    rows = []
    for index, photo in enumerate(photos):
        clean = photo.pixels
        output = denoise(clean)
        change = np.abs(output.astype(np.float64) - clean) * 255.0
        row = {
            "psnr_clean": psnr(clean, output, data_range=1.0),
            "max_change": float(change.max()),
            "changed_share": float((change.max(axis=2) > CHANGED_LEVELS).mean()),
        }
        for sigma in LOW_SIGMAS:
            noisy = GaussianNoise(sigma, sigma).add_seeded(clean, seed, index)
            row[f"input_{sigma:g}"] = psnr(clean, noisy, data_range=1.0)
            row[f"output_{sigma:g}"] = psnr(clean, denoise(noisy), data_range=1.0)
        rows.append(row)
    return rows


def misses(row: dict[str, float]) -> list[str]:
    """The targets a row misses, by short name."""
    missed = []
    if row["psnr_clean"] < MIN_CLEAN_PSNR:
        missed.append(f"clean PSNR < {MIN_CLEAN_PSNR:g}")
    if row["max_change"] > MAX_CHANGE_LEVELS:
        missed.append(f"max change > {MAX_CHANGE_LEVELS:g}")
    missed += [f"sigma {s:g} worse" for s in LOW_SIGMAS if row[f"output_{s:g}"] <= row[f"input_{s:g}"]]
    return missed


def mean_row(rows: list[dict[str, float]]) -> dict[str, float]:
    """Means over photos (PSNR in dB, ``inf`` where an output equals its input), the largest change over all."""
    mean = {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}
    mean["max_change"] = max(row["max_change"] for row in rows)
    return mean


def cells(name: str, row: dict[str, float]) -> list[str]:
    def db(value: float) -> str:
        return "inf" if math.isinf(value) else f"{value:.2f}"

    missed = misses(row)
    return [
        name,
        db(row["psnr_clean"]),
        f"{row['max_change']:.1f}",
        f"{100 * row['changed_share']:.2f}%",
        *(f"{db(row[f'input_{s:g}'])} / {db(row[f'output_{s:g}'])}" for s in LOW_SIGMAS),
        "PASS" if not missed else "FAIL: " + ", ".join(missed),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)
    add_device_option(parser)
    parser.add_argument("--model", default="default", help="checkpoint to test, or 'default' (default %(default)s)")
    parser.add_argument("--compare", default="", help="comma list of comparators, e.g. nlm,bm3d,ffdnet")
    parser.add_argument("--data", default=BUILTIN, help="'builtin' (its 8 test photos) or a folder of photos")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default %(default)s)")
    args = parser.parse_args()
    apply_threads(args.threads)
    device = parse_device(parser, args.device)
    print_machine(device)
    photos = load_photos(args.data, args.quick)
    loaded = load_model(args.model, device)
    methods = [(f"{args.model} ({loaded.payload.get('arch')})", lambda rgb: denoise_as_the_cli(loaded, rgb, device)[0])]
    methods += [user_level_comparator(name.strip(), device) for name in args.compare.split(",") if name.strip()]
    where = "built-in test photos" if args.data == BUILTIN else args.data
    print(f"\n{len(photos)} photos ({where}{', centre crops' if args.quick else ''}), noise seed {args.seed}")
    headers = [
        "photo",
        "clean: PSNR out vs in (dB)",
        "max change (levels)",
        f"> {CHANGED_LEVELS:g} levels",
        *(f"sigma {s:g}: input / output PSNR" for s in LOW_SIGMAS),
        "verdict",
    ]
    for label, denoise in methods:
        rows = measure(denoise, photos, args.seed)
        table = [cells(photo.name, row) for photo, row in zip(photos, rows, strict=True)]
        table.append(cells("**mean**", mean_row(rows)))
        passed = sum(not misses(row) for row in rows)
        print(f"\n### {label}: {passed}/{len(rows)} photos pass\n")
        print(markdown_table(headers, table, left=(0, len(headers) - 1)))
    print(
        f"\nTargets: clean PSNR >= {MIN_CLEAN_PSNR:g} dB, no pixel value moved by more than {MAX_CHANGE_LEVELS:g} "
        f"levels, output better than input at sigma {' and '.join(f'{s:g}' for s in LOW_SIGMAS)}."
    )


if __name__ == "__main__":
    main()
