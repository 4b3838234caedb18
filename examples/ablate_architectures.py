"""Ablation behind the default model's architecture: the same short training for each candidate, one table.

Every candidate trains from scratch for ``--steps`` steps with the settings of the default model's recipe
(``train_default_model.py``: stage 1's data, patch and optimiser, stage 2's mixture of Gaussian and camera
noise), then is scored on the built-in test photos at Gaussian sigma 25 and at ``camera:high`` noise, and timed on a
1024 x 1024 photo on this machine (model only, as ``cae-denoise denoise`` tiles it). Prints a Markdown table.

    python examples/ablate_architectures.py --steps 2000      # about 15 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
from train_default_model import STAGE_ONE, STAGE_TWO

from cae_denoise.checkpoint import load_model
from cae_denoise.evaluate import evaluate_specs
from cae_denoise.inference import denoise_array
from cae_denoise.models import count_parameters
from cae_denoise.noise import GaussianNoise, parse_noise
from cae_denoise.train import train

CANDIDATES = {
    "unet 32/2 (blind, today's default)": {"arch": "unet", "channels": 32, "depth": 2},
    "unet-level 32/2 (told the level)": {"arch": "unet-level", "channels": 32, "depth": 2},
    "unet-level 32/3 (one more level)": {"arch": "unet-level", "channels": 32, "depth": 3},
}


def seconds_per_megapixel(checkpoint: Path) -> float:
    """Model time on a 1024 x 1024 image, the best of three runs, per megapixel."""
    model = load_model(checkpoint).model
    image = np.random.default_rng(0).random((1024, 1024, 3), dtype=np.float32)
    times = []
    for _ in range(3):
        tick = time.perf_counter()
        denoise_array(model, image)
        times.append(time.perf_counter() - tick)
    return min(times) / (1024 * 1024 / 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000, help="training steps per candidate")
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    args = parser.parse_args()
    noises = [GaussianNoise(25, 25), parse_noise("camera:high")]
    rows = []
    for label, arch in CANDIDATES.items():
        out = args.out / label.split(" (")[0].replace(" ", "_").replace("/", "-")
        config = dataclasses.replace(
            STAGE_ONE, **arch, out=str(out), noise=STAGE_TWO.noise, epochs=1, steps_per_epoch=args.steps
        )
        result = train(config, overwrite=True)
        body = evaluate_specs([str(result.best)], noises=noises)
        psnr = [level["methods"][next(iter(body["methods"]))]["mean"]["psnr"] for level in body["levels"]]
        parameters = count_parameters(load_model(result.best).model)
        rows.append((label, parameters, *psnr, seconds_per_megapixel(result.best), result.seconds))
        print(rows[-1], flush=True)
    print(f"\n{args.steps} steps each, {torch.get_num_threads()} CPU threads\n")
    print("| candidate | parameters | PSNR sigma 25 | PSNR camera:high | model s/MP | training s |")
    print("|---|---|---|---|---|---|")
    for label, parameters, gaussian, camera, speed, seconds in rows:
        print(f"| {label} | {parameters:,} | {gaussian:.2f} | {camera:.2f} | {speed:.2f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
