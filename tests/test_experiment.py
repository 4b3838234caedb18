"""Multi-seed experiments: every arch x seed run, summaries that match the runs, skip-on-rerun."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
from helpers import tiny_config

from cae_denoise.errors import CaeDenoiseError
from cae_denoise.evaluation.metrics import METRIC_NAMES
from cae_denoise.training.experiment import run_dir, run_experiment, summarise


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
        assert versus["per_unit"] == pytest.approx(delta)
        assert versus["outcome"] == "too few units to test" and versus["ci95"] is None  # two seeds
        assert "2 seeds" in versus["verdict"] and "no verdict" in versus["verdict"]
    assert "baseline" not in summary["versus_reference"]


def test_rerun_skips_finished_runs(experiment):
    base, out, body, _ = experiment
    report = (out / "experiment.json").read_bytes()
    assert json.loads(report)["summary"] == json.loads(json.dumps(body["summary"]))
    with pytest.raises(CaeDenoiseError, match=r"experiment\.json exists; pass --overwrite"):
        run_experiment(base, ["baseline", "leaky"], 2, out, on_run=lambda *args: pytest.fail("a run started"))
    assert (out / "experiment.json").read_bytes() == report
    again = run_experiment(base, ["baseline", "leaky"], 2, out, overwrite=True)
    assert all(run["skipped"] for run in again["runs"])
    assert again["summary"] == body["summary"]


def test_rerun_with_other_settings_refuses_the_stale_runs(experiment, tmp_path):
    base, out, _, _ = experiment
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    with pytest.raises(CaeDenoiseError, match=r"baseline_seed0 was trained with other settings \(epochs\)"):
        run_experiment(dataclasses.replace(base, epochs=2), ["baseline", "leaky"], 2, copy, overwrite=True)


def _scores(values: list[float]) -> list[dict]:
    return [{"ssim": v / 40, "mse": 10 ** (-v / 10), "psnr": v} for v in values]


def test_summarise_pairs_by_seed_with_the_shared_statistics():
    reference, other = [20.0, 21.0, 22.0, 20.5, 21.5, 20.2], [21.0, 21.5, 22.9, 21.5, 21.7, 21.0]
    summary = summarise({"a": _scores(reference), "b": _scores(other)}, "a")
    psnr = summary["versus_reference"]["b"]["psnr"]
    assert psnr["per_unit"] == pytest.approx([1.0, 0.5, 0.9, 1.0, 0.2, 0.8])
    assert psnr["wins"] == 6 and psnr["testable"] and psnr["outcome"] == "better"
    assert psnr["wilcoxon_p"] == pytest.approx(2 / 2**6)
    assert psnr["verdict"].startswith("PSNR: b better, b - a = +0.73 dB [95% CI")
    assert summary["versus_reference"]["b"]["mse"]["outcome"] == "better"  # lower MSE in every seed
    assert summary["per_arch"]["a"]["psnr"]["std"] == pytest.approx(np.std(reference, ddof=1))


def test_one_seed_gives_no_interval_and_no_claim():
    rows = summarise({"a": _scores([20.0]), "b": _scores([22.0])}, "a")
    assert rows["per_arch"]["a"]["psnr"]["std"] is None
    for row in rows["versus_reference"]["b"].values():
        assert row["wins"] == 1 and row["ci95"] is None and row["outcome"] == "too few units to test"


def test_experiment_needs_archs_and_seeds(tmp_path, image_folder):
    base = tiny_config(image_folder, tmp_path / "x")
    with pytest.raises(CaeDenoiseError, match="at least one architecture and one seed"):
        run_experiment(base, ["leaky"], 0, tmp_path)
    with pytest.raises(CaeDenoiseError, match="unknown architecture 'nope'"):
        run_experiment(base, ["nope"], 1, tmp_path)
