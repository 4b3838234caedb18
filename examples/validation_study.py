"""Which validation set picks the main job's best checkpoint well, and how far do its numbers move across CPUs?

``cae-denoise train`` keeps as ``best.pt`` the epoch with the best validation PSNR. With one validation photo
(``rocket``) that choice is noisy: a run on an AVX-512 Xeon kept an epoch that was worse than the last one on
all 8 test photos. This script trains the main job (``--arch leaky`` and ``baseline`` at their defaults, for
several seeds), and at every epoch scores the epoch's weights on candidate validation sets and on the test
photos. Run it once per CPU variant (``ONEDNN_MAX_CPU_ISA``, ``--threads``): each run writes
``study-LABEL.json``. ``--summarize`` then reads them all and prints, per candidate, how much test PSNR the epoch
it picks gives up against the epoch best on the test photos (the regret), the rank correlation of its scores
with the test scores over epochs, and the spread of the picked epoch's test numbers across the CPU variants.
The test photos judge the candidates; they never train or pick anything inside a run.

    python examples/validation_study.py --label avx512-2t                       # about 30 min on 2 cores
    ONEDNN_MAX_CPU_ISA=AVX2 python examples/validation_study.py --label avx2-2t --seeds 0,1
    python examples/validation_study.py --summarize
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from cae_denoise.config import TrainConfig
from cae_denoise.data.sources import BUILTIN, NamedImage, load_source, make_split
from cae_denoise.data.synthetic import dead_leaves_set
from cae_denoise.evaluation.evaluate import evaluate_methods
from cae_denoise.evaluation.methods import model_denoiser
from cae_denoise.models.checkpoint import load_model
from cae_denoise.noise.models import GaussianNoise
from cae_denoise.training.loop import LAST, train

#: Candidate validation sets: name -> (whether the validation photo ``rocket`` is in it, how many procedural
#: dead-leaves images are); the dead leaves are drawn from a seed no training run uses. "rocket" is scored
#: here as in the study's other sets; "rocket (train)" is the score training itself picked on.
CANDIDATES = {
    "rocket": (True, 0),
    "rocket + 4 dead leaves": (True, 4),
    "rocket + 8 dead leaves": (True, 8),
    "8 dead leaves": (False, 8),
    "16 dead leaves": (False, 16),
}
TRAINING_PICK = "rocket (train)"
LAST_EPOCH = "(the last epoch)"
DEAD_LEAVES_SIDE, DEAD_LEAVES_SEED = 256, 1_000_003
METRICS = ("psnr", "ssim", "mse")


def epoch_scorer(
    out: Path, sets: dict[str, list[NamedImage]], test: list[NamedImage], scores: dict[str, list], label: str
) -> Callable[[dict[str, float]], None]:
    """A training callback that scores each epoch's weights (its ``last.pt``) into ``scores``: the mean PSNR of
    every validation set (each image scored once per epoch), all three metrics on the test photos."""
    noise = GaussianNoise(25, 25)
    candidates = {image.name: image for images in sets.values() for image in images}

    def on_epoch_end(record: dict[str, float]) -> None:
        methods = {"m": model_denoiser(load_model(out / LAST).model)}
        per_image = evaluate_methods(methods, list(candidates.values()), noise=noise, seed=0, include_noisy=False)
        rows = per_image.methods["m"].per_image
        psnr = {name: row["psnr"] for name, row in zip(per_image.images, rows, strict=True)}
        scores[TRAINING_PICK].append(record["val_psnr"])
        for name, images in sets.items():
            scores[name].append(float(np.mean([psnr[image.name] for image in images])))
        mean = evaluate_methods(methods, test, noise=noise, seed=0, include_noisy=False).methods["m"].mean
        scores["test"].append({key: mean[key] for key in METRICS})
        print(label, record["epoch"], json.dumps({name: values[-1] for name, values in scores.items()}), flush=True)

    return on_epoch_end


def study(args: argparse.Namespace) -> None:
    """Train and score every (seed, arch) run on this CPU variant; ``study-LABEL.json`` grows after each run."""
    torch.set_num_threads(args.threads)
    source = load_source(BUILTIN)
    split = make_split(source)
    test, rocket = source.by_names(split.test), source.by_names(split.val)
    leaves = dead_leaves_set(max(count for _, count in CANDIDATES.values()), DEAD_LEAVES_SIDE, DEAD_LEAVES_SEED)
    sets = {name: (rocket if photo else []) + leaves[:count] for name, (photo, count) in CANDIDATES.items()}
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "default")
    variant = {"label": args.label, "threads": args.threads, "isa": isa, "schedule": args.schedule}
    args.out.mkdir(parents=True, exist_ok=True)
    runs = []
    for seed in (int(text) for text in args.seeds.split(",")):
        for arch in args.archs.split(","):
            out = str(args.out / args.label / f"{arch}-{seed}")
            config = TrainConfig(arch=arch, seed=seed, out=out, device="cpu", schedule=args.schedule)
            scores: dict[str, list] = {name: [] for name in [TRAINING_PICK, *sets, "test"]}
            train(
                config,
                overwrite=True,
                on_epoch_end=epoch_scorer(Path(config.out), sets, test, scores, f"{arch} {seed}"),
            )
            runs.append({"arch": arch, "seed": seed, "scores": scores})
            (args.out / f"study-{args.label}.json").write_text(json.dumps({"variant": variant, "runs": runs}, indent=1))


def summarize(folder: Path) -> None:
    """Per learning-rate schedule: the regret table over every run of every CPU variant, and each run's picked
    test numbers across the variants (the spread a CPU change brings)."""
    variants = [json.loads(path.read_text()) for path in sorted(folder.glob("study-*.json"))]
    runs = [
        {**run, **v["variant"], "schedule": v["variant"].get("schedule", "constant")}
        for v in variants
        for run in v["runs"]
    ]
    for schedule in sorted({run["schedule"] for run in runs}):
        _summarize_schedule(schedule, [run for run in runs if run["schedule"] == schedule])


def _picked(run: dict, name: str) -> int:
    """The epoch (index) validation set ``name`` picks in ``run``: its best score, or the last epoch."""
    return len(run["scores"]["test"]) - 1 if name == LAST_EPOCH else int(np.argmax(run["scores"][name]))


def _summarize_schedule(schedule: str, runs: list[dict]) -> None:
    names = [TRAINING_PICK, *CANDIDATES, LAST_EPOCH]
    labels = ", ".join(sorted({run["label"] for run in runs}))
    print(f"\n--schedule {schedule}: {len(runs)} runs ({labels}); test PSNR lost against the epoch best on test\n")
    print("| validation set | mean regret (dB) | max regret (dB) | runs with regret > 0.05 dB | rank correlation |")
    print("|---|---|---|---|---|")
    for name in names:
        regrets, correlations = [], []
        for run in runs:
            test = np.array([epoch["psnr"] for epoch in run["scores"]["test"]])
            regrets.append(float(test.max() - test[_picked(run, name)]))
            if name in run["scores"]:
                correlations.append(float(spearmanr(run["scores"][name], test).statistic))
        bad = sum(regret > 0.05 for regret in regrets)
        correlation = f"{np.mean(correlations):+.2f}" if correlations else "-"
        print(f"| {name} | {np.mean(regrets):.3f} | {max(regrets):.3f} | {bad}/{len(runs)} | {correlation} |")
    print(f"\nbest.pt as training picks it ({TRAINING_PICK}), across CPU variants (PSNR dB / SSIM / MSE):")
    for arch, seed in sorted({(run["arch"], run["seed"]) for run in runs}):
        same = [run for run in runs if (run["arch"], run["seed"]) == (arch, seed)]
        picked = [run["scores"]["test"][_picked(run, TRAINING_PICK)] for run in same]
        cells = [
            f"{run['label']}: {e['psnr']:.2f} / {e['ssim']:.4f} / {e['mse']:.6f}"
            for run, e in zip(same, picked, strict=True)
        ]
        spread = max(e["psnr"] for e in picked) - min(e["psnr"] for e in picked)
        print(f"  {arch} seed {seed}: spread {spread:.2f} dB | " + " | ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--archs", default="leaky,baseline")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--label", default="default")
    parser.add_argument("--schedule", default=TrainConfig.schedule, help="the learning-rate schedule of every run")
    parser.add_argument("--out", type=Path, default=Path("runs/validation_study"))
    parser.add_argument("--summarize", action="store_true", help="print the tables from every study-*.json in --out")
    args = parser.parse_args()
    summarize(args.out) if args.summarize else study(args)


if __name__ == "__main__":
    main()
