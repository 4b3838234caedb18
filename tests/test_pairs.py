"""Real noisy/clean pairs: matching by file name, skipped files, archives, training and scoring on pairs."""

from __future__ import annotations

import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import save_png, texture, tiny_config, to_uint8
from PIL import Image
from typer.testing import CliRunner

from cae_denoise.cli.app import app
from cae_denoise.data.pairs import load_pairs, match_key
from cae_denoise.errors import CaeDenoiseError, UsageError
from cae_denoise.evaluation.evaluate import NOISY, evaluate_specs
from cae_denoise.evaluation.metrics import image_metrics
from cae_denoise.noise.models import GaussianNoise
from cae_denoise.training.loop import train

NAMES = ("a.png", "b.png", "c.png", "d.png", "sub/e.png", "sub/f.png", "g.png", "h.png")


def _noisy_of(clean: np.ndarray, index: int) -> np.ndarray:
    return GaussianNoise(25, 25).add_seeded(clean, 7, index)


@pytest.fixture(scope="module")
def pair_folders(tmp_path_factory) -> tuple[Path, Path]:
    """Eight clean textures and their noisy captures; ``d`` is a JPEG on the noisy side (extension differs)."""
    root = tmp_path_factory.mktemp("pairs")
    for index, name in enumerate(NAMES):
        clean = texture(40, 44, index)
        save_png(root / "clean" / name, clean)
        noisy = root / "noisy" / name
        if name == "d.png":
            noisy.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(to_uint8(_noisy_of(clean, index))).save(noisy.with_suffix(".jpg"), quality=98)
        else:
            save_png(noisy, _noisy_of(clean, index))
    return root / "clean", root / "noisy"


def test_match_key_ignores_only_the_extension():
    assert match_key("sub/x.png") == match_key("sub/x.JPG") == "sub/x"
    assert match_key("sub/x.png") != match_key("other/x.png")


def test_files_pair_by_relative_path_whatever_the_extension(pair_folders):
    clean, noisy = pair_folders
    paired = load_pairs(str(clean), str(noisy))
    assert [pair.name for pair in paired.pairs] == sorted(NAMES)
    assert paired.skipped == []
    for pair in paired.pairs:
        reference = np.asarray(Image.open(clean / pair.name), dtype=np.float32) / 255
        np.testing.assert_array_equal(pair.clean, reference)
        assert pair.noisy.shape == pair.clean.shape and not np.array_equal(pair.noisy, pair.clean)


def test_unmatched_ambiguous_and_mismatched_files_are_skipped_with_reasons(pair_folders, tmp_path):
    clean, noisy = pair_folders
    for side in ("clean", "noisy"):
        for path in (clean if side == "clean" else noisy).rglob("*"):
            if path.is_file():
                target = tmp_path / side / path.relative_to(clean if side == "clean" else noisy)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
    save_png(tmp_path / "clean" / "only_clean.png", texture(20, 20, 30))
    save_png(tmp_path / "noisy" / "only_noisy.png", texture(20, 20, 31))
    save_png(tmp_path / "noisy" / "a.webp.png", texture(20, 20, 32))  # a.webp, not a: unmatched
    save_png(tmp_path / "clean" / "g.tif", texture(40, 44, 33))  # g.png and g.tif: which one is meant?
    save_png(tmp_path / "noisy" / "h.png", texture(30, 44, 34))  # h: 44x30 noisy for a 44x40 clean
    paired = load_pairs(str(tmp_path / "clean"), str(tmp_path / "noisy"))
    reasons = dict(paired.skipped)
    clean_side, noisy_side = str(tmp_path / "clean"), str(tmp_path / "noisy")
    assert reasons[f"{clean_side}:only_clean.png"] == f"no noisy counterpart in {noisy_side}"
    assert reasons[f"{noisy_side}:only_noisy.png"] == f"no clean counterpart in {clean_side}"
    assert reasons[f"{noisy_side}:a.webp.png"] == f"no clean counterpart in {clean_side}"
    assert (
        reasons[f"{clean_side}:g.png"]
        == reasons[f"{clean_side}:g.tif"]
        == "ambiguous: g.png and g.tif match the same name"
    )
    assert reasons[f"{clean_side}:h.png"] == f"size 44x40 differs from its noisy counterpart {noisy_side}:h.png (44x30)"
    assert [pair.name for pair in paired.pairs] == ["a.png", "b.png", "c.png", "d.png", "sub/e.png", "sub/f.png"]


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_archives_work_on_either_side(pair_folders, tmp_path, kind):
    clean, noisy = pair_folders
    archive = tmp_path / ("noisy.zip" if kind == "zip" else "noisy.tar.gz")
    files = [path for path in sorted(noisy.rglob("*")) if path.is_file()]
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as bundle:
            for path in files:
                bundle.write(path, path.relative_to(noisy).as_posix())
    else:
        with tarfile.open(archive, "w:gz") as bundle:
            for path in files:
                bundle.add(path, path.relative_to(noisy).as_posix())
    from_folder, from_archive = load_pairs(str(clean), str(noisy)), load_pairs(str(clean), str(archive))
    assert [p.name for p in from_archive.pairs] == [p.name for p in from_folder.pairs]
    for a, b in zip(from_folder.pairs, from_archive.pairs, strict=True):
        np.testing.assert_array_equal(a.noisy, b.noisy)


def test_no_pairs_and_builtin_are_errors(pair_folders, tmp_path):
    clean, _ = pair_folders
    save_png(tmp_path / "other" / "zzz.png", texture(20, 20, 1))
    with pytest.raises(CaeDenoiseError, match=r"no usable file pairs \(same relative path, any extension\)"):
        load_pairs(str(clean), str(tmp_path / "other"))
    with pytest.raises(UsageError, match="built-in photos have no noisy captures"):
        load_pairs("builtin", str(clean))


def test_evaluation_on_pairs_adds_no_noise(pair_folders, checkpoint):
    clean, noisy = pair_folders
    body = evaluate_specs([str(checkpoint), "nlm"], data=str(clean), noisy_data=str(noisy), split="all")
    [level] = body["levels"]
    assert level["noise"] == {"kind": "real noisy/clean pairs", "noisy_data": str(noisy)}
    paired = {p.name: p for p in load_pairs(str(clean), str(noisy)).pairs}
    for row in level["methods"][NOISY]["per_image"]:
        pair = paired[row["image"]]
        expected = image_metrics(pair.clean, pair.noisy)
        assert {k: row[k] for k in expected} == pytest.approx(expected)  # the noisy files as they are
    assert level["methods"]["nlm"]["mean"]["psnr"] > level["methods"][NOISY]["mean"]["psnr"] + 3
    assert body["methods"]["nlm"]["kind"] == "classical" and len(body["images"]) == len(NAMES)


def test_training_on_pairs_crops_both_sides_alike(pair_folders, tmp_path):
    clean, noisy = pair_folders
    config = tiny_config(clean, tmp_path / "run", noisy_data=str(noisy))
    assert config.kind == "pairs"
    result = train(config)
    report = json.loads(result.report.read_text())
    assert report["training"]["kind"] == "pairs" and report["training"]["pairs"] == len(NAMES)
    assert report["noise"] is None and "val_psnr" in report["history"][0]
    checkpoint = torch.load(result.best, weights_only=True)
    assert checkpoint["training"]["noisy_data"] == str(noisy)


def test_paired_batches_hold_aligned_crops(pair_folders):
    from cae_denoise.data.sources import NamedImage, PatchSampler

    clean, noisy = pair_folders
    pair = load_pairs(str(clean), str(noisy)).pairs[0]
    stacked = NamedImage(pair.name, np.concatenate([pair.clean, pair.clean * 0.5], axis=2))
    batch = PatchSampler([stacked], patch=16).batch(8, torch.Generator().manual_seed(0))
    assert batch.shape == (8, 6, 16, 16)
    torch.testing.assert_close(batch[:, 3:], batch[:, :3] * 0.5)  # same place, same flip and rotation


def test_cli_trains_and_evaluates_on_pairs(pair_folders, tmp_path):
    clean, noisy = pair_folders
    out = tmp_path / "run"
    args = ["--patch", "16", "--epochs", "1", "--steps-per-epoch", "2", "--channels", "4", "--batch-size", "2"]
    result = CliRunner().invoke(
        app, ["train", "--data", str(clean), "--noisy-data", str(noisy), "--out", str(out), "--device", "cpu", *args]
    )
    assert result.exit_code == 0, result.output
    stderr = " ".join(result.output.split())  # the progress line (stderr) and the table (stdout)
    assert "paired with" in stderr and "real noisy/clean pairs" in stderr
    evaluation = json.loads((out / "eval_test.json").read_text())
    assert (
        evaluation["noisy_data"] == str(noisy) and evaluation["levels"][0]["noise"]["kind"] == "real noisy/clean pairs"
    )
    refused = CliRunner().invoke(app, ["train", "--noisy-data", str(noisy), "--data", "builtin", "--device", "cpu"])
    assert refused.exit_code == 2 and "built-in photos have no noisy captures" in refused.stderr


def test_pairs_that_all_differ_in_size_say_so(pair_folders, tmp_path):
    clean, _ = pair_folders
    for name in NAMES:
        save_png(tmp_path / "small" / name, texture(30, 44, 1))
    with pytest.raises(CaeDenoiseError, match=r"no usable file pairs; 8 matched by name but differ in size"):
        load_pairs(str(clean), str(tmp_path / "small"))
