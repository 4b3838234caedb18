"""Ablation behind the default model's architecture: the same short training for each candidate, one table.

Every candidate of ``train_default_model.CANDIDATES`` trains from scratch for ``--steps`` steps with the
recipe's settings (its noise mixture, patch, batch and optimiser; ``--data`` defaults to the built-in
training images plus dead leaves, or the recipe's training folder), then is scored on the built-in test
photos at Gaussian sigma 25, camera noise (``camera:high``), camera noise from a pipeline unlike the
default one (stronger shot noise, no colour matrix, no JPEG), grey Gaussian noise (the same in every
channel, as in a grey file), and on the clean photos themselves (PSNR of the output against the input:
first, do no harm), and timed on a 1024 x 1024 photo on this machine (model only, as ``cae-denoise
denoise`` tiles it). Prints a Markdown table.

    python examples/ablate_architectures.py --steps 1500                      # about an hour on 2 CPU cores
    python examples/ablate_architectures.py --steps 1500 --candidates unet-level-32-2,unet-estimate-32-2
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
from train_default_model import BASE, CANDIDATES, DEVICE_SIZES

from cae_denoise.config import resolve_device
from cae_denoise.evaluation.evaluate import evaluate_specs
from cae_denoise.models.architectures import count_parameters
from cae_denoise.models.checkpoint import load_model
from cae_denoise.models.inference import denoise_array
from cae_denoise.noise.models import parse_noise
from cae_denoise.training.loop import train

#: Test noises: (column, spec).
NOISES = (
    ("sigma 25", "gaussian:25"),
    ("camera:high", "camera:high"),
    ("other camera", "camera:0.012-0.03:jpeg=none:matrix=none"),
    ("grey sigma 20", "grey:gaussian:20"),
    ("clean (vs input)", "gaussian:0"),
)


def seconds_per_megapixel(checkpoint: Path, device: str) -> float:
    """Model time on a 1024 x 1024 image, the best of three runs, per megapixel."""
    model = load_model(checkpoint, device).model
    image = np.random.default_rng(0).random((1024, 1024, 3), dtype=np.float32)
    times = []
    for _ in range(3):
        tick = time.perf_counter()
        denoise_array(model, image, device=device)
        times.append(time.perf_counter() - tick)
    return min(times) / (1024 * 1024 / 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1500, help="training steps per candidate")
    parser.add_argument("--candidates", default=",".join(CANDIDATES), help="comma list of the recipe's candidates")
    parser.add_argument("--data", default="builtin", help="training data (default: the built-in training images)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--patch", type=int, help="patch side (default: the recipe's for the device)")
    parser.add_argument("--batch-size", type=int, help="patches a step (default: the recipe's for the device)")
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    args = parser.parse_args()
    device = str(resolve_device(args.device))
    patch, batch = DEVICE_SIZES[resolve_device(args.device).type]
    patch, batch = args.patch or patch, args.batch_size or batch
    noises = [parse_noise(spec) for _, spec in NOISES]
    rows = []
    for name in args.candidates.split(","):
        config = dataclasses.replace(
            BASE,
            **CANDIDATES[name],
            data=args.data,
            out=str(args.out / name),
            device=args.device,
            patch=patch,
            batch_size=batch,
            epochs=max(args.steps // 100, 1),  # an epoch's last.pt every 100 steps shows the progress
            steps_per_epoch=min(args.steps, 100),
        )
        result = train(config, overwrite=True)
        body = evaluate_specs([str(result.best)], noises=noises, device=device)
        label = next(iter(body["methods"]))
        psnr = [level["methods"][label]["mean"]["psnr"] for level in body["levels"]]
        parameters = count_parameters(load_model(result.best).model)
        rows.append((name, parameters, *psnr, seconds_per_megapixel(result.best, device), result.seconds))
        print(rows[-1], flush=True)
    print(f"\n{args.steps} steps each (batch {batch}, patch {patch}), {torch.get_num_threads()} CPU threads\n")
    print("| candidate | parameters | " + " | ".join(f"PSNR {column}" for column, _ in NOISES) + " | s/MP | train s |")
    print("|---" * (len(NOISES) + 4) + "|")
    for name, parameters, *values in rows:
        *scores, speed, seconds = values
        cells = " | ".join(f"{score:.2f}" for score in scores)
        print(f"| {name} | {parameters:,} | {cells} | {speed:.2f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
