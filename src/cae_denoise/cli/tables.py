"""Tables and sentences for people: evaluation, comparison and experiment reports rendered with rich.

Inputs are the report bodies the library returns (``evaluate_specs``, ``run_experiment``); output goes to
the ``Console`` passed in. Names from files and checkpoints are printed literally, never as markup.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..errors import shorten
from ..evaluation.evaluate import NO_REFERENCE
from ..evaluation.metrics import METRIC_NAMES, METRICS
from .progress import counted, printable


def format_metric(metric: str, value: float) -> str:
    """A metric's value with the decimals ``metrics.METRICS`` gives it (SSIM 4, MSE 6, PSNR 2)."""
    return METRICS[metric].format(value)


def mean_and_spread(metric: str, row: dict[str, Any]) -> str:
    """``28.38 +/- 0.32``, or the mean alone where there is no spread (one seed, or the noisy input)."""
    mean = format_metric(metric, row["mean"])
    return mean if row["std"] is None else f"{mean} +/- {format_metric(metric, row['std'])}"


def _changes(rows: dict[str, Any] | None) -> str:
    """``SSIM +1.4%  MSE -23.6%  PSNR +1.15 dB``: in the metric's unit where it has one (``metrics.Metric``),
    else relative."""
    if rows is None:
        return ""
    parts = []
    for metric, row in rows.items():
        unit = METRICS[metric].unit
        if unit:
            parts.append(f"{metric.upper()} {row['difference']:+.2f} {unit}")
        elif row["relative_percent"] is not None:
            parts.append(f"{metric.upper()} {row['relative_percent']:+.1f}%")
    return "  ".join(parts)


def noise_label(noise: dict[str, Any]) -> str:
    """``sigma 25`` for seeded Gaussian noise, else the noise model's spec or where the real noisy images came from
    (long values shortened, ``errors.shorten``: a title stays one line)."""
    if noise["kind"] == "gaussian":
        return f"sigma {noise['sigma_255']:g}"
    if noise["kind"] == "synthetic":
        return f"noise {shorten(noise['spec'])}"
    return f"real noisy/clean pairs ({shorten(str(noise['noisy_data']))})"


def print_no_reference(console: Console, report: dict[str, Any], title: str) -> None:
    """The no-reference checks of a model trained on noisy photos alone (see ``evaluation/noreference.py``)."""
    scores = report["no_reference"]
    table = Table(title=f"{title} (noisy photos, no clean references)", title_justify="left")
    for column in ("N2N loss", "input sigma", "removed sigma", "removed-edge correlation"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{scores['loss']:.6f}",
        f"{scores['input_sigma']:.1f}",
        f"{scores['residual_sigma']:.1f}",
        f"{scores['residual_structure']:.3f}",
    )
    console.print(table)


def print_evaluation(console: Console, report: dict[str, Any], title: str) -> None:
    """Per noise level: mean SSIM/MSE/PSNR per method, the change from the reference, and one sentence per
    metric and method saying what the paired statistics support (or the no-reference checks, when there are
    no clean images)."""
    if report.get("scoring") == NO_REFERENCE:
        print_no_reference(console, report, title)
        return
    for level in report["levels"]:
        table = Table(title=Text(printable(f"{title}, {noise_label(level['noise'])}")), title_justify="left")
        table.add_column("method")
        for metric in METRIC_NAMES:
            table.add_column(metric.upper(), justify="right")
        if level["differences"]:
            table.add_column(f"vs {level['reference']}")
        for name, body in level["methods"].items():
            cells = [format_metric(m, body["mean"][m]) for m in METRIC_NAMES]
            if level["differences"]:
                cells.append(_changes(level["differences"].get(name)))
            table.add_row(Text(printable(name)), *cells)
        console.print(table)
        for label, rows in level["differences"].items():
            for row in rows.values():
                console.print(Text(printable(f"  {label} vs {level['reference']}, {row['verdict']}")), soft_wrap=True)


def print_skipped_files(console: Console, report: dict[str, Any]) -> None:
    """One line saying how many files of the data were left out, and why the first one was (all are in the report)."""
    skipped = report.get("skipped_files") or []
    if skipped:
        more = f" (and {len(skipped) - 1} more; see the report)" if len(skipped) > 1 else ""
        console.print(Text.assemble(("note: ", "yellow"), printable(f"skipped {skipped[0]}{more}")), soft_wrap=True)


def print_leakage_warnings(console: Console, report: dict[str, Any]) -> None:
    """A warning for every model that was trained on some of the images it is scored on."""
    for label, info in report["methods"].items():
        seen = info.get("test_images_seen_in_training")
        if seen:
            console.print(
                Text.assemble(
                    ("warning: ", "yellow"),
                    printable(f"{label} was trained on {len(seen)} of these images; its scores are optimistic"),
                )
            )


def print_experiment(console: Console, body: dict[str, Any]) -> None:
    """Mean +/- std over seeds per architecture, then each one's paired change from the first, by seed."""
    summary = body["summary"]
    noise = shorten(str(body.get("test_noise", body["sigma_255"])))
    title = f"{counted(body['seeds'], 'seed')} per architecture, test noise {noise}"
    table = Table(title=title, title_justify="left")
    table.add_column("architecture")
    for metric in METRIC_NAMES:
        table.add_column(f"{metric.upper()} (mean +/- std)", justify="right")
    for arch, rows in summary["per_arch"].items():
        table.add_row(Text(arch), *(mean_and_spread(m, rows[m]) for m in METRIC_NAMES))
    console.print(table)
    reference = body["archs"][0]
    for arch, rows in summary["versus_reference"].items():
        for row in rows.values():
            console.print(Text(f"  {arch} vs {reference} over seeds, {row['verdict']}"), soft_wrap=True)
