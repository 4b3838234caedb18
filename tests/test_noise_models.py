"""Noise models beyond white Gaussian noise: their statistics against theory, seeding, specs and bad specs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cae_denoise import camera
from cae_denoise.errors import UsageError
from cae_denoise.noise import (
    CAMERA_STRENGTHS,
    CameraNoise,
    GaussianNoise,
    JpegNoise,
    NoiseMixture,
    PoissonGaussianNoise,
    estimate_noise_sigma,
    estimate_noise_sigma_batch,
    evaluation_noises,
    noise_record,
    parse_noise,
    parse_noise_list,
    parse_sigma,
)


def flat(value: float, side: int = 256) -> np.ndarray:
    return np.full((side, side, 3), value, dtype=np.float32)


def correlation(first: np.ndarray, second: np.ndarray) -> float:
    return float(np.corrcoef(first.ravel(), second.ravel())[0, 1])


# --- specs ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("gaussian:25", GaussianNoise(25, 25)),
        ("gaussian:5-50", GaussianNoise(5, 50)),
        ("poisson-gaussian", PoissonGaussianNoise(1e-3, 2e-2, 0, 5)),
        ("poisson-gaussian:shot=0.01:read=2", PoissonGaussianNoise(0.01, 0.01, 2, 2)),
        ("camera", CameraNoise()),
        ("camera:low", CameraNoise(*CAMERA_STRENGTHS["low"])),
        ("camera:high:jpeg=none", CameraNoise(*CAMERA_STRENGTHS["high"], 0, 0)),
        ("camera:0.002-0.004:jpeg=90", CameraNoise(0.002, 0.004, 90, 90)),
        ("jpeg:90", JpegNoise(90, 90)),
        ("JPEG:70-95", JpegNoise(70, 95)),
    ],
)
def test_parse_noise(spec, expected):
    model = parse_noise(spec)
    assert model == expected
    assert parse_noise(model.spec) == model  # the spec a report records parses back to the same model


def test_parse_mixture_and_list():
    mixture = parse_noise("gaussian:0-55+camera")
    assert mixture == NoiseMixture((GaussianNoise(0, 55), CameraNoise()))
    assert parse_noise(mixture.spec) == mixture
    assert parse_noise_list("camera:low,camera:high") == [parse_noise("camera:low"), parse_noise("camera:high")]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("gaussian", "unknown noise"),
        ("gaussian:abc", "sigma 'abc' is not a number"),
        ("gaussian:50-5", "must be low-high"),
        ("gaussian:300", "0 <= min <= max <= 255"),
        ("speckle", "unknown noise"),
        ("camera:medium", "strength 'medium' is not a number"),
        ("camera:jpeg=101", "1 <= low <= high <= 100"),
        ("camera:low:low", "cannot read 'low'"),
        ("poisson-gaussian:gain=3", "cannot read 'gain=3'"),
        ("poisson-gaussian:shot=0", "0 < shot <= 1"),
        ("jpeg:0", "1 <= low <= high <= 100"),
        ("gaussian:25+", "empty"),
    ],
)
def test_bad_specs_are_one_line_usage_errors(spec, message):
    with pytest.raises(UsageError, match=message) as caught:
        parse_noise(spec)
    assert "\n" not in str(caught.value)
    assert f"--noise {spec.strip()!r}" in str(caught.value)


def test_unknown_spec_lists_the_valid_forms():
    with pytest.raises(UsageError, match="valid forms: gaussian:25, gaussian:5-50, poisson-gaussian"):
        parse_noise("salt-and-pepper")


def test_evaluation_noises():
    assert evaluation_noises(None, None) == [GaussianNoise(25, 25)]
    assert evaluation_noises("15,50", None) == [GaussianNoise(15, 15), GaussianNoise(50, 50)]
    assert evaluation_noises(None, "jpeg:90") == [JpegNoise(90, 90)]
    with pytest.raises(UsageError, match="not both"):
        evaluation_noises("25", "camera")


def test_records_carry_the_spec():
    assert noise_record(GaussianNoise(5, 50))["spec"] == "gaussian:5-50"
    record = noise_record(parse_noise("gaussian:25+jpeg:80"))
    assert record["spec"] == "gaussian:25+jpeg:80"
    assert [part["spec"] for part in record["components"]] == ["gaussian:25", "jpeg:80"]
    assert parse_noise("camera:low").known_sigma_255 is None
    assert GaussianNoise(15, 15).known_sigma_255 == 15 and GaussianNoise(5, 50).known_sigma_255 is None


def test_gaussian_spec_is_the_sigma_shorthand_with_the_same_numbers():
    clean = np.random.default_rng(0).random((32, 32, 3), dtype=np.float32)
    np.testing.assert_array_equal(
        parse_noise("gaussian:25").add_seeded(clean, 3, 1), parse_sigma("25").add_seeded(clean, 3, 1)
    )


# --- statistics against theory ------------------------------------------------------------------------------


@pytest.mark.parametrize("signal", [0.1, 0.4, 0.8])
def test_poisson_gaussian_mean_and_variance_follow_the_signal(signal):
    shot, read = 0.004, 3.0
    noisy = PoissonGaussianNoise(shot, shot, read, read).add_seeded(flat(signal), seed=0, index=0)
    noise = noisy.astype(np.float64) - signal
    expected_variance = shot * signal + (read / 255) ** 2
    assert abs(noise.mean()) < 0.002
    assert noise.var() == pytest.approx(expected_variance, rel=0.03)
    # shot noise is Poisson: the noisy values (without read noise) sit on a grid of step `shot`
    grid = PoissonGaussianNoise(shot, shot, 0, 0).add_seeded(flat(signal), seed=0, index=0)
    np.testing.assert_allclose(np.round(grid / shot) * shot, grid, atol=1e-6)


def test_camera_noise_grows_with_brightness_in_linear_light():
    model = CameraNoise(4e-3, 4e-3, 0, 0)
    spreads = []
    for signal in (0.1, 0.3, 0.7):
        noisy = model.add_seeded(flat(signal), seed=1, index=0)
        spreads.append(float((camera.srgb_to_linear(noisy) - camera.srgb_to_linear(flat(signal))).std()))
    assert spreads[0] < spreads[1] < spreads[2]
    assert spreads[2] > 2 * spreads[0]


def test_camera_noise_is_correlated_across_neighbours_and_colours():
    noisy = CameraNoise(4e-3, 4e-3, 0, 0).add_seeded(flat(0.5), seed=2, index=0)
    noise = noisy - 0.5
    horizontal = correlation(noise[:, :-1], noise[:, 1:])
    across_colours = correlation(noise[..., 0], noise[..., 1])
    assert horizontal > 0.2 and abs(across_colours) > 0.1
    white = GaussianNoise(10, 10, clip=False).add_seeded(flat(0.5), seed=2, index=0) - 0.5
    assert abs(correlation(white[:, :-1], white[:, 1:])) < 0.02  # the contrast: white noise is not
    assert abs(correlation(white[..., 0], white[..., 1])) < 0.02


def test_camera_noise_without_jpeg_is_8_bit_and_unbiased():
    noisy = CameraNoise(2e-3, 2e-3, 0, 0).add_seeded(flat(0.5), seed=3, index=0)
    np.testing.assert_allclose(noisy * 255, np.round(noisy * 255), atol=1e-4)
    assert abs(float(noisy.mean()) - 0.5) < 0.01


def test_camera_noise_with_jpeg_is_what_jpeg_gives():
    model = CameraNoise(2e-3, 2e-3, 80, 80)
    without_jpeg = CameraNoise(2e-3, 2e-3, 0, 0).add_seeded(flat(0.5, 64), seed=4, index=0)
    with_jpeg = model.add_seeded(flat(0.5, 64), seed=4, index=0)
    np.testing.assert_allclose(with_jpeg, camera.jpeg_round_trip(without_jpeg, 80), atol=1e-6)


def test_stronger_camera_noise_is_noisier():
    clean = np.random.default_rng(5).random((96, 96, 3), dtype=np.float32) * 0.6 + 0.2
    errors = [
        float(np.abs(parse_noise(f"camera:{s}:jpeg=none").add_seeded(clean, 0, 0) - clean).mean())
        for s in ("low", "high")
    ]
    assert errors[0] < errors[1]


def test_read_noise_follows_the_sensor_fit():
    rng = np.random.default_rng(0)
    levels = np.array([camera.shot_and_read_levels(rng, camera.SHOT_NOISE_RANGE) for _ in range(4000)])
    log_shot, log_read = np.log(levels[:, 0]), np.log(levels[:, 1])
    assert log_shot.min() >= np.log(camera.SHOT_NOISE_RANGE[0]) and log_shot.max() <= np.log(camera.SHOT_NOISE_RANGE[1])
    slope, intercept = np.polyfit(log_shot, log_read, 1)
    assert slope == pytest.approx(camera.READ_NOISE_SLOPE, abs=0.03)
    assert intercept == pytest.approx(camera.READ_NOISE_INTERCEPT, abs=0.2)
    assert np.std(log_read - slope * log_shot - intercept) == pytest.approx(camera.READ_NOISE_SPREAD, rel=0.1)


def test_jpeg_noise_is_a_jpeg_round_trip():
    clean = np.random.default_rng(6).random((48, 48, 3), dtype=np.float32)
    np.testing.assert_array_equal(JpegNoise(60, 60).add_seeded(clean, 0, 0), camera.jpeg_round_trip(clean, 60))
    assert not np.array_equal(camera.jpeg_round_trip(clean, 60), camera.jpeg_round_trip(clean, 95))


# --- camera pipeline steps ------------------------------------------------------------------------------------


def test_srgb_transfer_round_trips_and_matches_the_standard():
    values = np.linspace(0, 1, 1001, dtype=np.float32)
    np.testing.assert_allclose(camera.linear_to_srgb(camera.srgb_to_linear(values)), values, atol=1e-5)
    assert camera.srgb_to_linear(np.float32(0.5)) == pytest.approx(0.21404, abs=1e-5)  # IEC 61966-2-1
    assert camera.srgb_to_linear(np.float32(0.04)) == pytest.approx(0.04 / 12.92)


@pytest.mark.parametrize("phase", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_bayer_masks_hold_one_colour_per_pixel(phase):
    masks = camera.bayer_masks(6, 8, phase)
    assert (masks.sum(axis=-1) == 1).all()
    assert masks[..., 1].sum() == 2 * masks[..., 0].sum() == 2 * masks[..., 2].sum()
    assert masks[phase[0], phase[1], 0]  # red at the phase's corner


def test_demosaic_keeps_recorded_samples_and_is_exact_on_smooth_images():
    rng = np.random.default_rng(7)
    image = rng.random((16, 16, 3), dtype=np.float32)
    masks = camera.bayer_masks(16, 16, (1, 0))
    restored = camera.demosaic(camera.mosaic(image, masks), masks)
    np.testing.assert_allclose(restored[masks], image[masks], atol=1e-6)
    ramp = np.broadcast_to(np.linspace(0, 1, 16, dtype=np.float32)[None, :, None], (16, 16, 3)).copy()
    restored = camera.demosaic(camera.mosaic(ramp, masks), masks)
    np.testing.assert_allclose(restored[:, 1:-1], ramp[:, 1:-1], atol=1e-6)  # bilinear is exact on a ramp


# --- seeding and batches ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["poisson-gaussian", "camera", "jpeg:50-90", "gaussian:0-55+camera"])
def test_seeded_noise_depends_on_seed_and_index_alone(spec):
    model = parse_noise(spec)
    clean = np.random.default_rng(8).random((40, 40, 3), dtype=np.float32)
    first = model.add_seeded(clean, 1, 2)
    np.testing.assert_array_equal(first, model.add_seeded(clean.copy(), 1, 2))
    assert first.shape == clean.shape and first.dtype == np.float32
    assert first.min() >= 0 and first.max() <= 1
    others = [model.add_seeded(clean, 2, 2), model.add_seeded(clean, 1, 3)]
    assert all(not np.array_equal(first, other) for other in others) or spec.startswith("jpeg")


@pytest.mark.parametrize("spec", ["poisson-gaussian", "camera:high", "gaussian:0-55+camera"])
def test_batches_are_reproducible_from_the_generator(spec):
    model = parse_noise(spec)
    clean = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    first = model.add_to_batch(clean, torch.Generator().manual_seed(9))
    again = model.add_to_batch(clean, torch.Generator().manual_seed(9))
    other = model.add_to_batch(clean, torch.Generator().manual_seed(10))
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert not torch.equal(first, other)
    assert first.shape == clean.shape and first.dtype == clean.dtype
    assert not torch.equal(first[0], first[1] - clean[1] + clean[0])  # each sample has its own noise


def test_mixture_uses_every_component():
    mixture = parse_noise("gaussian:30+jpeg:10")
    clean = np.random.default_rng(11).random((32, 32, 3), dtype=np.float32)
    jpeg_like = [np.array_equal(mixture.add_seeded(clean, 0, i), camera.jpeg_round_trip(clean, 10)) for i in range(40)]
    assert 8 < sum(jpeg_like) < 32
    batch = torch.from_numpy(np.stack([clean] * 40)).permute(0, 3, 1, 2)
    noisy = mixture.add_to_batch(batch, torch.Generator().manual_seed(0))
    jpeg = torch.from_numpy(camera.jpeg_round_trip(clean, 10)).permute(2, 0, 1)
    chosen_jpeg = sum(bool(torch.allclose(sample, jpeg)) for sample in noisy)
    assert 8 < chosen_jpeg < 32


# --- the noise-level estimator on batches --------------------------------------------------------------------


def test_batch_estimator_matches_the_image_estimator():
    rng = np.random.default_rng(12)
    images = [
        rng.random((70, 1100, 3), dtype=np.float32),
        flat(0.5, 64) + rng.normal(0, 0.1, (64, 64, 3)).astype(np.float32),
    ]
    for image in images:
        batch = torch.from_numpy(image).permute(2, 0, 1)[None]
        assert float(estimate_noise_sigma_batch(batch)[0]) == pytest.approx(estimate_noise_sigma(image), rel=1e-4)
    assert estimate_noise_sigma_batch(torch.zeros(2, 3, 1, 5)).tolist() == [0.0, 0.0]
