"""Train on "your own" photos three ways and compare: synthetic noise, real pairs, noisy photos alone.

The built-in training and validation photos stand in for a user's own: each is written to
``runs/own_data/clean/NAME.png`` and, with seeded Gaussian noise (sigma 25, 8-bit like a real capture), to
``runs/own_data/noisy/NAME.png``, so the file paths real captures take are the ones exercised. Then the same
architecture and budget are trained three ways:

- ``supervised``: ``--data clean`` with synthetic noise drawn afresh at every step (the classic way);
- ``pairs``: ``--data clean --noisy-data noisy`` (one fixed noisy capture per photo, as a camera gives);
- ``self_supervised``: ``--noisy-data noisy`` alone (Neighbor2Neighbor; no clean image is ever seen).

All three are compared on the built-in held-out test photos at sigma 25 (seeded, the same noise for all),
with the paired statistics of ``cae-denoise compare``. Run from the repository root:

    python examples/own_data.py              # about 20 minutes on 2 CPU cores
    python examples/own_data.py --device cuda

Rerunning skips finished runs and resumes interrupted ones.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from cae_denoise.cli.tables import print_evaluation
from cae_denoise.config import TrainConfig
from cae_denoise.data.sources import BUILTIN_TEST, load_builtin
from cae_denoise.evaluation.evaluate import evaluate_specs
from cae_denoise.io.images import encode_image
from cae_denoise.io.outputs import write_file
from cae_denoise.io.reports import write_report
from cae_denoise.noise.models import GaussianNoise
from cae_denoise.training.loop import EVALUATION, LAST
from cae_denoise.training.pipeline import train_and_evaluate
from cae_denoise.training.tasks import task_for

OUT = Path("runs/own_data")
NOISE_SEED = 1  # not the evaluation's seed 0: the test noise is never the training noise


def write_photo_folders(clean: Path, noisy: Path) -> int:
    """The built-in non-test photos as clean PNGs and seeded noisy PNGs (sigma 25); skips files already there."""
    noise = GaussianNoise(25.0, 25.0)
    photos = [image for image in load_builtin() if image.name not in BUILTIN_TEST]
    for index, image in enumerate(photos):
        for folder, pixels in ((clean, image.pixels), (noisy, noise.add_seeded(image.pixels, NOISE_SEED, index))):
            path = folder / f"{image.name}.png"
            if not path.exists():
                write_file(path, encode_image(pixels))
    return len(photos)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--arch", default="unet", help="the same architecture for all three runs")
    parser.add_argument("--epochs", type=int, default=6, help="epochs of 200 steps (batch 16, patch 64)")
    args = parser.parse_args()
    console = Console(stderr=True)
    clean, noisy = OUT / "clean", OUT / "noisy"
    count = write_photo_folders(clean, noisy)
    console.print(f"{count} photos in {clean} and {noisy}")
    common = {  # the shipped model's recipe (examples/train_default_model.py): stable for the residual U-Net
        "arch": args.arch,
        "device": args.device,
        "epochs": args.epochs,
        "patch": 64,
        "lr": 5e-4,
        "grad_clip": 0.5,
        "schedule": "cosine",
        "seed": 0,
    }
    runs = {
        "supervised": TrainConfig(data=str(clean), sigma="25", out=str(OUT / "supervised"), **common),
        "pairs": TrainConfig(data=str(clean), noisy_data=str(noisy), out=str(OUT / "pairs"), **common),
        "self_supervised": TrainConfig(data=None, noisy_data=str(noisy), out=str(OUT / "self_supervised"), **common),
    }
    for name, config in runs.items():
        folder = Path(config.out)
        if (folder / EVALUATION).is_file():
            console.print(f"{name}: already trained")
            continue
        console.print(f"{name}: training ({task_for(config).describe()})")
        outcome = train_and_evaluate(config, resume=(folder / LAST).is_file())
        console.print(f"{name}: {outcome.training.seconds:.0f} s")
    checkpoints = [str(Path(config.out) / "best.pt") for config in runs.values()]
    body = evaluate_specs(checkpoints, data="builtin", sigmas_255=[25.0], device=args.device)
    write_report(OUT / "compare.json", "compare", body, overwrite=True)
    print_evaluation(console, body, "built-in test photos (never trained on)")
    methods = body["levels"][0]["methods"]  # noisy first, then the three checkpoints in order
    for name, label in zip(["noisy input", *runs], methods, strict=True):
        seconds = "" if name == "noisy input" else f", trained in {_wall_time(runs[name]):.0f} s"
        print(
            f"{name}: PSNR {methods[label]['mean']['psnr']:.2f} dB, SSIM {methods[label]['mean']['ssim']:.4f}{seconds}"
        )


def _wall_time(config: TrainConfig) -> float:
    return json.loads((Path(config.out) / "train_report.json").read_text())["wall_time_s"]


if __name__ == "__main__":
    main()
