"""Reproduce the default model that ships inside cae-denoise (``cae_denoise/assets/default_model.pt``).

Blind training (sigma drawn from 0-55 per patch) of the residual U-Net on the built-in training images
(never the eight held-out test photos, nor the validation photo) plus procedural dead-leaves images.
Run from the repository root:

    python examples/train_default_model.py            # about 35 minutes on 2 CPU cores
    python examples/train_default_model.py --device cuda --amp

It writes runs/default_unet/ and copies best.pt (without optimiser state) and the training report into
src/cae_denoise/assets/.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cae_denoise.checkpoint import export_for_inference
from cae_denoise.config import TrainConfig
from cae_denoise.outputs import write_file
from cae_denoise.train import train

ASSETS = Path(__file__).resolve().parents[1] / "src" / "cae_denoise" / "assets"

CONFIG = TrainConfig(
    arch="unet",
    data="builtin",
    out="runs/default_unet",
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast (GPUs with bf16)")
    parser.add_argument("--epochs", type=int, default=CONFIG.epochs, help="shorter for a trial run")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    args = parser.parse_args()
    config = TrainConfig(**{**CONFIG.to_dict(), "device": args.device, "amp": args.amp, "epochs": args.epochs})

    def on_epoch_end(record: dict[str, float]) -> None:
        print(json.dumps({k: round(v, 5) for k, v in record.items()}), flush=True)

    result = train(config, resume=args.resume, on_epoch_end=on_epoch_end)
    export_for_inference(result.best, ASSETS / "default_model.pt", overwrite=True)
    write_file(ASSETS / "default_model_report.json", result.report.read_bytes(), overwrite=True)
    print(f"wrote {ASSETS / 'default_model.pt'} and {ASSETS / 'default_model_report.json'}")


if __name__ == "__main__":
    main()
