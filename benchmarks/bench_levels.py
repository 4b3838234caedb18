"""Which noise level a model is told, against the true level of the noise, per kind of noise (run by hand).

For each noise of ``--noises`` (seeded, the project's protocol) on each photo (the 8 built-in test photos, or a
folder's test part with ``--data``): the true rms of the noise (0-255), Donoho's estimate
(``noise.estimate_noise_sigma``, what ``unet-level`` is told and what classical methods get by default) and,
for each ``--models`` entry, the level ``cae-denoise denoise`` would tell it (``inference.estimated_level``: a
``unet-estimate`` model's own estimator network). The clean photos (``gaussian:0``) show what an estimator reads
into texture; camera noise shows what it misses of correlated noise. Prints a Markdown table of means, and the
ratio of each estimate to the truth.

    python benchmarks/bench_levels.py --models default,runs/default_v3/unet-estimate-32-2/best.pt
"""

from __future__ import annotations

import argparse

import numpy as np
from quality import markdown_table

from cae_denoise.evaluation.evaluate import load_test_images
from cae_denoise.models.architectures import takes_noise_level
from cae_denoise.models.checkpoint import load_model
from cae_denoise.models.inference import estimated_level
from cae_denoise.noise.estimate import estimate_noise_sigma
from cae_denoise.noise.models import parse_noise_list

NOISES = ",".join(
    [
        "gaussian:0",
        "gaussian:10",
        "gaussian:25",
        "grey:gaussian:20",
        "camera:low",
        "camera:high",
        "camera:0.012-0.03:jpeg=none:matrix=none",
    ]
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="default", help="comma list of checkpoints told a level, or default")
    parser.add_argument("--noises", default=NOISES, help="comma list of noise specs")
    parser.add_argument("--data", default="builtin", help="photos (their test part), default the built-in ones")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    images, _ = load_test_images(args.data)
    models = {spec: load_model(spec, args.device).model for spec in args.models.split(",")}
    refused = [spec for spec, model in models.items() if not takes_noise_level(model)]
    if refused:
        parser.error(f"these models are told no level: {', '.join(refused)}")
    headers = ["noise", "true rms", "Donoho", *(f"{spec}" for spec in models)]
    rows = []
    for noise in parse_noise_list(args.noises):
        truth, donoho, told = [], [], {spec: [] for spec in models}
        for index, image in enumerate(images):
            noisy = noise.add_seeded(image.pixels, 0, index)
            truth.append(float(np.sqrt(np.mean((noisy.astype(np.float64) - image.pixels) ** 2))) * 255)
            donoho.append(estimate_noise_sigma(noisy))
            for spec, model in models.items():
                told[spec].append(estimated_level(model, noisy, args.device))
        mean_truth = float(np.mean(truth))

        def cell(values: list[float], truth_mean: float = mean_truth) -> str:
            ratio = f" ({np.mean(values) / truth_mean:.2f}x)" if truth_mean > 0.5 else ""
            return f"{np.mean(values):.2f}{ratio}"

        rows.append([noise.spec, f"{mean_truth:.2f}", cell(donoho), *(cell(told[spec]) for spec in models)])
        print(rows[-1], flush=True)
    print(f"\n{args.data}: {len(images)} photos, noise seed 0; levels on the 0-255 scale, means over photos\n")
    print(markdown_table(headers, rows))


if __name__ == "__main__":
    main()
