"""``cae_denoise.denoise``: any image array in, the same shape, dtype and range out; clear errors; ``__version__``."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from helpers import texture

import cae_denoise
from cae_denoise.denoising import Smoothing
from cae_denoise.errors import CaeDenoiseError, UsageError
from cae_denoise.models.checkpoint import load_model
from cae_denoise.models.inference import denoise_array, estimated_level

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def default():
    return load_model("default")


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A noisy 29 x 37 RGB float32 image in [0, 1]."""
    rng = np.random.default_rng(0)
    return np.clip(texture(29, 37, 3) + rng.normal(0, 0.08, (29, 37, 3)), 0, 1).astype(np.float32)


def _reference(model, rgb: np.ndarray, **options) -> np.ndarray:
    """What the model gives for HxWx3 float32 in [0, 1] (``inference.denoise_array``, the CLI's path)."""
    return denoise_array(model.model, np.ascontiguousarray(rgb, dtype=np.float32), **options)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.int32, np.uint64])
def test_integers_are_read_from_their_range_and_returned_in_it(dtype, default, photo):
    top = np.iinfo(dtype).max
    image = np.minimum(np.rint(photo.astype(np.float64) * top), np.nextafter(float(top), 0)).astype(dtype)
    result = cae_denoise.denoise(image, default)
    assert result.dtype == dtype and result.shape == image.shape
    expected = np.rint(_reference(default, image / np.float64(top)).astype(np.float64) * top)
    assert np.array_equal(result.astype(np.float64), np.minimum(expected, float(top)))
    # not the silently white image of a float model fed integers: the mean brightness is kept
    assert abs(result.mean() / top - photo.mean()) < 0.05


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_floats_are_taken_as_zero_to_one(dtype, default, photo):
    image = photo.astype(dtype)
    result = cae_denoise.denoise(image, default)
    assert result.dtype == dtype and result.shape == image.shape
    np.testing.assert_allclose(result, _reference(default, image).astype(dtype), rtol=0, atol=1e-7)
    assert result.min() >= 0 and result.max() <= 1


@pytest.mark.parametrize("shape", ["HxW", "HxWx1"])
def test_grey_stays_grey_denoised_as_a_grey_file_is(shape, default, photo):
    grey = np.rint(photo.mean(axis=2) * 255).astype(np.uint8)
    image = grey if shape == "HxW" else grey[..., None]
    result = cae_denoise.denoise(image, default)
    assert result.shape == image.shape and result.dtype == np.uint8
    rgb = np.repeat(grey[..., None] / np.float32(255), 3, axis=2)
    expected = np.rint(_reference(default, rgb).mean(axis=2) * 255).astype(np.uint8)
    assert np.array_equal(result.reshape(grey.shape), expected)


@pytest.mark.parametrize("colours", [1, 3])
def test_alpha_is_passed_through_untouched(colours, default, photo):
    pixels = np.rint(photo * 65535).astype(np.uint16)
    colour = pixels[..., :1] if colours == 1 else pixels
    alpha = np.arange(29 * 37, dtype=np.uint16).reshape(29, 37, 1) * 50
    result = cae_denoise.denoise(np.concatenate([colour, alpha], axis=2), default)
    assert result.shape == (29, 37, colours + 1)
    assert np.array_equal(result[..., colours:], alpha)
    assert np.array_equal(result[..., :colours], cae_denoise.denoise(colour, default))


def test_the_level_is_the_one_estimated_level_gives_and_strength_scales_it(default, photo):
    level = estimated_level(default.model, photo)
    plain = cae_denoise.denoise(photo, default)
    assert np.array_equal(plain, cae_denoise.denoise(photo, default, noise_level=level))
    smoother = cae_denoise.denoise(photo, default, strength=2.0)
    assert np.array_equal(smoother, cae_denoise.denoise(photo, default, noise_level=2.0 * level))
    assert not np.array_equal(smoother, plain)


def test_a_model_by_name_path_or_loaded_gives_the_same(checkpoint, loaded_model, photo):
    by_path = cae_denoise.denoise(photo, checkpoint)
    assert np.array_equal(by_path, cae_denoise.denoise(photo, str(checkpoint)))
    assert np.array_equal(by_path, cae_denoise.denoise(photo, loaded_model))
    assert np.array_equal(by_path, _reference(loaded_model, photo))


@pytest.mark.parametrize("options", [{"strength": 1.5}, {"noise_level": 20.0}])
def test_level_options_for_a_model_without_a_level_are_refused_as_by_the_cli(options, loaded_model, photo):
    with pytest.raises(UsageError) as refused:
        cae_denoise.denoise(photo, loaded_model, **options)
    with pytest.raises(UsageError) as cli_rule:
        Smoothing(options.get("strength", 1.0), options.get("noise_level")).check(loaded_model)
    assert str(refused.value) == str(cli_rule.value)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"strength": 1.5, "noise_level": 20.0}, "not both"),
        ({"strength": 0.0}, "--strength 0: must be above 0"),
        ({"noise_level": 300.0}, r"--noise-level 300: must be in \[0, 255\]"),
    ],
)
def test_bad_level_options_are_refused(options, fragment, default, photo):
    with pytest.raises(UsageError, match=fragment):
        cae_denoise.denoise(photo, default, **options)


@pytest.mark.parametrize(
    ("image", "fragment"),
    [
        (np.zeros((9, 9), bool), "dtype bool is not an image's"),
        (np.zeros((9, 9, 3), complex), "dtype complex128 is not an image's"),
        (np.zeros((9, 9), object), "dtype object is not an image's"),
        (np.zeros(9, np.uint8), r"shape \(9,\) is not an image"),
        (np.zeros((2, 9, 9, 3), np.uint8), r"shape \(2, 9, 9, 3\) is not an image.*one image at a time"),
        (np.zeros((9, 9, 5), np.uint8), r"shape \(9, 9, 5\) is not an image; give HxW"),
        (np.zeros((0, 9, 3), np.uint8), "has no pixels"),
        (np.full((9, 9, 3), 1.5, np.float32), "values from 1.5 to 1.5; float images must lie in"),
        (np.full((9, 9), -0.1), "values from -0.1 to -0.1"),
        (np.full((9, 9), np.nan, np.float32), "NaN or infinite"),
        (np.full((9, 9), -3, np.int16), "int16 values down to -3"),
    ],
)
def test_what_is_not_an_image_is_refused_with_the_reason(image, fragment, default):
    with pytest.raises(CaeDenoiseError, match=fragment):
        cae_denoise.denoise(image, default)


def test_a_model_of_another_kind_is_refused(photo):
    with pytest.raises(CaeDenoiseError, match="model: got int; give 'default', a checkpoint path, or load_model"):
        cae_denoise.denoise(photo, 3)


def test_version_comes_from_the_package_metadata_without_torch():
    assert cae_denoise.__version__ == metadata.version("cae-denoise")
    code = "import sys, cae_denoise; cae_denoise.__version__; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_version_option_does_not_import_torch():
    code = (
        "import sys\nfrom cae_denoise.cli import app as cli\nsys.argv = ['cae-denoise', '--version']\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == f"cae-denoise {metadata.version('cae-denoise')}\nFalse\n"


def test_the_readme_python_api_block_runs_as_written(tmp_path, monkeypatch):
    """The README's Python API example, copied as it is, runs (in a few seconds, without optional packages)."""
    section = README.read_text(encoding="utf-8").split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md (Python API)", "exec"), {"__name__": "readme"})


def test_public_names_stay_functions_after_their_modules_are_imported():
    import cae_denoise.training.loop
    from cae_denoise import train
    from cae_denoise.training.loop import train as function

    assert train is function and cae_denoise.train is function and cae_denoise.training.loop.train is function
