"""Ctrl-C during training: a real SIGINT to a training subprocess, then ``train --resume``.

The resumed run must end with exactly the weights of an uninterrupted run (same optimizer state, step
count and RNG streams), which is the strongest check that nothing was lost at the interruption.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from cae_denoise.checkpoint import load_checkpoint

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _train_args(data: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "cae_denoise", "train", "--arch", "leaky", "--data", str(data), "--out", str(out),
        "--patch", "16", "--batch-size", "4", "--epochs", "2", "--steps-per-epoch", "800", "--channels", "4",
        "--depth", "1", "--device", "cpu", "--seed", "3",
    ]  # fmt: skip


def _wait_for(path: Path, process: subprocess.Popen, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, "training ended before it could be interrupted"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_sigint_saves_a_resumable_checkpoint_and_resuming_matches_an_uninterrupted_run(
    image_folder: Path, tmp_path: Path
) -> None:
    interrupted_out, reference_out = tmp_path / "interrupted", tmp_path / "reference"
    process = subprocess.Popen(
        _train_args(image_folder, interrupted_out), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait_for(interrupted_out / "last.pt", process)  # epoch 1 of 2 is done: interrupt early in epoch 2
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    saved = load_checkpoint(interrupted_out / "last.pt")["train_state"]
    assert 800 < saved["global_step"] < 1600, "the interruption should have been saved mid-epoch"
    assert not (interrupted_out / "train_report.json").exists()

    resumed = subprocess.run(
        [sys.executable, "-m", "cae_denoise", "train", "--resume", str(interrupted_out)],
        env=ENV, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    reference = subprocess.run(
        _train_args(image_folder, reference_out), env=ENV, capture_output=True, text=True, timeout=300
    )
    assert reference.returncode == 0, reference.stderr

    resumed_ckpt = load_checkpoint(interrupted_out / "last.pt")
    reference_ckpt = load_checkpoint(reference_out / "last.pt")
    assert resumed_ckpt["train_state"]["global_step"] == reference_ckpt["train_state"]["global_step"] == 1600
    for name, tensor in reference_ckpt["model"].items():
        assert torch.equal(tensor, resumed_ckpt["model"][name]), f"{name} differs after resume"
    assert [h["epoch"] for h in resumed_ckpt["history"]] == [1, 2]
