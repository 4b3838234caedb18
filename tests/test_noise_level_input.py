"""Models told the noise level (``unet-level``): training with the level, --strength and --noise-level, --init,
and the --noise option of every command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import save_png, texture, tiny_config
from typer.testing import CliRunner

from cae_denoise.cli.app import app
from cae_denoise.cli.tables import noise_label
from cae_denoise.denoising import Smoothing
from cae_denoise.errors import UsageError
from cae_denoise.models.architectures import create_model, takes_noise_level
from cae_denoise.models.checkpoint import LoadedModel, load_checkpoint, load_model
from cae_denoise.models.inference import denoise_array, estimated_level
from cae_denoise.noise.estimate import estimate_noise_sigma, estimate_noise_sigma_batch
from cae_denoise.noise.models import GaussianNoise
from cae_denoise.training.loop import build_model, train
from cae_denoise.training.objectives import SyntheticNoise, level_error, true_level
from cae_denoise.training.tasks import task_for


def invoke(*args: object):
    return CliRunner().invoke(app, [str(arg) for arg in args])


def level_model(seed: int = 0) -> torch.nn.Module:
    """A tiny unet-level whose level offsets are not zero, so that the level changes its output."""
    torch.manual_seed(seed)
    model = create_model("unet-level", channels=4, depth=1).eval()
    with torch.no_grad():
        for offset in model.level_offsets:
            offset.weight.normal_(0, 1.0)
    return model


def noisy_image(side: int = 40) -> np.ndarray:
    clean = texture(side, side, seed=3)
    return GaussianNoise(20, 20).add_seeded(clean, seed=0, index=0)


def test_unet_level_starts_as_the_unet_it_is_initialised_from():
    torch.manual_seed(0)
    plain = create_model("unet", channels=4, depth=1).eval()
    told = create_model("unet-level", channels=4, depth=1).eval()
    missing, unexpected = told.load_state_dict(plain.state_dict(), strict=False)
    assert unexpected == [] and all(key.startswith("level_offsets.") for key in missing)
    batch = torch.rand(2, 3, 16, 16)
    torch.testing.assert_close(told(batch, torch.tensor([5.0, 40.0])), plain(batch), rtol=0, atol=0)
    assert takes_noise_level(told) and not takes_noise_level(plain)


def test_the_level_changes_the_output_and_defaults_to_the_estimate():
    model = level_model()
    batch = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        low, high = model(batch, torch.tensor([0.0, 0.0])), model(batch, torch.tensor([50.0, 50.0]))
        blind = model(batch)
        estimated = model(batch, estimate_noise_sigma_batch(batch))
    assert (low - high).abs().max() > 1e-3
    torch.testing.assert_close(blind, estimated)


def test_denoise_array_tells_every_tile_the_whole_images_level():
    model, image = level_model(), noisy_image(40)
    estimate = estimate_noise_sigma(image)
    stronger = denoise_array(model, image, strength=2.0)
    np.testing.assert_allclose(stronger, denoise_array(model, image, noise_level=2.0 * estimate), atol=1e-6)
    assert np.abs(stronger - denoise_array(model, image)).max() > 1e-4
    tiled = denoise_array(model, image, tile=24, overlap=8, noise_level=30.0)
    whole = denoise_array(model, image, noise_level=30.0)
    assert np.abs(tiled - whole)[12:-12, 12:-12].max() < 0.05  # one level for all tiles: tiles agree inside


def test_models_without_a_level_ignore_strength():
    torch.manual_seed(0)
    model, image = create_model("unet", channels=4, depth=1).eval(), noisy_image(24)
    np.testing.assert_array_equal(denoise_array(model, image, strength=3.0), denoise_array(model, image))


@pytest.mark.parametrize(
    ("smoothing", "message"),
    [
        (Smoothing(strength=0.0), "--strength 0: must be above 0"),
        (Smoothing(strength=float("nan")), "--strength nan"),
        (Smoothing(strength=11.0), "at most 10"),
        (Smoothing(level=300.0), "--noise-level 300: must be in [0, 255]"),
    ],
)
def test_smoothing_refuses_bad_values(smoothing, message):
    loaded = LoadedModel(level_model(), "x.pt", {"arch": "unet-level"})
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        smoothing.check(loaded)


def test_smoothing_needs_a_model_told_the_level():
    plain = LoadedModel(create_model("unet", channels=4, depth=1), "plain.pt", {"arch": "unet"})
    with pytest.raises(UsageError, match=r"plain.pt \(unet\) is not"):
        Smoothing(strength=1.5).check(plain)
    Smoothing().check(plain)  # the defaults are fine for any model
    assert Smoothing(strength=2.0).level_for(10.0) == 20.0 and Smoothing(level=7.0).level_for(10.0) == 7.0


def test_training_lets_the_model_estimate_the_level_of_each_patch():
    seen = {}

    class Spy(torch.nn.Module):
        def forward(self, noisy, level=None):
            seen["level"] = level
            return noisy

    objective = SyntheticNoise(GaussianNoise(30, 30))
    noisy, clean = objective.prepare(torch.rand(3, 3, 32, 32), torch.Generator().manual_seed(1))
    objective.loss(Spy(), noisy, clean, progress=0.0)
    assert seen["level"] is None  # so unet-level estimates it from its input, exactly as at inference


# --- training: --noise, --init ----------------------------------------------------------------------------------


def test_training_with_a_noise_model_records_its_spec(image_folder, tmp_path):
    config = tiny_config(image_folder, tmp_path / "run", arch="unet-level", noise="gaussian:5-40+camera:high")
    result = train(config)
    report = json.loads(result.report.read_text())
    assert report["noise"]["spec"] == "gaussian:5-40+camera:high:jpeg=85-95"
    assert load_checkpoint(result.best)["config"]["noise"] == "gaussian:5-40+camera:high"


def test_init_copies_weights_and_refuses_ones_that_do_not_fit(trained_run, tmp_path):
    config = tiny_config("builtin", tmp_path / "x", init=str(trained_run.best))
    started = build_model(task_for(config), torch.device("cpu"))
    source = load_model(trained_run.best).model
    for name, tensor in source.state_dict().items():
        torch.testing.assert_close(started.state_dict()[name], tensor)
    with pytest.raises(UsageError, match=r"--init .*do not fit this architecture"):
        build_model(task_for(tiny_config("builtin", tmp_path / "y", channels=8, init=str(trained_run.best))), "cpu")
    with pytest.raises(UsageError, match=r"--init .*weights this architecture lacks"):
        build_model(task_for(tiny_config("builtin", tmp_path / "z", arch="unet", init=str(trained_run.best))), "cpu")


# --- the command line -------------------------------------------------------------------------------------------


def test_train_refuses_sigma_with_noise(tmp_path):
    result = invoke("train", "--sigma", "25", "--noise", "camera", "--out", tmp_path / "run")
    assert result.exit_code == 2 and "give --sigma or --noise, not both" in result.stderr
    assert not (tmp_path / "run").exists()


def test_train_refuses_a_bad_noise_spec_before_work(tmp_path):
    result = invoke("train", "--noise", "camera:loud", "--out", tmp_path / "run")
    assert result.exit_code == 2 and "--noise 'camera:loud'" in result.stderr and "valid forms" in result.stderr


def test_compare_with_noise_models_scores_each_and_records_the_spec(image_folder, tmp_path):
    report = tmp_path / "report.json"
    result = invoke(
        "compare", "nlm", "tv", "--data", image_folder, "--split", "all", "--noise", "jpeg:30,camera:high",
        "--report", report,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    levels = json.loads(report.read_text())["levels"]
    assert [level["noise"]["spec"] for level in levels] == ["jpeg:30", "camera:high:jpeg=85-95"]
    assert levels[0]["noise"]["kind"] == "synthetic" and levels[0]["noise"]["seed"] == 0
    assert levels[0]["methods"]["noisy"]["mean"]["psnr"] < levels[1]["methods"]["noisy"]["mean"]["psnr"] + 20
    assert noise_label(levels[1]["noise"]) == "noise camera:high:jpeg=85-95"


def test_compare_refuses_sigma_with_noise():
    result = invoke("compare", "nlm", "tv", "--sigma", "25", "--noise", "camera")
    assert result.exit_code == 2 and "not both" in result.stderr


def test_denoise_strength_needs_a_level_model(checkpoint, tmp_path):
    photo = save_png(tmp_path / "photo.png", texture(32, 32, seed=1))
    result = invoke("denoise", photo, "--model", checkpoint, "--strength", "1.5")
    assert result.exit_code == 2 and "is not" in result.stderr
    assert not (tmp_path / "photo_denoised.png").exists()


def test_denoise_with_strength_reports_the_level_told(image_folder, tmp_path):
    run = train(tiny_config(image_folder, tmp_path / "run", arch="unet-level", noise="gaussian:5-40"))
    photo = save_png(tmp_path / "photo.png", noisy_image(32))
    report = tmp_path / "r.json"
    result = invoke("denoise", photo, "--model", run.best, "--strength", "2", "--report", report)
    assert result.exit_code == 0, result.output
    record = json.loads(report.read_text())["files"][0]
    assert record["estimated_sigma_255"] > 5
    assert record["model_noise_level_255"] == pytest.approx(2 * record["estimated_sigma_255"])
    assert Path(record["output"]).exists()
    assert f"model told {record['model_noise_level_255']:.1f}" in result.stderr


def test_gaussian_noise_spec_trains_exactly_as_sigma(image_folder, tmp_path):
    by_sigma = train(tiny_config(image_folder, tmp_path / "sigma", sigma="5-40"))
    by_spec = train(tiny_config(image_folder, tmp_path / "spec", noise="gaussian:5-40"))
    assert load_model(by_sigma.best).weights_sha256() == load_model(by_spec.best).weights_sha256()
    assert [row["train_loss"] for row in by_sigma.history] == [row["train_loss"] for row in by_spec.history]


def test_val_noise_chooses_validation_and_test_noise(image_folder, tmp_path):
    from cae_denoise.training.pipeline import train_and_evaluate

    config = tiny_config(image_folder, tmp_path / "run", noise="camera:high", val_noise="camera:high:jpeg=none")
    outcome = train_and_evaluate(config)
    report = json.loads(outcome.training.report.read_text())
    assert report["validation"]["noise"]["spec"] == "camera:high:jpeg=none"
    assert outcome.evaluation["levels"][0]["noise"]["spec"] == "camera:high:jpeg=none"
    assert json.loads(outcome.evaluation_path.read_text())["levels"][0]["noise"]["kind"] == "synthetic"


def test_bad_val_noise_names_its_option(tmp_path):
    result = invoke("train", "--val-noise", "camera:loud", "--out", tmp_path / "run")
    assert result.exit_code == 2 and "--val-noise 'camera:loud'" in result.stderr
    assert not (tmp_path / "run").exists()


def test_resume_does_not_need_the_init_file_again(image_folder, tmp_path, trained_run):
    import shutil

    init = tmp_path / "init.pt"
    shutil.copy(trained_run.best, init)
    config = tiny_config(image_folder, tmp_path / "run", init=str(init))
    first = train(config)
    init.unlink()  # e.g. a temporary file: the run's own last.pt holds the weights now
    again = train(config, resume=True)
    assert load_model(again.last).weights_sha256() == load_model(first.last).weights_sha256()


# --- a learned level estimator (unet-estimate) ---------------------------------------------------------------


class ConstantLevel(torch.nn.Module):
    """An estimator that reads every image as noise of ``level`` (0-255)."""

    def __init__(self, level: float) -> None:
        super().__init__()
        self.level = level

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        return torch.full((noisy.shape[0],), self.level)


def levels_told(model: torch.nn.Module, monkeypatch) -> list[torch.Tensor]:
    """Record every level the network part of ``model`` is told."""
    told: list[torch.Tensor] = []
    denoise = model._denoise

    def spy(noisy, level):
        told.append(level)
        return denoise(noisy, level)

    monkeypatch.setattr(model, "_denoise", spy)
    return told


def test_true_level_is_the_rms_of_each_samples_noise():
    generator = torch.Generator().manual_seed(0)
    clean = torch.rand(3, 3, 17, 23, generator=generator)
    noisy = clean + torch.randn(clean.shape, generator=generator) * torch.tensor([0.01, 0.1, 0.0])[:, None, None, None]
    expected = np.sqrt(((noisy.double() - clean.double()).numpy() ** 2).mean(axis=(1, 2, 3))) * 255
    np.testing.assert_allclose(true_level(noisy, clean).numpy(), expected, rtol=1e-5)


def test_a_learned_estimator_model_is_told_the_true_level_in_training_and_learns_it(monkeypatch):
    torch.manual_seed(0)
    model = create_model("unet-estimate", channels=4, depth=1).train()
    objective = SyntheticNoise(GaussianNoise(5, 50))
    noisy, clean = objective.prepare(torch.rand(6, 3, 24, 24) * 0.5 + 0.25, torch.Generator().manual_seed(1))
    told = levels_told(model, monkeypatch)
    optimizer = torch.optim.Adam(model.estimator.parameters(), lr=1e-2)
    with torch.no_grad():
        before = float(level_error(model.estimate_level(noisy), true_level(noisy, clean)))
    objective.loss(model, noisy, clean, progress=0.0).backward()
    torch.testing.assert_close(told[0], true_level(noisy, clean))  # the truth, as FFDNet is trained
    optimizer.step()
    with torch.no_grad():
        assert float(level_error(model.estimate_level(noisy), true_level(noisy, clean))) < before


def test_denoise_array_tells_a_learned_model_its_own_estimate_times_strength(monkeypatch):
    model = create_model("unet-estimate", channels=4, depth=1).eval()
    model.estimator = ConstantLevel(12.0)
    told = levels_told(model, monkeypatch)
    image = noisy_image()
    assert estimated_level(model, image) == 12.0  # not Donoho's estimate of the image
    denoise_array(model, image, strength=2.0)
    denoise_array(model, image, noise_level=7.0)
    assert {float(level) for level in told[0]} == {24.0} and {float(level) for level in told[-1]} == {7.0}
    assert estimated_level(create_model("unet-level", channels=4, depth=1), image) == estimate_noise_sigma(image)
