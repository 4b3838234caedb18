"""Noise models beyond white Gaussian noise: their statistics against theory, seeding, specs and bad specs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from cae_denoise.data.sources import load_builtin
from cae_denoise.errors import UsageError
from cae_denoise.noise import camera, jpeg
from cae_denoise.noise.estimate import estimate_noise_sigma, estimate_noise_sigma_batch
from cae_denoise.noise.models import (
    CAMERA_STRENGTHS,
    CameraNoise,
    GaussianNoise,
    GreyNoise,
    JpegNoise,
    NoiseMixture,
    PoissonGaussianNoise,
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
        ("camera:1e-4-2.5E-2:jpeg=none", CameraNoise(1e-4, 0.025, 0, 0)),
        ("poisson-gaussian:shot=1e-3:read=.5", PoissonGaussianNoise(1e-3, 1e-3, 0.5, 0.5)),
        ("camera:high:jpeg=60-100:demosaic=any:matrix=none", CameraNoise(3e-3, 1.2e-2, 60, 100, "any", "none")),
        ("camera:demosaic=mhc", CameraNoise(demosaic="mhc")),
        ("grey:gaussian:20", GreyNoise(GaussianNoise(20, 20))),
        ("grey:camera:low", GreyNoise(CameraNoise(*CAMERA_STRENGTHS["low"]))),
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


def test_weighted_mixture_draws_components_in_proportion():
    mixture = parse_noise("3*gaussian:30+jpeg:10")
    assert mixture == NoiseMixture((GaussianNoise(30, 30), JpegNoise(10, 10)), (3.0, 1.0))
    assert parse_noise(mixture.spec) == mixture and mixture.spec == "3*gaussian:30+jpeg:10"
    assert parse_noise("2*gaussian:30+2*jpeg:10") == parse_noise("gaussian:30+jpeg:10")  # equal weights: uniform
    clean = np.full((16, 16, 3), 0.5, dtype=np.float32)
    compressed = jpeg.round_trip(clean, 10)
    seeded = [np.array_equal(mixture.add_seeded(clean, 0, i), compressed) for i in range(400)]
    assert 60 < sum(seeded) < 140  # a quarter of 400
    batch = torch.full((400, 3, 16, 16), 0.5)
    noisy = mixture.add_to_batch(batch, torch.Generator().manual_seed(0))
    smooth = sum(bool((sample - 0.5).abs().max() < 0.05) for sample in noisy)  # JPEG of a flat image stays flat
    assert 60 < smooth < 140
    assert noise_record(mixture)["weights"] == [3.0, 1.0]


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
        ("gaussian:1e", "sigma '1e' is not a number"),
        ("gaussian:-5", "sigma '-5' is not a number"),
        ("camera:demosaic=ahd", "demosaic='ahd'; choose bilinear, mhc, any"),
        ("camera:matrix=identity", "matrix='identity'; choose random, none, any"),
        ("0*gaussian:25+camera", "weights must be positive"),
        ("grey:", "unknown noise"),
    ],
)
def test_bad_specs_are_one_line_usage_errors(spec, message):
    with pytest.raises(UsageError, match=message) as caught:
        parse_noise(spec)
    assert "\n" not in str(caught.value)
    assert f"--noise {spec.strip()!r}" in str(caught.value)


def test_a_huge_bad_spec_is_quoted_short():
    with pytest.raises(UsageError) as caught:
        parse_noise("gaussian:" + "x" * 100_000)
    assert len(str(caught.value)) < 800 and "(100,009 characters)" in str(caught.value)


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


def linear(image: np.ndarray) -> np.ndarray:
    return camera.srgb_to_linear(torch.from_numpy(image)).numpy()


def test_camera_noise_grows_with_brightness_in_linear_light():
    model = CameraNoise(4e-3, 4e-3, 0, 0)
    spreads = []
    for signal in (0.1, 0.3, 0.7):
        noisy = model.add_seeded(flat(signal), seed=1, index=0)
        spreads.append(float((linear(noisy) - linear(flat(signal))).std()))
    assert spreads[0] < spreads[1] < spreads[2]
    assert spreads[2] > 2 * spreads[0]


@pytest.mark.parametrize("demosaic", ["bilinear", "mhc"])
def test_camera_noise_is_correlated_across_neighbours_and_colours(demosaic):
    noisy = CameraNoise(4e-3, 4e-3, 0, 0, demosaic=demosaic).add_seeded(flat(0.5), seed=2, index=0)
    noise = noisy - 0.5
    horizontal = correlation(noise[:, :-1], noise[:, 1:])
    across_colours = correlation(noise[..., 0], noise[..., 1])
    assert horizontal > 0.1 and abs(across_colours) > 0.05
    white = GaussianNoise(10, 10, clip=False).add_seeded(flat(0.5), seed=2, index=0) - 0.5
    assert abs(correlation(white[:, :-1], white[:, 1:])) < 0.02  # the contrast: white noise is not
    assert abs(correlation(white[..., 0], white[..., 1])) < 0.02


def test_camera_noise_without_a_colour_matrix_keeps_red_and_blue_apart():
    """Without colour correction red and blue noise come from different Bayer sites, which bilinear
    demosaicking never mixes: their correlation vanishes, while the colour matrix mixes them."""
    plain = CameraNoise(4e-3, 4e-3, 0, 0, matrix="none").add_seeded(flat(0.5), seed=2, index=0) - 0.5
    mixed = CameraNoise(4e-3, 4e-3, 0, 0).add_seeded(flat(0.5), seed=2, index=0) - 0.5
    assert abs(correlation(plain[..., 0], plain[..., 2])) < 0.03
    assert abs(correlation(mixed[..., 0], mixed[..., 2])) > 0.1


def test_camera_noise_without_jpeg_is_8_bit_and_unbiased():
    noisy = CameraNoise(2e-3, 2e-3, 0, 0).add_seeded(flat(0.5), seed=3, index=0)
    np.testing.assert_allclose(noisy * 255, np.round(noisy * 255), atol=1e-4)
    assert abs(float(noisy.mean()) - 0.5) < 0.01


def test_camera_noise_at_a_vanishing_level_leaves_the_photo_as_it_is():
    """Every step but the noise is undone exactly: unprocessing and processing again is the identity."""
    clean = np.round(np.random.default_rng(4).random((40, 36, 3)) * 255).astype(np.float32) / 255
    for matrix in ("random", "none"):
        noisy = CameraNoise(1e-12, 1e-12, 0, 0, "mhc", matrix).add_seeded(clean, seed=0, index=0)
        np.testing.assert_allclose(noisy, clean, atol=1.01 / 255)
        assert float(np.abs(noisy - clean).mean()) < 0.1 / 255


def test_camera_noise_with_jpeg_is_what_jpeg_gives():
    model = CameraNoise(2e-3, 2e-3, 80, 80)
    without_jpeg = CameraNoise(2e-3, 2e-3, 0, 0).add_seeded(flat(0.5, 64), seed=4, index=0)
    with_jpeg = model.add_seeded(flat(0.5, 64), seed=4, index=0)
    np.testing.assert_allclose(with_jpeg, jpeg.round_trip(without_jpeg, 80), atol=1e-6)


def test_stronger_camera_noise_is_noisier():
    clean = np.random.default_rng(5).random((96, 96, 3), dtype=np.float32) * 0.6 + 0.2
    errors = [
        float(np.abs(parse_noise(f"camera:{s}:jpeg=none").add_seeded(clean, 0, 0) - clean).mean())
        for s in ("low", "high")
    ]
    assert errors[0] < errors[1]


def test_read_noise_follows_the_sensor_fit():
    shot, read = camera.shot_and_read_levels(4000, camera.SHOT_NOISE_RANGE, torch.Generator().manual_seed(0))
    log_shot, log_read = np.log(shot.numpy().astype(np.float64)), np.log(read.numpy().astype(np.float64))
    low, high = np.log(camera.SHOT_NOISE_RANGE)
    assert log_shot.min() >= low - 1e-6 and log_shot.max() <= high + 1e-6
    slope, intercept = np.polyfit(log_shot, log_read, 1)
    assert slope == pytest.approx(camera.READ_NOISE_SLOPE, abs=0.03)
    assert intercept == pytest.approx(camera.READ_NOISE_INTERCEPT, abs=0.2)
    assert np.std(log_read - slope * log_shot - intercept) == pytest.approx(camera.READ_NOISE_SPREAD, rel=0.1)


def test_jpeg_noise_is_a_jpeg_round_trip():
    clean = np.random.default_rng(6).random((48, 48, 3), dtype=np.float32)
    np.testing.assert_array_equal(JpegNoise(60, 60).add_seeded(clean, 0, 0), jpeg.round_trip(clean, 60))
    assert not np.array_equal(jpeg.round_trip(clean, 60), jpeg.round_trip(clean, 95))


def test_grey_noise_is_the_same_in_every_channel():
    clean = np.random.default_rng(7).random((33, 41, 3), dtype=np.float32) * 0.1 + 0.45  # far from clipping
    for spec in ("grey:gaussian:20", "grey:camera:low:jpeg=none"):
        model = parse_noise(spec)
        noise = model.add_seeded(clean, 0, 5) - clean
        np.testing.assert_allclose(noise[..., 0], noise[..., 1], atol=1e-6)
        np.testing.assert_allclose(noise[..., 0], noise[..., 2], atol=1e-6)
        batch = torch.from_numpy(clean.transpose(2, 0, 1).copy())[None].repeat(3, 1, 1, 1)
        noise = model.add_to_batch(batch, torch.Generator().manual_seed(0)) - batch
        torch.testing.assert_close(noise[:, 0], noise[:, 2])
    gaussian = parse_noise("grey:gaussian:20").add_seeded(clean, 0, 5) - clean
    assert float(gaussian.std()) * 255 == pytest.approx(20, rel=0.05)  # the level of the noise it takes


# --- camera pipeline steps ------------------------------------------------------------------------------------


def test_srgb_transfer_round_trips_and_matches_the_standard():
    values = torch.linspace(0, 1, 1001)
    torch.testing.assert_close(camera.linear_to_srgb(camera.srgb_to_linear(values)), values, atol=1e-5, rtol=0)
    assert float(camera.srgb_to_linear(torch.tensor(0.5))) == pytest.approx(0.21404, abs=1e-5)  # IEC 61966-2-1
    assert float(camera.srgb_to_linear(torch.tensor(0.04))) == pytest.approx(0.04 / 12.92)


@pytest.mark.parametrize("phase", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_bayer_masks_hold_one_colour_per_pixel(phase):
    sites = camera.bayer_masks(6, 8, torch.tensor([phase]))
    colours = camera.colour_masks(sites)[0]
    assert (sites[0].sum(dim=0) == 1).all() and (colours.sum(dim=0) == 1).all()
    assert colours[1].sum() == 2 * colours[0].sum() == 2 * colours[2].sum()
    assert colours[0, phase[0], phase[1]]  # red at the phase's corner
    assert sites[0, 1, phase[0], 1 - phase[1]]  # green in red's row beside it


def test_colour_corrections_keep_grey_and_can_be_left_out():
    generator = torch.Generator().manual_seed(0)
    matrices = camera.colour_corrections(6, generator, identity=torch.tensor([False] * 3 + [True] * 3))
    torch.testing.assert_close(matrices.sum(dim=2), torch.ones(6, 3))
    torch.testing.assert_close(matrices[3:], torch.eye(3).expand(3, 3, 3))
    assert (matrices[:3].diagonal(dim1=1, dim2=2) > 1.2).all()


@pytest.mark.parametrize("method", ["bilinear", "mhc"])
def test_demosaic_keeps_recorded_samples_and_is_exact_on_smooth_images(method):
    generator = torch.Generator().manual_seed(7)
    image = torch.rand(2, 3, 16, 18, generator=generator)
    sites = camera.bayer_masks(16, 18, torch.tensor([[1, 0], [0, 1]]))
    recorded = camera.colour_masks(sites)
    restored = camera.demosaic(camera.mosaic(image, sites), sites, method)
    torch.testing.assert_close(restored[recorded], image[recorded], atol=1e-6, rtol=0)
    ramp = torch.linspace(0, 1, 18).expand(2, 3, 16, 18).contiguous()
    restored = camera.demosaic(camera.mosaic(ramp, sites), sites, method)
    inside = (slice(None), slice(None), slice(2, -2), slice(2, -2))
    torch.testing.assert_close(restored[inside], ramp[inside], atol=1e-5, rtol=0)  # exact on a ramp


def test_malvar_he_cutler_recovers_a_photo_better_than_bilinear():
    """Its gradient correction is the point of it: on a photo it is several dB closer to the truth (Malvar
    et al. report about 5 dB on Kodak's photos)."""
    photo = torch.from_numpy(load_builtin(["astronaut"])[0].pixels[:160, 200:360].transpose(2, 0, 1).copy())[None]
    sites = camera.bayer_masks(160, 160, torch.tensor([[1, 1]]))
    raw = camera.mosaic(photo, sites)
    scores = {
        method: peak_signal_noise_ratio(photo.numpy(), camera.demosaic(raw, sites, method).numpy(), data_range=1.0)
        for method in camera.DEMOSAICKERS
    }
    assert scores["mhc"] > scores["bilinear"] + 3


# --- JPEG: the codec and its simulation on the training device -----------------------------------------------


@pytest.mark.parametrize("quality", [40, 75, 95])
def test_simulated_jpeg_is_close_to_the_real_codec(quality):
    photo = load_builtin(["astronaut"])[0].pixels[100:213, 150:279]  # odd sizes: partial blocks
    real = jpeg.round_trip(photo, quality)
    simulated = jpeg.simulate(torch.from_numpy(photo.transpose(2, 0, 1).copy())[None], torch.tensor([quality]))
    simulated = simulated[0].permute(1, 2, 0).numpy()
    assert simulated.shape == photo.shape
    assert peak_signal_noise_ratio(real, simulated, data_range=1.0) > 40  # the two decoders agree closely
    assert peak_signal_noise_ratio(photo, simulated, data_range=1.0) == pytest.approx(
        peak_signal_noise_ratio(photo, real, data_range=1.0), abs=0.3
    )  # and the artefacts are as strong


def test_simulated_jpeg_quality_tables_follow_libjpeg():
    luminance, chrominance = jpeg.quantisation_tables(torch.tensor([50, 75, 100, 10]))
    assert luminance[0, 0, 0] == 16 and chrominance[0, 0, 0] == 17  # quality 50 is Annex K's table
    assert luminance[1, 0, 0] == 8 and luminance[2].max() == 1  # 200 - 2q percent; q100 is all ones
    assert luminance[3, 7, 7] == 255  # 5000 / q percent, clamped to baseline's 255


def test_simulated_jpeg_compresses_each_sample_at_its_own_quality():
    batch = torch.from_numpy(load_builtin(["astronaut"])[0].pixels[:24, 200:224].transpose(2, 0, 1).copy())[None]
    both = jpeg.simulate(batch[:1].repeat(4, 1, 1, 1), torch.tensor([30, 30, 95, 95]))
    torch.testing.assert_close(both[0], both[1])
    assert float((both[0] - batch[0]).abs().mean()) > 2 * float((both[2] - batch[0]).abs().mean())


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
    jpeg_like = [np.array_equal(mixture.add_seeded(clean, 0, i), jpeg.round_trip(clean, 10)) for i in range(40)]
    assert 8 < sum(jpeg_like) < 32
    batch = torch.from_numpy(np.stack([clean] * 40)).permute(0, 3, 1, 2)
    noisy = mixture.add_to_batch(batch, torch.Generator().manual_seed(0))
    compressed = jpeg.round_trip_batch(batch[:1], torch.tensor([10]))[0]  # the real codec on the CPU
    chosen_jpeg = sum(bool(torch.allclose(sample, compressed)) for sample in noisy)
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


@pytest.mark.parametrize("spec", ["camera:high:jpeg=60-100:demosaic=any:matrix=any", "jpeg:50-90"])
def test_the_device_path_simulates_what_the_codec_gives(spec):
    """Training on a GPU compresses with ``jpeg.simulate``: the same random draws give almost the same noise."""
    model = parse_noise(spec)
    photo = load_builtin(["coffee"])[0].pixels[:64, :80]
    batch = torch.from_numpy(photo.transpose(2, 0, 1).copy())[None].repeat(4, 1, 1, 1)
    simulated = model.add(batch, torch.Generator().manual_seed(3), jpeg.simulate)
    real = model.add(batch, torch.Generator().manual_seed(3), jpeg.round_trip_batch)
    assert simulated.shape == batch.shape and simulated.dtype == batch.dtype
    assert peak_signal_noise_ratio(real.numpy(), simulated.numpy(), data_range=1.0) > 40
