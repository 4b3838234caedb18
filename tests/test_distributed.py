"""DDP training launched the way users launch it: ``torchrun`` with two CPU processes (gloo backend)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cae_denoise.models.architectures import weights_sha256
from cae_denoise.models.checkpoint import load_model


@pytest.mark.slow
def test_torchrun_two_cpu_processes_train_in_sync_and_only_rank0_writes(image_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "cae_denoise", "train", "--arch", "leaky", "--data", str(image_folder), "--out", str(out),
        "--patch", "16", "--batch-size", "2", "--epochs", "2", "--steps-per-epoch", "3", "--channels", "4",
        "--depth", "1", "--device", "cpu",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]

    report = json.loads((out / "train_report.json").read_text())
    distributed = report["distributed"]
    assert distributed["world_size"] == 2
    assert distributed["global_batch_size"] == 4
    checksums = distributed["weights_sha256_per_rank"]
    assert len(checksums) == 2 and checksums[0] == checksums[1] and distributed["ranks_identical"]
    assert [row["epoch"] for row in report["history"]] == [1, 2]
    assert done.stderr.count("training leaky on") == 1, "only rank 0 may print progress"

    loaded = load_model(out / "last.pt")
    assert loaded.payload["train_state"]["global_step"] == 6
    assert len(loaded.payload["rng"]["sampler"]) == 2, "every rank's sampling stream is saved for resume"
    assert weights_sha256(loaded.model) == checksums[0]
