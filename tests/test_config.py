"""Training settings: every size-like setting bounded (one table), options that do not apply refused, and the
same bounds when a checkpoint's settings are read back."""

from __future__ import annotations

import math

import pytest
from helpers import save_png, texture

from cae_denoise import config
from cae_denoise.config import BOUNDS, MAX_PARAMETERS, TrainConfig
from cae_denoise.errors import CaeDenoiseError, UsageError
from cae_denoise.evaluation import metrics
from cae_denoise.models import checkpoint
from cae_denoise.training.tasks import task_for


def _config(tmp_path, **changes) -> TrainConfig:
    settings = {"data": "builtin", "out": str(tmp_path / "run"), "device": "cpu", **changes}
    return TrainConfig(**settings)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"resize": 100_000}, "--resize 100000: must be between 11 and 2048"),
        ({"resize": 8}, "--resize 8: must be between 11 and 2048"),  # validation scores SSIM: 11 x 11 or more
        ({"batch_size": 200_000}, "--batch-size 200000: must be between 1 and 4096"),
        ({"patch": 100_000}, "--patch 100000: must be between 8 and 1024"),
        ({"patch": 4}, "--patch 4: must be between 8 and 1024"),
        ({"dead_leaves": 100_000}, "--dead-leaves 100000: must be between 0 and 1000"),
        ({"channels": 100_000}, "--channels 100000: must be between 1 and 512"),
        ({"depth": 7}, "--depth 7: must be between 1 and 6"),
        ({"negative_slope": math.nan}, "--negative-slope nan: must be between 0 and 1"),
        ({"negative_slope": 5.0}, "--negative-slope 5: must be between 0 and 1"),
        ({"seed": 1180591620717411303424}, "--seed 1180591620717411303424: must be between 0 and 9223372036854775807"),
        ({"val_sigma": math.nan}, "--val-sigma nan: must be between 0 and 255"),
        ({"max_megapixels": 0}, "--max-megapixels 0: must be between 1 and 1000000"),
    ],
)
def test_every_size_like_setting_has_an_upper_bound_checked_up_front(tmp_path, changes, message):
    with pytest.raises(UsageError) as caught:
        task_for(_config(tmp_path, **changes))
    assert str(caught.value) == message


def test_the_bounds_are_one_table_the_checkpoint_checker_shares():
    assert set(checkpoint.ARCH_ARGS) == {"channels", "depth", "negative_slope"} <= set(BOUNDS)
    assert checkpoint.MAX_PARAMETERS is MAX_PARAMETERS
    assert config.MIN_SCORED_SIDE == metrics._MIN_SSIM_SIDE == BOUNDS["resize"][0]


@pytest.mark.parametrize("arch", ["leaky", "unet"])
def test_a_model_over_the_weight_limit_is_refused_without_being_built(tmp_path, arch):
    settings = _config(tmp_path, arch=arch, channels=512, depth=6, patch=64)
    expected = rf"--arch {arch} --channels 512 --depth 6: the model would have [\d,]+ weights, over the 100,000,000"
    with pytest.raises(UsageError, match=expected):
        task_for(settings)  # 25-41 billion weights: over 100 GB, if they were allocated


def test_a_step_of_too_many_pixels_is_refused(tmp_path):
    with pytest.raises(UsageError, match=r"--batch-size 4096 of 1024x1024 samples: 4,294,967,296 pixels per step"):
        task_for(_config(tmp_path, batch_size=4096, patch=1024))
    with pytest.raises(UsageError, match="lower --batch-size or --resize"):
        task_for(_config(tmp_path, batch_size=4096, resize=2048))
    task_for(_config(tmp_path, batch_size=256, patch=256))  # 2**24 pixels: the limit itself


def test_a_slope_at_the_bound_trains_and_its_checkpoint_loads(tmp_path, image_folder):
    from helpers import tiny_config

    from cae_denoise.training.loop import train

    settings = tiny_config(image_folder, tmp_path / "run", negative_slope=1.0, epochs=1, steps_per_epoch=1)
    task_for(settings)
    result = train(settings)
    assert checkpoint.load_model(result.best).payload["arch_args"]["negative_slope"] == 1.0


def test_an_empty_init_is_a_usage_error(tmp_path):
    for empty in ("", "  "):
        with pytest.raises(UsageError, match=r"^--init: give a checkpoint file, or 'default'$"):
            task_for(_config(tmp_path, init=empty))


@pytest.fixture
def photos(tmp_path):
    for index in range(3):
        save_png(tmp_path / "shots" / f"{index}.png", texture(32, 32, index))
    return tmp_path / "shots"


@pytest.mark.parametrize(
    ("changes", "option"),
    [
        ({"noise": "camera"}, "--noise"),
        ({"sigma": "5-50"}, "--sigma"),
        ({"val_noise": "camera:high"}, "--val-noise"),
        ({"val_sigma": 15.0}, "--val-sigma"),
    ],
)
@pytest.mark.parametrize("clean", [False, True])
def test_synthetic_noise_options_with_noisy_photos_are_refused(tmp_path, photos, changes, option, clean):
    other = tmp_path / "clean"
    other.mkdir()
    settings = _config(tmp_path, data=str(other) if clean else None, noisy_data=str(photos), patch=32, **changes)
    with pytest.raises(UsageError) as caught:
        task_for(settings)
    assert str(caught.value).startswith(f"{option} applies to training on clean images with synthetic noise, not with")


def test_noisy_photos_paired_with_themselves_are_refused(tmp_path, photos, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "alias").symlink_to(photos, target_is_directory=True)
    for clean in ("shots", "./shots/", "alias", str(photos)):
        with pytest.raises(UsageError, match="are the same images"):
            task_for(_config(tmp_path, data=clean, noisy_data="shots", patch=32))


def test_a_checkpoint_asking_for_a_huge_resize_is_refused_when_read(tmp_path):
    saved = TrainConfig(data="builtin", resize=100_000).to_dict()
    with pytest.raises(CaeDenoiseError, match=r"training setting 'resize' is 100000, outside \[11, 2048\]"):
        TrainConfig.from_dict(saved)
    assert TrainConfig.from_dict(TrainConfig(resize=64).to_dict()).resize == 64


def test_the_shipped_models_settings_are_within_the_bounds():
    payload = checkpoint.load_checkpoint(checkpoint.resolve_model_path("default"))
    assert TrainConfig.from_dict(payload["config"]).out_of_bounds() == []


def test_runs_decay_the_rate_by_default_and_checkpoints_older_than_the_setting_read_as_constant():
    assert TrainConfig().schedule == "cosine"
    assert TrainConfig.from_dict(TrainConfig().to_dict()) == TrainConfig()  # a saved config keeps its schedule
    old = {key: value for key, value in TrainConfig().to_dict().items() if key != "schedule"}
    assert TrainConfig.from_dict(old).schedule == "constant"  # the only rate there was before the setting
