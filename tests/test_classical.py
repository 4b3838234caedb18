"""Classical comparators: named, tuned to sigma, same shape out, better than the noisy input."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest
from helpers import texture

from cae_denoise.errors import CaeDenoiseError
from cae_denoise.evaluation.classical import CLASSICAL_SETTINGS, classical_denoiser, classical_names
from cae_denoise.evaluation.evaluate import evaluate_specs
from cae_denoise.evaluation.methods import TOLD
from cae_denoise.evaluation.metrics import psnr
from cae_denoise.noise.models import GaussianNoise

CLEAN = texture(37, 31, 3)
#: Methods that need an optional package, and the module each imports.
OPTIONAL = {"bm3d": "bm3d", "wavelet": "pywt"}


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


INSTALLED = [name for name in classical_names() if name not in OPTIONAL or _importable(OPTIONAL[name])]


def test_every_method_is_described():
    assert set(classical_names()) == set(CLASSICAL_SETTINGS)
    assert {"noisy", "nlm", "tv", "wavelet"} <= set(classical_names())


NOISY_INPUT = GaussianNoise(25, 25).add_seeded(CLEAN, 0, 0)


@pytest.fixture(scope="module")
def outputs() -> dict[str, np.ndarray]:
    """Each installed method's output on ``NOISY_INPUT``, computed once (bm3d is slow to start)."""
    return {name: classical_denoiser(name, 25)(NOISY_INPUT) for name in INSTALLED}


@pytest.mark.parametrize("name", INSTALLED)
def test_output_is_float32_same_shape_clipped(outputs, name):
    output = outputs[name]
    assert output.shape == CLEAN.shape
    assert output.dtype == np.float32
    assert output.min() >= 0.0 and output.max() <= 1.0


@pytest.mark.parametrize("name", [n for n in INSTALLED if n != "noisy"])
def test_denoisers_beat_the_noisy_input(outputs, name):
    assert psnr(CLEAN, outputs[name], data_range=1.0) > psnr(CLEAN, NOISY_INPUT, data_range=1.0) + 1


def test_noisy_is_the_identity(outputs):
    np.testing.assert_array_equal(outputs["noisy"], NOISY_INPUT)


def test_unknown_method():
    with pytest.raises(CaeDenoiseError, match="unknown method 'median'; classical methods are noisy, nlm"):
        classical_denoiser("median", 25)


def test_missing_optional_packages_are_user_errors(monkeypatch):
    monkeypatch.setitem(sys.modules, "bm3d", None)  # any 'import bm3d' now raises ImportError
    monkeypatch.setitem(sys.modules, "pywt", None)
    with pytest.raises(CaeDenoiseError, match="pip install bm3d"):
        classical_denoiser("bm3d", 25)
    with pytest.raises(CaeDenoiseError, match=r"wavelet needs PyWavelets: pip install 'cae-denoise\[classical\]'"):
        classical_denoiser("wavelet", 25)


def test_classical_methods_in_an_evaluation(image_folder, checkpoint):
    body = evaluate_specs(["tv", str(checkpoint), "noisy"], data=str(image_folder), sigmas_255=[25])
    assert list(body["methods"]) == ["tv", "leaky", "noisy"]
    assert body["methods"]["tv"] == {"kind": "classical", "settings": CLASSICAL_SETTINGS["tv"], "noise_level": TOLD[""]}
    assert body["methods"]["leaky"]["kind"] == "model"
    level = body["levels"][0]
    assert level["reference"] == "tv"
    assert set(level["differences"]) == {"leaky", "noisy"}
    tv, noisy = level["methods"]["tv"]["mean"], level["methods"]["noisy"]["mean"]
    assert level["differences"]["noisy"]["psnr"]["difference"] == pytest.approx(noisy["psnr"] - tv["psnr"])


def test_a_classical_method_named_twice_is_an_error():
    with pytest.raises(CaeDenoiseError, match="tv is named twice"):
        evaluate_specs(["tv", "tv"])
