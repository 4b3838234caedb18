"""Reproduce the default model that ships inside cae-denoise (``cae_denoise/assets/default_model.pt``), offline.

Two stages, both on the built-in training images (never the eight held-out test photos, nor the validation
photo) plus procedural dead-leaves images, with flips and rotations:

1. ``unet`` learns blind Gaussian denoising (sigma drawn from 0-55 per patch): the previous default model.
2. ``unet-level`` (the same network, also told the noise level) starts from stage 1's weights (``--init``) and
   learns a mixture: Gaussian noise (sigma 0-55), camera noise with JPEG, and camera noise without it
   (``noise.CameraNoise``: shot and read noise on a Bayer mosaic, demosaicked, colour-corrected, sRGB, 8-bit).

Run from the repository root:

    python examples/train_default_model.py                       # about 35 + 75 minutes on 2 CPU cores
    python examples/train_default_model.py --device cuda --amp
    python examples/train_default_model.py --stage 2 --init runs/default_stage1/best.pt   # stage 2 alone

It writes runs/default_stage1/ and runs/default_stage2/ and copies stage 2's last.pt (without optimiser
state) and its training report into src/cae_denoise/assets/. Stage 2 ships its last epoch, the end of the
cosine schedule, not best.pt: validation during training scores one photo at Gaussian sigma 25 only, which
does not stand for a mixture that is two thirds camera noise.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from cae_denoise.checkpoint import export_for_inference
from cae_denoise.config import TrainConfig
from cae_denoise.outputs import write_file
from cae_denoise.train import train

ASSETS = Path(__file__).resolve().parents[1] / "src" / "cae_denoise" / "assets"

STAGE_ONE = TrainConfig(
    arch="unet",
    data="builtin",
    out="runs/default_stage1",
    sigma="0-55",
    patch=64,
    batch_size=16,
    lr=5e-4,
    grad_clip=0.5,
    schedule="cosine",
    epochs=30,
    steps_per_epoch=200,
    dead_leaves=64,
    seed=0,
    channels=32,
    depth=2,
)
STAGE_TWO = dataclasses.replace(
    STAGE_ONE,
    arch="unet-level",
    out="runs/default_stage2",
    noise="gaussian:0-55+camera+camera:0.0001-0.012:jpeg=none",
    patch=96,
    lr=3e-4,
    epochs=30,
    steps_per_epoch=400,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast (GPUs with bf16)")
    parser.add_argument("--stage", type=int, choices=(1, 2), help="run one stage only (default: both)")
    parser.add_argument("--init", help="stage 2's starting weights (default: stage 1's best.pt)")
    parser.add_argument("--epochs", type=int, help="fewer epochs per stage, for a trial run")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted stage")
    args = parser.parse_args()
    changes = {"device": args.device, "amp": args.amp}
    if args.epochs:
        changes["epochs"] = args.epochs

    def on_epoch_end(record: dict[str, float]) -> None:
        print(json.dumps({k: round(v, 5) for k, v in record.items()}), flush=True)

    init = args.init
    if args.stage in (None, 1):
        first = train(dataclasses.replace(STAGE_ONE, **changes), resume=args.resume, on_epoch_end=on_epoch_end)
        init = init or str(first.best)
    if args.stage in (None, 2):
        init = init or str(Path(STAGE_ONE.out) / "best.pt")
        second = dataclasses.replace(STAGE_TWO, init=init, **changes)
        result = train(second, resume=args.resume, on_epoch_end=on_epoch_end)
        export_for_inference(result.last, ASSETS / "default_model.pt", overwrite=True)
        write_file(ASSETS / "default_model_report.json", result.report.read_bytes(), overwrite=True)
        print(f"wrote {ASSETS / 'default_model.pt'} and {ASSETS / 'default_model_report.json'}")


if __name__ == "__main__":
    main()
