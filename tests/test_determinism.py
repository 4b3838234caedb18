"""The determinism README.md states: on a CPU, the same seed, torch build, thread count and instruction set give
bit-identical weights, from separate processes whatever their hash seed; the report names what it depends on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

TRAIN = ["train", "--patch", "16", "--batch-size", "4", "--epochs", "1", "--steps-per-epoch", "3", "--channels", "4"]


def _train_in_process(data: Path, out: Path, hash_seed: str, threads: str) -> dict:
    """One run of the CLI in a fresh interpreter; its ``train_report.json``."""
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": threads}
    command = [sys.executable, "-m", "cae_denoise", *TRAIN, "--data", str(data), "--out", str(out)]
    subprocess.run(command, check=True, capture_output=True, env=env)
    return json.loads((out / "train_report.json").read_text())


def test_separate_processes_with_the_same_threads_train_bit_identical_weights(tmp_path, image_folder):
    first = _train_in_process(image_folder, tmp_path / "one", hash_seed="1", threads="1")
    second = _train_in_process(image_folder, tmp_path / "two", hash_seed="2", threads="1")
    assert first["distributed"]["weights_sha256_per_rank"] == second["distributed"]["weights_sha256_per_rank"]
    assert [row["val_psnr"] for row in first["history"]] == [row["val_psnr"] for row in second["history"]]
    environment = first["environment"]
    assert environment["torch_threads"] == 1
    assert environment["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert environment["onednn_max_cpu_isa"] == os.environ.get("ONEDNN_MAX_CPU_ISA")
