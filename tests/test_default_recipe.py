"""The default model's recipe (``examples/train_default_model.py``): a whole run at a tiny size, candidates in
separate processes, exactly as a GPU session runs it (``examples/gpu_default_model.sh``)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from helpers import save_png, texture

from cae_denoise.data.sources import BUILTIN_TEST, BUILTIN_VAL
from cae_denoise.shipped import resolve_model_path

RECIPE = Path(__file__).resolve().parents[1] / "examples" / "train_default_model.py"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_tiny_recipe_run_trains_candidates_side_by_side_and_scores_them(tmp_path):
    photos = tmp_path / "photos"
    for index in range(3):
        save_png(photos / "pkg" / f"p{index}.png", texture(100, 120, seed=index))
    shipped = digest(resolve_model_path("default"))
    out = tmp_path / "v3"
    command = [sys.executable, str(RECIPE), "--photos", str(photos), "--steps", "1", "--device", "cpu"]
    command += ["--candidates", "unet-level-32-2,unet-estimate-32-2", "--out", str(out), "--dead-leaves", "0"]
    command += ["--test-noises", "gaussian:25", "--test-data", str(photos), "--no-ship"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((out / "summary.json").read_text())
    names = [row["candidate"] for row in summary["candidates"]]
    assert names == ["unet-level-32-2", "unet-estimate-32-2"] and summary["winner"] in names
    assert all(row["steps"] == 1 and np.isfinite(row["best_val_psnr"]) for row in summary["candidates"])
    test = json.loads((out / "test_scores.json").read_text())
    assert list(test["methods"]) == ["default (before this run)", *names]
    assert len(test["images"]) == 1 and test["levels"][0]["reference"] == "default (before this run)"
    held_out = {f"{name}.png" for name in BUILTIN_TEST + BUILTIN_VAL}
    data = {path.name for path in (out / "data").rglob("*.png")}
    assert {"p0.png", "p1.png", "p2.png", "brick.png"} <= data and not data & held_out
    assert digest(resolve_model_path("default")) == shipped  # --no-ship leaves the package as it was
