"""Train the default model that ships inside cae-denoise (``cae_denoise/assets/default_model.pt``), offline.

Recipe v3: natural photographs (the corpus ``examples/training_photos.py`` prepares from installed packages),
the built-in training images and procedural dead-leaves images, with flips and rotations; never the eight
built-in test photos nor the built-in validation photo. The noise is ``NOISE``: Gaussian (sigma 0-55, colour
and grey), camera noise over a wide range of sensors and pipelines (shot noise up to 4e-2, bilinear or
Malvar-He-Cutler demosaicking, with or without a colour matrix, JPEG 60-100 or none, grey), JPEG artefacts
alone, and clean photos left clean (first, do no harm).

A time budget sizes the run to the device: a short calibration run times the real training step on this
device with this patch and batch (``DEVICE_SIZES``), then the run takes as many steps as ``--minutes`` allow.
Several candidate architectures (``CANDIDATES``) can train side by side in separate processes (a 615k-weight
model leaves most of a large GPU idle); each picks its ``best.pt`` on held-out corpus photos (the corpus
folder's validation part, by name hash: never a test photo), and the candidate with the best validation
score is exported as the default model, with its training report.

Run from the repository root (the corpus first; see the README's "Training photos"):

    python examples/training_photos.py --out runs/training_photos
    python examples/train_default_model.py --photos runs/training_photos --minutes 240          # CPU, one model
    python examples/train_default_model.py --photos runs/training_photos --minutes 5 --device cuda --amp \\
        --candidates unet-level-32-2,unet-level-32-3,unet-level-48-3                           # one GPU, side by side

It writes ``runs/default_v3/``: one folder per candidate, ``summary.json`` (each candidate's steps, budget and
validation score) and ``test_scores.json`` (every candidate and the model shipped before, on ``TEST_NOISES``),
and, unless ``--no-ship``, copies the winner's best.pt (without optimiser state) and its training report into
src/cae_denoise/assets/. ``examples/gpu_default_model.sh`` is the whole run on a GPU machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from results_tables import levels_table

from cae_denoise.config import FINE_TUNE_LR, TrainConfig, resolve_device
from cae_denoise.data.sources import BUILTIN_TEST, BUILTIN_VAL, load_builtin
from cae_denoise.evaluation.evaluate import evaluate_specs
from cae_denoise.io.images import encode_image
from cae_denoise.io.outputs import write_file
from cae_denoise.models.checkpoint import export_for_inference
from cae_denoise.noise.models import parse_noise_list
from cae_denoise.shipped import DEFAULT_MODEL
from cae_denoise.training.loop import REPORT, StepInfo, train

ASSETS = Path(__file__).resolve().parents[1] / "src" / "cae_denoise" / "assets"

#: The training noise: weights are relative frequencies (see ``cae_denoise.noise.models``'s module docstring).
CAMERA_WIDE = "camera:1e-4-4e-2:jpeg={jpeg}:demosaic=any:matrix=any"
NOISE = "+".join(
    [
        "3*gaussian:0-55",
        "grey:gaussian:0-55",
        "3*" + CAMERA_WIDE.format(jpeg="60-100"),
        CAMERA_WIDE.format(jpeg="none"),
        "grey:camera:1e-4-2e-2:jpeg=none",
        "0.5*jpeg:60-100",
        "gaussian:0",
    ]
)
#: Architectures measured side by side (``--candidates``): name -> TrainConfig fields.
CANDIDATES: dict[str, dict[str, object]] = {
    "unet-level-32-2": {"arch": "unet-level", "channels": 32, "depth": 2},
    "unet-estimate-32-2": {"arch": "unet-estimate", "channels": 32, "depth": 2},
    "unet-estimate-32-3": {"arch": "unet-estimate", "channels": 32, "depth": 3},
    "unet-estimate-48-3": {"arch": "unet-estimate", "channels": 48, "depth": 3},
}
DEFAULT_CANDIDATE = "unet-level-32-2"
#: (patch, batch) per kind of device: what keeps a GPU busy, and what a laptop CPU trains at a useful rate.
DEVICE_SIZES = {"cuda": (128, 64), "cpu": (96, 16), "mps": (96, 32)}
#: Validation rounds over the run (each scores the corpus's validation photos and may update best.pt).
EPOCHS = 10
#: Steps of the calibration run, and the first steps it leaves out of the timing (start-up, cuDNN's search,
#: and on a GPU, where the loss is read every 20 steps, whole stretches between two reads).
CALIBRATION = {"cuda": (60, 20), "cpu": (12, 4), "mps": (60, 20)}
#: Share of ``--minutes`` kept for the validation rounds and saving, beside the training steps. Decoding the
#: data, the calibration run and the final test scores come on top (about two minutes on one H200).
OVERHEAD = 0.1
#: Procedural images added to the training part (``--dead-leaves``): fewer than v2's 64 now that natural photos
#: are the bulk of the data (each costs about 0.4 s to draw, before training starts).
DEAD_LEAVES = 32
#: What the candidates (and the model they would replace) are scored on afterwards, on the built-in test
#: photos: for the record, never for choosing (validation chooses). Camera noise unlike the training mixture's
#: default, grey noise, and the clean photos themselves (PSNR against the input: first, do no harm).
TEST_NOISES = (
    "gaussian:15",
    "gaussian:25",
    "gaussian:50",
    "camera:low",
    "camera:high",
    "camera:0.012-0.03:jpeg=none:matrix=none",
    "grey:gaussian:20",
    "gaussian:0",
)

#: The data set's decoded-pixel budget: on a GPU the training images live in one stack padded to the largest
#: height and width (the corpus's 3014 x 1919 makes about 600 MP of a 95 MP corpus, 7 GB in float32).
MAX_MEGAPIXELS = 2000

BASE = TrainConfig(
    arch="unet-level",
    max_megapixels=MAX_MEGAPIXELS,
    noise=NOISE,
    val_noise=NOISE,
    lr=5e-4,
    grad_clip=0.5,
    schedule="cosine",
    dead_leaves=DEAD_LEAVES,
    seed=0,
)


def training_folder(photos: Path, folder: Path) -> Path:
    """``folder`` holding the corpus photos and the built-in training images (as PNG), the ``--data`` of the run.

    The built-in test and validation photos never enter it; the corpus script has already refused anything
    that duplicates them. Rebuilt from scratch each time, so it holds exactly what the recipe says; a corpus
    inside it (or holding it) is refused, since rebuilding would delete the photos themselves.
    """
    source, target = photos.resolve(), folder.resolve()
    if source == target or target in source.parents or source in target.parents:
        raise SystemExit(f"--photos {photos} and the run's data folder {folder} overlap; give another --out")
    if folder.exists():
        shutil.rmtree(folder)
    copied = 0
    for path in sorted(photos.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.suffix.lower() in (".png", ".jpg", ".jpeg"):
            write_file(folder / "photos" / path.relative_to(photos), path.read_bytes(), overwrite=False)
            copied += 1
    if not copied:
        raise SystemExit(f"{photos}: no photos there; prepare them with examples/training_photos.py")
    held_out = set(BUILTIN_TEST + BUILTIN_VAL)
    for image in load_builtin():
        if image.name not in held_out:
            write_file(folder / "builtin" / f"{image.name}.png", encode_image(image.pixels), overwrite=False)
    return folder


def seconds_per_step(config: TrainConfig, out: Path) -> float:
    """The real training step's time on ``config``'s device, measured by a short run on the built-in images."""
    steps, warmup = CALIBRATION[resolve_device(config.device).type]
    probe = dataclasses.replace(config, data="builtin", dead_leaves=0, out=str(out), epochs=1, steps_per_epoch=steps)
    marks: dict[int, float] = {}

    def on_step(info: StepInfo) -> None:
        if info.global_step in (warmup, steps):
            marks[info.global_step] = time.perf_counter()

    train(probe, overwrite=True, on_step=on_step)
    return (marks[steps] - marks[warmup]) / (steps - warmup)


def candidate_config(name: str, args: argparse.Namespace, steps: int) -> TrainConfig:
    """The recipe for one candidate: its architecture, the device's patch and batch, ``steps`` in all."""
    patch, batch = DEVICE_SIZES[resolve_device(args.device).type]
    return dataclasses.replace(
        BASE,
        **CANDIDATES[name],
        data=str(Path(args.out) / "data"),
        out=str(Path(args.out) / name),
        device=args.device,
        amp=args.amp,
        dead_leaves=args.dead_leaves,
        init=args.init,
        lr=args.lr or (FINE_TUNE_LR if args.init else BASE.lr),
        patch=patch,
        batch_size=batch,
        epochs=min(EPOCHS, steps),
        steps_per_epoch=max(steps // EPOCHS, 1),
    )


def train_candidate(name: str, args: argparse.Namespace) -> dict[str, object]:
    """Calibrate, then train one candidate for its share of the budget; returns its summary row."""
    step = None
    steps = args.steps
    if not steps:
        step = seconds_per_step(candidate_config(name, args, 1), Path(args.out) / f"calibration-{name}")
        steps = max(int(args.minutes * 60 * (1 - OVERHEAD) / step), 1)
        print(f"{name}: {step * 1000:.1f} ms a step -> {steps} steps in {args.minutes:g} minutes", flush=True)
    config = candidate_config(name, args, steps)

    def on_epoch_end(record: dict[str, float]) -> None:
        print(json.dumps({"candidate": name, **{k: round(v, 5) for k, v in record.items()}}), flush=True)

    result = train(config, overwrite=True, on_epoch_end=on_epoch_end)
    report = json.loads(result.report.read_text())
    return {
        "candidate": name,
        "config": config.to_dict(),
        "seconds_per_step": step,
        "steps": config.total_steps,
        "pixel_samples": config.total_steps * config.batch_size * config.patch**2,
        "best_epoch": report["best_epoch"],
        "best_val_psnr": report["best_score"],
        "parameters": report["parameters"],
        "wall_time_s": report["wall_time_s"],
        "best": str(result.best),
    }


def relabelled(body: dict, labels: list[str]) -> dict:
    """An ``evaluate_specs`` report with its methods (after ``noisy``) renamed, in order, to ``labels``."""
    renames = dict(zip(list(body["methods"]), labels, strict=True))

    def renamed(mapping: dict) -> dict:
        return {renames.get(name, name): value for name, value in mapping.items()}

    levels = [
        {**level, "methods": renamed(level["methods"]), "differences": renamed(level["differences"])}
        | {"reference": renames.get(level["reference"], level["reference"])}
        for level in body["levels"]
    ]
    return {**body, "methods": renamed(body["methods"]), "levels": levels}


def run_side_by_side(names: list[str], args: argparse.Namespace) -> list[dict[str, object]]:
    """Each candidate in its own process at once (they share the device); their summary rows."""
    rows_dir = Path(args.out) / "rows"
    rows_dir.mkdir(parents=True, exist_ok=True)
    passed = [f"--{key}={value}" for key, value in (("minutes", args.minutes), ("steps", args.steps)) if value]
    passed += ["--device", args.device, "--out", args.out, f"--dead-leaves={args.dead_leaves}"]
    passed += ["--amp"] if args.amp else []
    passed += [f"--init={args.init}"] if args.init else []
    passed += [f"--lr={args.lr}"] if args.lr else []
    threads = str(max((os.cpu_count() or 1) // len(names), 1))  # the host's cores shared, not oversubscribed
    environment = {**os.environ, "OMP_NUM_THREADS": threads}
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "--one", name, "--row", str(rows_dir / f"{name}.json"), *passed], env=environment
        )
        for name in names
    ]
    codes = [process.wait() for process in processes]
    rows = [json.loads(path.read_text()) for path in (rows_dir / f"{name}.json" for name in names) if path.exists()]
    failed = [name for name, code in zip(names, codes, strict=True) if code]
    if failed:
        print(f"candidates that failed: {', '.join(failed)}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, help="the corpus folder from examples/training_photos.py")
    parser.add_argument("--minutes", type=float, default=240.0, help="training time per candidate (they run at once)")
    parser.add_argument("--steps", type=int, help="a fixed number of steps instead of --minutes (reproduces a run)")
    parser.add_argument("--candidates", default=DEFAULT_CANDIDATE, help=f"comma list of {', '.join(CANDIDATES)}")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast (GPUs with bf16)")
    parser.add_argument("--init", help="start from this checkpoint's weights (or 'default'): fine-tune it")
    parser.add_argument("--lr", type=float, help=f"learning rate (default {BASE.lr:g}, {FINE_TUNE_LR:g} with --init)")
    parser.add_argument("--out", default="runs/default_v3")
    parser.add_argument("--dead-leaves", type=int, default=DEAD_LEAVES, help="procedural images added to training")
    parser.add_argument("--test-noises", default=",".join(TEST_NOISES), help="what the candidates are scored on")
    parser.add_argument("--test-data", default="builtin", help="whose test photos they are scored on")
    parser.add_argument("--no-ship", action="store_true", help="do not copy the winner into the package's assets")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child process: train this candidate only
    parser.add_argument("--row", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        args.row.write_text(json.dumps(train_candidate(args.one, args), indent=2))
        return
    names = [name.strip() for name in args.candidates.split(",")]
    unknown = [name for name in names if name not in CANDIDATES]
    if unknown or args.photos is None:
        parser.error(f"unknown candidates {unknown}" if unknown else "--photos is required")
    training_folder(args.photos, Path(args.out) / "data")
    started = time.perf_counter()
    rows = run_side_by_side(names, args) if len(names) > 1 else [train_candidate(names[0], args)]
    if not rows:
        raise SystemExit("no candidate finished")
    winner = max(rows, key=lambda row: row["best_val_psnr"])
    summary = {
        "noise": NOISE,
        "candidates": rows,
        "winner": winner["candidate"],
        "wall_time_s": time.perf_counter() - started,
    }
    write_file(Path(args.out) / "summary.json", json.dumps(summary, indent=2).encode(), overwrite=True)
    for row in sorted(rows, key=lambda row: -row["best_val_psnr"]):
        print(
            f"{row['candidate']}: validation PSNR {row['best_val_psnr']:.2f} dB, {row['steps']} steps, "
            f"{row['pixel_samples'] / 1e9:.1f} G pixel-samples, {row['parameters']:,} weights",
            flush=True,
        )
    test = evaluate_specs(
        [DEFAULT_MODEL, *(row["best"] for row in rows)],
        data=args.test_data,
        noises=parse_noise_list(args.test_noises),
        device=str(resolve_device(args.device)),
    )
    test = relabelled(test, ["default (before this run)", *(row["candidate"] for row in rows)])
    write_file(Path(args.out) / "test_scores.json", json.dumps(test, indent=2).encode(), overwrite=True)
    print(f"\nBuilt-in test photos (the first method is the model shipped before this run):\n\n{levels_table(test)}")
    if not args.no_ship:
        best = Path(winner["best"])
        export_for_inference(best, ASSETS / "default_model.pt", overwrite=True)
        write_file(ASSETS / "default_model_report.json", (best.parent / REPORT).read_bytes(), overwrite=True)
        print(f"shipped {winner['candidate']}: wrote {ASSETS / 'default_model.pt'} and its report", flush=True)


if __name__ == "__main__":
    main()
