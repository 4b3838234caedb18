"""Evaluation: every method sees the same seeded noise; paired differences; checkpoints end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cae_denoise.data.sources import NamedImage, load_source, make_split
from cae_denoise.errors import CaeDenoiseError
from cae_denoise.evaluation.evaluate import (
    NOISY,
    MethodScores,
    compare_with_reference,
    evaluate_methods,
    evaluate_specs,
    load_test_images,
)
from cae_denoise.evaluation.methods import leakage, resolve_methods
from cae_denoise.evaluation.metrics import METRIC_NAMES, image_metrics
from cae_denoise.io.reports import write_report
from cae_denoise.models.checkpoint import load_model
from cae_denoise.noise.models import GaussianNoise


@pytest.fixture(scope="module")
def images(image_folder) -> list[NamedImage]:
    return load_source(image_folder).images[:3]


def test_identity_method_equals_noisy(images):
    result = evaluate_methods({"identity": lambda noisy: noisy}, images, sigma_255=25, seed=3)
    assert list(result.methods) == [NOISY, "identity"]
    assert result.methods["identity"].per_image == result.methods[NOISY].per_image
    assert result.images == [image.name for image in images]
    for index, image in enumerate(images):
        noisy = GaussianNoise(25, 25).add_seeded(image.pixels, 3, index)
        assert result.methods[NOISY].per_image[index] == image_metrics(image.pixels, noisy)


def test_every_method_sees_the_same_noisy_pixels(images):
    seen: dict[str, list[np.ndarray]] = {"a": [], "b": []}

    def recorder(name: str):
        def method(noisy: np.ndarray) -> np.ndarray:
            seen[name].append(noisy.copy())
            return np.clip(noisy * 0.5 + 0.25, 0, 1)

        return method

    evaluate_methods({"a": recorder("a"), "b": recorder("b")}, images, sigma_255=50, seed=11)
    assert len(seen["a"]) == len(images)
    for index, (x, y) in enumerate(zip(seen["a"], seen["b"], strict=True)):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, GaussianNoise(50, 50).add_seeded(images[index].pixels, 11, index))


def test_a_better_method_scores_better(images):
    noise = GaussianNoise(25, 25)
    clean_of = {noise.add_seeded(image.pixels, 0, i).tobytes(): image.pixels for i, image in enumerate(images)}

    def halfway(noisy: np.ndarray) -> np.ndarray:  # halves the error of every pixel
        return 0.5 * noisy + 0.5 * clean_of[noisy.tobytes()]

    result = evaluate_methods({"halfway": halfway}, images, sigma_255=25, seed=0)
    for metric in ("psnr", "ssim"):
        assert result.methods["halfway"].mean[metric] > result.methods[NOISY].mean[metric]
    for ours, noisy in zip(result.methods["halfway"].per_image, result.methods[NOISY].per_image, strict=True):
        assert ours["mse"] == pytest.approx(noisy["mse"] / 4, rel=1e-4)
        assert ours["psnr"] == pytest.approx(noisy["psnr"] + 10 * np.log10(4), abs=1e-3)


def test_evaluation_to_dict(images):
    result = evaluate_methods({"identity": lambda noisy: noisy}, images, sigma_255=15, seed=2)
    body = result.to_dict()
    assert body["noise"] == {"kind": "gaussian", "sigma_255": 15, "spec": "gaussian:15", "clip": True, "seed": 2}
    assert [row["image"] for row in body["methods"]["identity"]["per_image"]] == result.images
    assert body["methods"]["identity"]["mean"] == result.methods["identity"].mean
    assert set(body["conventions"]) == {"ssim", "psnr"}


def test_no_images_is_an_error():
    with pytest.raises(CaeDenoiseError, match="no test images"):
        evaluate_methods({}, [], sigma_255=25, seed=0)


def _paired(reference: MethodScores, other: MethodScores) -> dict:
    return compare_with_reference(reference, other, label="other", reference_label="reference")


def test_compare_with_itself_claims_nothing(images):
    scores = evaluate_methods({}, images, sigma_255=25, seed=0).methods[NOISY]
    summary = _paired(scores, scores)
    assert set(summary) == set(METRIC_NAMES)
    for row in summary.values():
        assert row["difference"] == 0.0
        assert row["per_unit"] == [0.0] * len(images)
        assert (row["wins"], row["ties"], row["losses"]) == (0, len(images), 0)
        assert row["ci95"] is None and row["wilcoxon_p"] is None
        assert row["outcome"] == "too few units to test"
        assert row["verdict"].endswith("every difference is 0, nothing to test")


REFERENCE_ROWS = [
    {"ssim": 0.5, "mse": 0.02, "psnr": 17.0},
    {"ssim": 0.6, "mse": 0.01, "psnr": 20.0},
    {"ssim": 0.7, "mse": 0.01, "psnr": 20.0},
]
OTHER_ROWS = [
    {"ssim": 0.6, "mse": 0.01, "psnr": 20.0},
    {"ssim": 0.6, "mse": 0.02, "psnr": 17.0},
    {"ssim": 0.9, "mse": 0.005, "psnr": 23.0},
]


def test_compare_with_reference_against_numpy():
    summary = _paired(MethodScores(REFERENCE_ROWS), MethodScores(OTHER_ROWS))
    for metric in METRIC_NAMES:
        ref = np.array([row[metric] for row in REFERENCE_ROWS])
        new = np.array([row[metric] for row in OTHER_ROWS])
        row = summary[metric]
        assert row["per_unit"] == pytest.approx((new - ref).tolist())
        assert row["reference_mean"] == pytest.approx(ref.mean()) and row["mean"] == pytest.approx(new.mean())
        assert row["difference"] == pytest.approx(new.mean() - ref.mean())
        assert row["relative_percent"] == pytest.approx(100 * (new.mean() - ref.mean()) / ref.mean())
        assert row["outcome"] == "too few units to test" and row["ci95"] is None  # 3 images: description only
    # higher is better for SSIM and PSNR, lower for MSE; a win is "other" better
    assert (summary["ssim"]["wins"], summary["ssim"]["ties"], summary["ssim"]["losses"]) == (2, 1, 0)
    assert (summary["mse"]["wins"], summary["mse"]["ties"], summary["mse"]["losses"]) == (2, 0, 1)
    assert (summary["psnr"]["wins"], summary["psnr"]["ties"], summary["psnr"]["losses"]) == (2, 0, 1)
    assert summary["mse"]["higher_is_better"] is False and summary["ssim"]["higher_is_better"] is True


def test_compare_with_reference_names_the_winner_when_the_test_can_decide():
    reference = MethodScores([{"ssim": 0.5, "mse": 0.02, "psnr": 17.0 + i / 10} for i in range(12)])
    better = MethodScores([{"ssim": 0.6, "mse": 0.01, "psnr": 20.0 + i / 7} for i in range(12)])
    summary = compare_with_reference(reference, better, label="leaky", reference_label="baseline")
    for metric in METRIC_NAMES:
        assert summary[metric]["outcome"] == "better"
        assert summary[metric]["verdict"].startswith(f"{metric.upper()}: leaky better")
        assert "in 12/12 images" in summary[metric]["verdict"]
        assert summary[metric]["wilcoxon_p"] < 0.01
    reverse = compare_with_reference(better, reference, label="baseline", reference_label="leaky")
    assert reverse["psnr"]["outcome"] == "worse"
    assert reverse["psnr"]["verdict"].startswith("PSNR: leaky better")


# --- end to end on checkpoints ----------------------------------------------------------------------------


def test_evaluate_two_checkpoints(trained_run, baseline_run, image_folder):
    body = evaluate_specs(
        [str(trained_run.best), str(baseline_run.best)], data=str(image_folder), sigmas_255=[15, 25], seed=0
    )
    source = load_source(image_folder)
    test_names = list(make_split(source).test)
    assert body["images"] == test_names
    assert list(body["methods"]) == ["leaky", "baseline"]
    assert body["methods"]["baseline"]["checkpoint"] == str(baseline_run.best)
    assert body["methods"]["leaky"]["trained_on"] == str(image_folder)
    assert all(info["test_images_seen_in_training"] == [] for info in body["methods"].values())
    assert [level["noise"]["sigma_255"] for level in body["levels"]] == [15, 25]
    for level in body["levels"]:
        assert level["reference"] == "leaky"
        assert set(level["methods"]) == {NOISY, "leaky", "baseline"}
        assert list(level["differences"]) == ["baseline"]
        for metric in METRIC_NAMES:
            row = level["differences"]["baseline"][metric]
            ref = level["methods"]["leaky"]["mean"][metric]
            new = level["methods"]["baseline"]["mean"][metric]
            assert row["reference_mean"] == pytest.approx(ref)
            assert row["difference"] == pytest.approx(new - ref)
            assert row["wins"] + row["ties"] + row["losses"] == len(test_names)
        # the noisy floor is what the seeded noise alone gives
        sigma = level["noise"]["sigma_255"]
        for index, name in enumerate(test_names):
            pixels = source.by_names([name])[0].pixels
            expected = image_metrics(pixels, GaussianNoise(sigma, sigma).add_seeded(pixels, 0, index))
            got = level["methods"][NOISY]["per_image"][index]
            assert got["image"] == name
            assert {k: got[k] for k in METRIC_NAMES} == pytest.approx(expected)
    low, high = (level["methods"][NOISY]["mean"]["psnr"] for level in body["levels"])
    assert low > high  # more noise, lower PSNR
    # and the whole body is writable as a report
    report = json.loads(write_report(image_folder.parent / "cmp.json", "compare", body, overwrite=True).read_text())
    assert report["kind"] == "compare" and report["images"] == test_names


def test_evaluate_flags_training_images(trained_run, image_folder):
    body = evaluate_specs([str(trained_run.best)], data=str(image_folder), split="train")
    seen = body["methods"]["leaky"]["test_images_seen_in_training"]
    assert seen == body["images"] and len(seen) > 0
    assert body["levels"][0]["differences"] == {}


def test_same_architecture_twice_gets_distinct_labels(trained_run, tmp_path):
    copy = tmp_path / "copy.pt"
    copy.write_bytes(trained_run.best.read_bytes())
    methods = resolve_methods([str(trained_run.best), str(copy)])
    assert [m.label for m in methods] == ["leaky", str(copy)]


def test_evaluate_rejects_bad_sigma_before_loading(tmp_path):
    with pytest.raises(CaeDenoiseError, match="--sigma 300"):
        evaluate_specs([str(tmp_path / "missing.pt")], sigmas_255=[25, 300])
    with pytest.raises(CaeDenoiseError, match=r"missing\.pt: (checkpoint file not found|no such checkpoint file)"):
        evaluate_specs([str(tmp_path / "missing.pt")])


def test_negative_seed_is_a_user_error(images):
    with pytest.raises(CaeDenoiseError, match="seed"):
        evaluate_methods({}, images, sigma_255=25, seed=-1)


def test_load_test_images_and_leakage(trained_run, image_folder):
    images, skipped = load_test_images(str(image_folder), "all", resize=24)
    assert skipped == []
    assert len(images) == 6 and all(image.pixels.shape == (24, 24, 3) for image in images)
    loaded = load_model(trained_run.best)
    trained_on = set(loaded.payload["split"]["train"])
    assert set(leakage(loaded, str(image_folder), images)) == trained_on
    assert leakage(loaded, "builtin", images) == []


def test_three_copies_get_three_labels(trained_run):
    methods = resolve_methods([str(trained_run.best)] * 3)
    assert len({m.label for m in methods}) == 3


def test_leakage_is_found_whatever_the_spelling_of_the_folder(trained_run, image_folder):
    body = evaluate_specs([str(trained_run.best)], data=str(image_folder) + "/", split="train")
    assert body["methods"]["leaky"]["test_images_seen_in_training"] == body["images"]
