"""Multi-seed experiments: every arch x seed run, summaries that match the runs, skip-on-rerun."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
from helpers import tiny_config
from scipy import stats

from cae_denoise.errors import CaeDenoiseError
from cae_denoise.experiment import run_dir, run_experiment, summarise
from cae_denoise.metrics import METRIC_NAMES


@pytest.fixture(scope="module")
def experiment(image_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("experiment")
    base = tiny_config(image_folder, out / "unused", epochs=1, steps_per_epoch=1)
    seen = []
    body = run_experiment(base, ["baseline", "leaky"], 2, out, on_run=lambda *args: seen.append(args))
    return base, out, body, seen


def _run_means(out, arch: str, seed: int) -> dict:
    level = json.loads((run_dir(out, arch, seed) / "eval_test.json").read_text())["levels"][0]
    return level["methods"][arch]["mean"]


def test_every_run_is_trained_and_evaluated(experiment):
    base, out, body, seen = experiment
    assert seen == [("baseline", 0, False), ("baseline", 1, False), ("leaky", 0, False), ("leaky", 1, False)]
    assert [(r["arch"], r["seed"], r["skipped"]) for r in body["runs"]] == [(a, s, False) for a, s, _ in seen]
    for arch, seed, _ in seen:
        folder = run_dir(out, arch, seed)
        assert {"best.pt", "last.pt", "eval_test.json"} <= {p.name for p in folder.iterdir()}
        config = json.loads((folder / "train_report.json").read_text())["config"]
        assert (config["arch"], config["seed"]) == (arch, seed)
    assert body["base_config"] == base.to_dict()


def test_summary_matches_the_runs(experiment):
    _, out, body, _ = experiment
    summary = body["summary"]
    for arch in ("baseline", "leaky"):
        per_seed = [_run_means(out, arch, seed) for seed in (0, 1)]
        for metric in METRIC_NAMES:
            values = np.array([row[metric] for row in per_seed])
            row = summary["per_arch"][arch][metric]
            assert row["per_seed"] == pytest.approx(values.tolist())
            assert row["mean"] == pytest.approx(values.mean())
            assert row["std"] == pytest.approx(values.std(ddof=1))
    for metric in METRIC_NAMES:
        versus = summary["versus_reference"]["leaky"][metric]
        delta = [_run_means(out, "leaky", s)[metric] - _run_means(out, "baseline", s)[metric] for s in (0, 1)]
        assert versus["difference_per_seed"] == pytest.approx(delta)
        low, high = versus["difference_ci95_over_seeds"]
        assert low <= np.mean(delta) <= high
    assert "baseline" not in summary["versus_reference"]


def test_rerun_skips_finished_runs(experiment):
    base, out, body, _ = experiment
    again = run_experiment(base, ["baseline", "leaky"], 2, out)
    assert all(run["skipped"] for run in again["runs"])
    assert again["summary"] == body["summary"]


def test_rerun_with_other_settings_does_not_reuse_stale_runs(experiment, tmp_path):
    base, out, _, _ = experiment
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    changed = dataclasses.replace(base, epochs=2)
    try:
        body = run_experiment(changed, ["baseline", "leaky"], 2, copy)
    except CaeDenoiseError:
        return  # refusing is fine too
    assert not any(run["skipped"] for run in body["runs"])


def test_summarise_by_hand():
    scores = {
        "a": [{"ssim": 0.5, "mse": 0.02, "psnr": 20.0}, {"ssim": 0.6, "mse": 0.02, "psnr": 21.0}],
        "b": [{"ssim": 0.6, "mse": 0.01, "psnr": 22.0}, {"ssim": 0.5, "mse": 0.01, "psnr": 22.0}],
    }
    summary = summarise(scores, "a")
    psnr = summary["versus_reference"]["b"]["psnr"]
    assert psnr["difference_per_seed"] == [2.0, 1.0]
    assert psnr["better_in_seeds"] == 2
    half = stats.t.ppf(0.975, 1) * np.std([2.0, 1.0], ddof=1) / np.sqrt(2)
    assert psnr["difference_ci95_over_seeds"] == pytest.approx([1.5 - half, 1.5 + half])
    assert psnr["holds_across_seeds"] is False  # better in both seeds, but the interval includes 0
    mse = summary["versus_reference"]["b"]["mse"]
    assert mse["better_in_seeds"] == 2 and mse["holds_across_seeds"] is True  # lower is better; no spread
    ssim = summary["versus_reference"]["b"]["ssim"]
    assert ssim["better_in_seeds"] == 1 and ssim["holds_across_seeds"] is False
    assert summary["per_arch"]["a"]["psnr"]["std"] == pytest.approx(np.std([20.0, 21.0], ddof=1))


def test_one_seed_gives_no_interval_and_no_claim():
    scores = {"a": [{"ssim": 0.5, "mse": 0.02, "psnr": 20.0}], "b": [{"ssim": 0.6, "mse": 0.01, "psnr": 22.0}]}
    rows = summarise(scores, "a")["versus_reference"]["b"]
    for row in rows.values():
        assert row["better_in_seeds"] == 1
        assert row["difference_ci95_over_seeds"] is None and row["relative_percent_ci95_over_seeds"] is None
        assert row["holds_across_seeds"] is False


def test_experiment_needs_archs_and_seeds(tmp_path, image_folder):
    base = tiny_config(image_folder, tmp_path / "x")
    with pytest.raises(CaeDenoiseError, match="at least one architecture and one seed"):
        run_experiment(base, ["leaky"], 0, tmp_path)
    with pytest.raises(CaeDenoiseError, match="unknown architecture 'nope'"):
        run_experiment(base, ["nope"], 1, tmp_path)
