"""Print the README's result tables (Markdown) from the reports cae-denoise wrote.

    python examples/results_tables.py runs/seed_experiment
    python examples/results_tables.py --levels default_compare.json

The first reads ``experiment.json`` (from ``cae-denoise experiment``) and ``compare_seed0.json`` (from
``cae-denoise compare``) in that folder, as ``examples/reproduce_seed_experiment.sh`` writes them. The second
renders a ``compare`` report over several noise levels (``--sigma 15,25,50`` or ``--noise camera:low,camera:high``)
as one table, PSNR / SSIM per
level and the seconds each method took, and, for each oracle variant (``NAME:oracle``), the sigma it chose.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from cae_denoise.cli.tables import format_metric, mean_and_spread, noise_label
from cae_denoise.evaluation.metrics import METRIC_NAMES

SEED_CLAIM = {"ssim": (0.9356, 0.9485), "mse": (0.001232, 0.000941)}


def _difference(metric: str, value: float) -> str:
    return f"{value:+.2f} dB" if metric == "psnr" else f"{value:+.2g}" if metric == "mse" else f"{value:+.4f}"


def _evidence(metric: str, row: dict) -> str:
    """``+0.08 dB [95% CI +0.02, +0.13], p=0.008, better in 7/8``, or the counts alone where no test can decide."""
    counts = f"better in {row['wins']}/{row['units']}"
    if row["ci95"] is None:
        return f"{_difference(metric, row['difference'])}, {counts} (too few to test)"
    low, high = (_difference(metric, value) for value in row["ci95"])
    return f"{_difference(metric, row['difference'])} [95% CI {low}, {high}], p={row['wilcoxon_p']:.2g}, {counts}"


def experiment_table(body: dict) -> str:
    """Mean +/- std over seeds per architecture, the paired change over seeds, and the seed project's claim."""
    header = "| | " + " | ".join(m.upper() if m != "psnr" else "PSNR (dB)" for m in METRIC_NAMES) + " |"
    lines = [header, "|---" * (len(METRIC_NAMES) + 1) + "|"]
    for arch, rows in body["summary"]["per_arch"].items():
        label = "noisy input" if arch == "noisy" else f"`{arch}`, mean +/- std over {body['seeds']} seeds"
        cells = [mean_and_spread(m, rows[m]) for m in METRIC_NAMES]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    reference = body["archs"][0]
    for arch, rows in body["summary"]["versus_reference"].items():
        lines.append(
            f"| {arch} - {reference}, paired by seed | "
            + " | ".join(_evidence(m, rows[m]) for m in METRIC_NAMES)
            + " |"
        )
        lines.append("| verdict over seeds | " + " | ".join(rows[m]["outcome"] for m in METRIC_NAMES) + " |")
    claim = [f"{a:g} -> {b:g} ({100 * (b - a) / a:+.1f}%)" for a, b in SEED_CLAIM.values()]
    lines.append("| seed project, one run each | " + " | ".join([*claim, "-"]) + " |")
    return "\n".join(lines)


def compare_table(body: dict) -> str:
    """Means per method on the test images and each method's paired change from the reference, by image."""
    level = body["levels"][0]
    reference = level["reference"]
    header = "| method | " + " | ".join(m.upper() for m in METRIC_NAMES) + f" | PSNR vs {reference}, by image |"
    lines = [header, "|---" * (len(METRIC_NAMES) + 2) + "|"]
    for name, scores in level["methods"].items():
        change = level["differences"].get(name)
        evidence = f"{_evidence('psnr', change['psnr'])}: {change['psnr']['outcome']}" if change else ""
        cells = [format_metric(m, scores["mean"][m]) for m in METRIC_NAMES]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {evidence} |")
    return "\n".join(lines)


def levels_table(body: dict) -> str:
    """One row per method: PSNR / SSIM at each noise level, the PSNR change from the reference by image, and
    the seconds spent denoising all test images at the first level."""
    levels = body["levels"]
    reference = levels[0]["reference"]
    sigmas = [noise_label(level["noise"]) for level in levels]
    header = "| method | " + " | ".join(f"{s}: PSNR / SSIM" for s in sigmas)
    header += f" | PSNR vs {reference} by image ({', '.join(sigmas)}) | seconds ({sigmas[0]}) |"
    lines = [header, "|---" * (len(levels) + 3) + "|"]
    for name in levels[0]["methods"]:
        cells = [
            f"{lv['methods'][name]['mean']['psnr']:.2f} / {lv['methods'][name]['mean']['ssim']:.3f}" for lv in levels
        ]
        changes = [lv["differences"].get(name, {}).get("psnr") for lv in levels]
        change = "; ".join(f"{_difference('psnr', c['difference'])} ({c['outcome']})" for c in changes if c)
        seconds = levels[0]["methods"][name]["denoise_seconds"]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {change} | {seconds:.1f} |")
    return "\n".join(lines)


def oracle_lines(body: dict) -> list[str]:
    """One line per oracle variant: the median over images of the sigma it chose, and of the estimated level, per
    noise level (the oracle uses the clean photos: an upper bound, not what a user can reach)."""
    lines = []
    for name in body["levels"][0]["methods"]:
        per_level, runs = [], []
        for level in body["levels"]:
            choices = level["methods"][name].get("oracle", {}).get("per_image", [])
            if choices:
                chosen = statistics.median(row["sigma_255"] for row in choices)
                estimated = statistics.median(row["estimated_sigma_255"] for row in choices)
                per_level.append(f"{noise_label(level['noise'])}: {chosen:.1f} (estimated {estimated:.1f})")
                runs += [row["evaluations"] for row in choices]
        if per_level:
            lines.append(
                f"- {name}: median oracle sigma over images, {'; '.join(per_level)}; "
                f"{statistics.mean(runs):.1f} runs per image"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, nargs="?", help="the experiment's --out folder")
    parser.add_argument("--levels", type=Path, help="a compare report over several noise levels")
    args = parser.parse_args()
    if args.levels:
        body = json.loads(args.levels.read_text())
        seed = body["levels"][0]["noise"]["seed"]
        print(f"{body['data']} ({body['split']}, {len(body['images'])} images), noise seed {seed}\n")
        print(levels_table(body))
        lines = oracle_lines(body)
        if lines:
            print("\nOracle sigmas use the clean photos: an upper bound for the method, not something a user can do.")
            print("\n".join(lines))
        return
    folder = args.folder
    experiment = json.loads((folder / "experiment.json").read_text())
    print(f"Test sigma {experiment['sigma_255']:g}, {experiment['seeds']} seeds per architecture\n")
    print(experiment_table(experiment))
    compare = folder / "compare_seed0.json"
    if compare.is_file():
        body = json.loads(compare.read_text())
        print(f"\nSeed 0, {len(body['images'])} test images, {noise_label(body['levels'][0]['noise'])}\n")
        print(compare_table(body))
        for name, rows in body["levels"][0]["differences"].items():
            for row in rows.values():
                print(f"- {name} vs {body['levels'][0]['reference']}, {row['verdict']}")


if __name__ == "__main__":
    main()
