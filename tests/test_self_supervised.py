"""Training on noisy photos alone: the neighbour sub-sampler, the Neighbor2Neighbor loss, no-reference checks,
and whole runs (deterministic, resumable, reported as self-supervised)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import save_png, texture, tiny_config
from typer.testing import CliRunner

from cae_denoise.cli.app import app
from cae_denoise.data.neighbours import neighbour_choices, subsample
from cae_denoise.errors import UsageError
from cae_denoise.evaluation.noreference import no_reference_scores, residual_structure
from cae_denoise.models.checkpoint import load_checkpoint
from cae_denoise.noise.models import GaussianNoise
from cae_denoise.training.loop import train
from cae_denoise.training.objectives import Neighbor2Neighbor
from cae_denoise.training.tasks import task_for


@pytest.fixture(scope="module")
def noisy_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("noisy")
    for index in range(8):
        save_png(root / f"shot{index}.png", GaussianNoise(25, 25).add_seeded(texture(40, 48, index), 3, index))
    return root


# --- the sub-sampler --------------------------------------------------------------------------------------


def test_the_two_sub_images_take_different_neighbouring_pixels_of_every_cell():
    count, height, width = 3, 8, 10
    positions = torch.arange(count * height * width, dtype=torch.float64).reshape(count, 1, height, width)
    choices = neighbour_choices((count, height, width), torch.Generator().manual_seed(0))
    first, second = subsample(positions.expand(count, 2, height, width), choices)
    assert first.shape == second.shape == (count, 2, height // 2, width // 2)
    torch.testing.assert_close(first[:, 0], first[:, 1])  # every channel takes the same pixel
    for image in range(count):
        taken_first = set(first[image, 0].flatten().long().tolist())
        taken_second = set(second[image, 0].flatten().long().tolist())
        assert not taken_first & taken_second, "the two sub-images never share a pixel"
    offset = positions[0, 0, 0, 0]
    for a, b in zip(first[:, 0].flatten().long().tolist(), second[:, 0].flatten().long().tolist(), strict=True):
        (ya, xa), (yb, xb) = (
            divmod(int(a - offset) % (height * width), width),
            divmod(int(b - offset) % (height * width), width),
        )
        assert (ya // 2, xa // 2) == (yb // 2, xb // 2), "both come from the same 2x2 cell"
        assert abs(ya - yb) + abs(xa - xb) == 1, "and share an edge"


def test_choices_are_seeded_and_cover_all_eight_neighbour_pairs():
    draw = neighbour_choices((4, 32, 32), torch.Generator().manual_seed(5))
    assert torch.equal(draw, neighbour_choices((4, 32, 32), torch.Generator().manual_seed(5)))
    assert set(draw.unique().tolist()) == set(range(8))


def test_neighbor2neighbor_loss_is_finite_and_trains_the_network():
    network = torch.nn.Conv2d(3, 3, 3, padding=1)
    noisy = torch.rand(4, 3, 16, 16)
    objective = Neighbor2Neighbor()
    tensors = objective.prepare(noisy, torch.Generator().manual_seed(0))
    loss = objective.loss(network, *tensors, progress=0.5)
    loss.backward()
    assert torch.isfinite(loss) and network.weight.grad is not None and network.weight.grad.abs().sum() > 0
    identity = torch.nn.Identity()  # the regulariser is 0 when the network is the identity
    first, second = subsample(noisy, tensors[1])
    early = objective.loss(identity, *tensors, progress=0.0)
    late = objective.loss(identity, *tensors, progress=1.0)
    expected = torch.nn.functional.mse_loss(first, second)
    torch.testing.assert_close(early, expected)
    torch.testing.assert_close(late, expected)


# --- no-reference checks ----------------------------------------------------------------------------------


def test_no_reference_checks_tell_a_denoiser_from_an_identity_and_a_blur():
    clean = texture(64, 64, 1)
    noisy = GaussianNoise(25, 25).add_seeded(clean, 0, 0)
    ideal = {"image": lambda image: clean if image.shape == clean.shape else image}
    identity = no_reference_scores(lambda image: image, [noisy])
    oracle = no_reference_scores(ideal["image"], [noisy])
    assert identity["residual_sigma"] == 0.0 and oracle["input_sigma"] == pytest.approx(25, rel=0.15)
    assert oracle["residual_sigma"] == pytest.approx(oracle["input_sigma"], rel=0.15)  # it removed the noise
    assert oracle["residual_structure"] < 0.1
    edges = np.zeros((32, 32, 3), np.float32)
    edges[:, 16:] = 1.0
    assert residual_structure(edges - edges.mean(), edges) > 0.1  # removing the image itself shows


# --- whole runs -------------------------------------------------------------------------------------------


def _config(noisy_folder: Path, out: Path, **changes):
    return tiny_config(None, out, noisy_data=str(noisy_folder), **changes)


def test_a_self_supervised_run_is_reported_as_such(noisy_folder, tmp_path):
    config = _config(noisy_folder, tmp_path / "run")
    assert config.kind == "self-supervised"
    result = train(config)
    report = json.loads(result.report.read_text())
    assert report["training"]["kind"] == "self-supervised" and report["training"]["images"] == 8
    assert "no clean images" in report["training"]["what"]
    history = report["history"]
    assert {"val_loss", "val_input_sigma", "val_residual_sigma", "val_residual_structure"} <= set(history[0])
    assert "val_psnr" not in history[0]
    best = min(history, key=lambda row: row["val_loss"])
    assert report["best_epoch"] == best["epoch"] and report["best_score"] == pytest.approx(-best["val_loss"])
    assert load_checkpoint(result.best)["training"]["kind"] == "self-supervised"


def test_self_supervised_runs_are_deterministic_and_resume_exactly(noisy_folder, tmp_path):
    first = train(_config(noisy_folder, tmp_path / "one"))
    second = train(_config(noisy_folder, tmp_path / "two"))
    weights = [load_checkpoint(run.last)["model"] for run in (first, second)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    config = _config(noisy_folder, tmp_path / "interrupted")

    def stop(info) -> None:
        if info.global_step == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, on_step=stop)
    resumed = load_checkpoint(train(config, resume=True).last)["model"]
    assert all(torch.equal(resumed[k], weights[0][k]) for k in resumed)


def test_options_that_do_not_fit_noisy_photos_alone(noisy_folder, tmp_path):
    task_for(tiny_config(noisy_folder, tmp_path / "a", patch=18))  # clean images: one 2x level, 18 is fine
    with pytest.raises(UsageError, match="--patch 18: must be a multiple of 4"):
        task_for(_config(noisy_folder, tmp_path / "a", patch=18))  # the sub-images halve it once more
    with pytest.raises(UsageError, match="--dead-leaves applies to training on clean images"):
        task_for(_config(noisy_folder, tmp_path / "b", dead_leaves=2))
    with pytest.raises(UsageError, match=r"give --data .* or --noisy-data"):
        task_for(tiny_config(None, tmp_path / "c"))


def test_cli_trains_on_noisy_photos_alone(noisy_folder, tmp_path):
    out = tmp_path / "run"
    args = ["--noisy-data", str(noisy_folder), "--out", str(out), "--device", "cpu", "--patch", "16", "--epochs", "1"]
    args += ["--steps-per-epoch", "2", "--channels", "4", "--batch-size", "2"]
    result = CliRunner().invoke(app, ["train", *args])
    assert result.exit_code == 0, result.output
    stderr = " ".join(result.output.split())  # the progress line (stderr) and the table (stdout)
    assert "noisy photos alone, self-supervised" in stderr and "no clean references" in stderr
    evaluation = json.loads((out / "eval_test.json").read_text())
    assert set(evaluation["no_reference"]) == {"loss", "input_sigma", "residual_sigma", "residual_structure"}
    assert evaluation["images"] == json.loads((out / "train_report.json").read_text())["split"]["test"]


def test_noisy_photos_alone_from_an_archive(noisy_folder, tmp_path):
    import zipfile

    archive = tmp_path / "shots.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(noisy_folder.glob("*.png")):
            bundle.write(path, path.name)
    from_zip = train(_config(archive, tmp_path / "zip", epochs=1, steps_per_epoch=2))
    from_folder = train(_config(noisy_folder, tmp_path / "folder", epochs=1, steps_per_epoch=2))
    zipped, plain = load_checkpoint(from_zip.last)["model"], load_checkpoint(from_folder.last)["model"]
    assert all(torch.equal(zipped[k], plain[k]) for k in plain)  # the same photos, the same run
