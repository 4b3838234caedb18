"""A generated corpus of hostile and unusual inputs, through the real command line.

Each case asserts the exit code (2 bad usage, 1 bad input), one ``error:`` line naming the file or option
(printed literally, never as markup), no traceback, and that no file changed that should not have: every
file under the case's folder is hashed before and after.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import patch_zip_member, save_png, texture, to_uint8
from PIL import Image
from typer.testing import CliRunner

from cae_denoise.cli.app import app
from cae_denoise.models.checkpoint import load_checkpoint, save_checkpoint
from cae_denoise.noise.models import GaussianNoise


def invoke(*args: object):
    return CliRunner().invoke(app, [str(arg) for arg in args])


def snapshot(folder: Path) -> dict[str, str]:
    """Every file (links as their target text) under ``folder``, hashed."""
    state = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            state[str(path.relative_to(folder))] = "-> " + str(path.readlink())
        elif path.is_file():
            state[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def error_lines(result) -> list[str]:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


def assert_refused(result, code: int, *fragments: str) -> None:
    """Exit ``code`` and exactly one error line holding every fragment."""
    assert result.exit_code == code, result.output
    [line] = error_lines(result)
    for fragment in fragments:
        assert fragment in line, line


def photo(path: Path, seed: int = 0, size: tuple[int, int] = (24, 26)) -> Path:
    return save_png(path, GaussianNoise(20, 20).add_seeded(texture(*size, seed), 0, seed))


@pytest.fixture
def model(checkpoint) -> Path:
    return checkpoint


# --- outputs never clobber --------------------------------------------------------------------------------


def test_side_by_side_picture_that_is_an_input(tmp_path, model):
    inputs = [photo(tmp_path / "a.png"), photo(tmp_path / "a_denoised_side_by_side.png", 1)]  # named explicitly
    before = snapshot(tmp_path)
    result = invoke("denoise", *inputs, "--side-by-side", "--overwrite", "--model", model, "--device", "cpu")
    assert result.exit_code == 1
    assert any("would overwrite an input" in line for line in error_lines(result))
    after = snapshot(tmp_path)
    assert {name: after[name] for name in before} == before


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_two_inputs_one_output_name(tmp_path, model, overwrite):
    photo(tmp_path / "x.png")
    Image.fromarray(to_uint8(texture(24, 26, 1))).save(tmp_path / "x.jpg", quality=90)
    before = snapshot(tmp_path)
    result = invoke("denoise", tmp_path, "--model", model, "--device", "cpu", "--format", "png", *overwrite)
    assert result.exit_code == 1
    lines = error_lines(result)
    assert len(lines) == 2 and all("would write the same output" in line for line in lines)
    assert snapshot(tmp_path) == before
    assert "0 of 2 files done" in result.stdout


def test_link_planted_at_the_old_temporary_name(tmp_path, model):
    source = photo(tmp_path / "a.png")
    (tmp_path / "a_denoised.png.tmp").symlink_to(source)
    before = source.read_bytes()
    result = invoke("denoise", source, "--model", model, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert source.read_bytes() == before
    assert Image.open(tmp_path / "a_denoised.png").size == (26, 24)


def test_a_second_run_into_the_same_folder_refuses(tmp_path, model):
    photo(tmp_path / "in" / "a.png")
    photo(tmp_path / "in" / "b.png", 1)
    first = invoke("denoise", tmp_path / "in", "-o", tmp_path / "out", "--model", model, "--device", "cpu")
    assert first.exit_code == 0, first.output
    before = snapshot(tmp_path)
    second = invoke("denoise", tmp_path / "in", "-o", tmp_path / "out", "--model", model, "--device", "cpu")
    assert second.exit_code == 1
    assert len(error_lines(second)) == 2 and "0 of 2 files done" in second.stdout
    assert snapshot(tmp_path) == before


def test_train_onto_a_finished_run(tmp_path, trained_run):
    folder = trained_run.result.out
    before = snapshot(folder)
    args = ["--data", trained_run.config.data, "--patch", "16", "--channels", "4", "--epochs", "1", "--device", "cpu"]
    result = invoke("train", *args, "--out", folder)
    assert_refused(result, 2, f"--out {folder} already holds a run", "--resume", "--overwrite")
    assert snapshot(folder) == before


def test_output_folder_that_cannot_be_created(tmp_path, model):
    source = photo(tmp_path / "a.png")
    (tmp_path / "blocker").write_bytes(b"a file where the folder should go")
    before = snapshot(tmp_path)
    result = invoke("denoise", source, "-o", tmp_path / "blocker" / "out", "--model", model, "--device", "cpu")
    assert_refused(result, 1, "blocker/out: cannot create the folder")
    assert snapshot(tmp_path) == before


# --- hostile checkpoints ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"arch_args": {"channels": 4, "depth": 40}}, "depth=40 is outside"),
        ({"arch_args": {"channels": 2**31, "depth": 1}}, "channels=2147483648 is outside"),
        ({"arch": 42}, "field 'arch' must be a name"),
        ({"config": {"resize": "big"}}, "training setting 'resize' has a value of the wrong type"),
    ],
)
def test_checkpoint_with_hostile_metadata(tmp_path, checkpoint, change, fragment):
    hostile = tmp_path / "hostile.pt"
    save_checkpoint(hostile, {**load_checkpoint(checkpoint), **change}, overwrite=True)
    source = photo(tmp_path / "a.png")
    before = snapshot(tmp_path)
    result = invoke("denoise", source, "--model", hostile, "--device", "cpu")
    assert_refused(result, 1, "hostile.pt", fragment)
    assert snapshot(tmp_path) == before


def test_checkpoint_with_nan_weights(tmp_path, checkpoint):
    payload = load_checkpoint(checkpoint)
    weights = {name: torch.full_like(tensor, float("nan")) for name, tensor in payload["model"].items()}
    broken = tmp_path / "nan.pt"
    save_checkpoint(broken, {**payload, "model": weights}, overwrite=True)
    source = photo(tmp_path / "a.png")
    result = invoke("denoise", source, "--model", broken, "--device", "cpu")
    assert_refused(result, 1, "nan.pt", "NaN or infinite")
    assert not (tmp_path / "a_denoised.png").exists()


# --- names and options --------------------------------------------------------------------------------------


def test_markup_in_file_and_folder_names_is_printed_literally(tmp_path, model):
    folder = tmp_path / "["
    folder.mkdir()
    bad = folder / "]bold[red.png"  # the path holds "[/]bold[red"
    bad.write_bytes(b"not an image")
    result = invoke("denoise", bad, "--model", model, "--device", "cpu")
    assert result.exit_code == 1
    [line] = error_lines(result)
    assert "[/]bold[red.png: not an image" in line


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--patch", "17"], "--patch 17: must be a multiple of 2"),
        (["--arch", "unet", "--patch", "18"], "--patch 18: must be a multiple of 4"),
        (["--device", "meta"], "--device 'meta': not a supported device"),
        (["--device", "xpu"], "--device 'xpu': not a supported device"),
        (["--device", "cuda:7"], "--device cuda:7"),
        (["--channels", "100000"], "--channels 100000: must be between 1 and 512"),
        (["--lr", "nan"], "--lr nan"),
    ],
)
def test_training_options_the_model_cannot_use(tmp_path, image_folder, args, fragment):
    out = tmp_path / "run"
    result = invoke("train", "--data", image_folder, "--out", out, "--device", "cpu", *args)
    assert_refused(result, 2, fragment)
    assert not out.exists()


def test_a_link_loop_under_an_input_folder_ends(tmp_path, model):
    photo(tmp_path / "shots" / "a.png")
    (tmp_path / "shots" / "loop").symlink_to(tmp_path / "shots", target_is_directory=True)
    result = invoke("denoise", str(tmp_path / "shots" / "**" / "*.png"), "--model", model, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "1 of 1 file done: 1 denoised" in result.stdout
    assert np.asarray(Image.open(tmp_path / "shots" / "a_denoised.png")).shape == (24, 26, 3)


# --- hostile image files and archives ---------------------------------------------------------------------


def test_float_tiff_with_nan_pixels(tmp_path, model):
    pixels = np.full((20, 22), 0.5, np.float32)
    pixels[3, 4] = np.nan
    source = tmp_path / "nan.tif"
    Image.fromarray(pixels, mode="F").save(source)
    result = invoke("denoise", source, "--model", model, "--device", "cpu")
    assert result.exit_code == 1
    [line] = error_lines(result)
    assert "nan.tif: contains NaN or infinite pixel values" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.tif"]


def test_animated_gif_is_refused_not_cut_to_its_first_frame(tmp_path, model):
    frames = [Image.fromarray(to_uint8(texture(20, 22, seed))) for seed in range(3)]
    source = tmp_path / "anim.gif"
    frames[0].save(source, save_all=True, append_images=frames[1:])
    result = invoke("denoise", source, "--model", model, "--device", "cpu")
    assert result.exit_code == 1
    [line] = error_lines(result)
    assert "anim.gif: has 3 frames" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["anim.gif"]


def test_zip_bomb_member_and_encrypted_member_are_skipped_and_named(tmp_path, model):
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for index in range(4):
            bundle.writestr(f"ok{index}.png", photo(tmp_path / "tmp.png", index).read_bytes())
        bundle.writestr("bomb.png", photo(tmp_path / "tmp.png", 9).read_bytes())
        bundle.writestr("secret.png", photo(tmp_path / "tmp.png", 8).read_bytes())
    (tmp_path / "tmp.png").unlink()
    patch_zip_member(archive, "bomb.png", size=300 * 2**20)
    patch_zip_member(archive, "secret.png", flags=1)
    from cae_denoise.data.sources import load_source

    source = load_source(archive)
    assert dict(source.skipped) == {
        "bomb.png": "member of 300 MiB exceeds the 256 MiB limit",
        "secret.png": "encrypted member (password required)",
    }
    result = invoke("evaluate", model, "--data", archive, "--split", "all", "--report", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert "ok0.png" in (tmp_path / "r.json").read_text() and "bomb.png" in (tmp_path / "r.json").read_text()


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (
            lambda p: {**p, "config": {**p["config"], "epochs": "many"}},
            "training setting 'epochs' has a value of the wrong",
        ),
        (lambda p: {**p, "train_state": {**p["train_state"], "epoch": "x"}}, "train_state epoch is 'x'"),
        (lambda p: {**p, "optimizer": {"state": "x", "param_groups": 3}}, "its saved state does not fit this run"),
        (lambda p: {**p, "rng": {"sampler": [torch.zeros(3)]}}, "its sampling state does not fit"),
    ],
)
def test_resume_from_a_tampered_last_pt(tmp_path, image_folder, change, fragment):
    out = tmp_path / "run"
    args = ["--data", image_folder, "--patch", "16", "--batch-size", "2", "--epochs", "1", "--steps-per-epoch", "2"]
    assert invoke("train", *args, "--channels", "4", "--device", "cpu", "--out", out).exit_code == 0
    payload = load_checkpoint(out / "last.pt")
    payload["config"]["epochs"] = 2  # a finished one-epoch run, extended by hand to be resumable
    save_checkpoint(out / "last.pt", change(payload), overwrite=True)
    before = snapshot(out)
    result = invoke("train", "--resume", out)
    assert_refused(result, 1, "last.pt", fragment)
    assert snapshot(out) == before


def test_a_link_to_itself_is_one_error_and_the_rest_completes(tmp_path, model):
    good = photo(tmp_path / "a.png")
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    result = invoke("denoise", good, tmp_path / "loop.png", "--model", model, "--device", "cpu")
    assert result.exit_code == 1
    [line] = error_lines(result)
    assert "loop.png" in line
    assert (tmp_path / "a_denoised.png").is_file() and "1 of 2 files done" in result.stdout


@pytest.mark.parametrize("kind", ["meta", "sparse"])
def test_weights_without_plain_values_are_refused(tmp_path, checkpoint, kind):
    payload = load_checkpoint(checkpoint)
    convert = (lambda t: torch.empty_like(t, device="meta")) if kind == "meta" else (lambda t: t.to_sparse())
    odd = tmp_path / f"{kind}.pt"
    torch.save({**payload, "model": {k: convert(v) for k, v in payload["model"].items()}}, odd)
    result = invoke("denoise", photo(tmp_path / "a.png"), "--model", odd, "--device", "cpu")
    assert_refused(result, 1, f"{kind}.pt")
    assert not (tmp_path / "a_denoised.png").exists()


def test_resume_with_a_malformed_history(tmp_path, image_folder):
    out = tmp_path / "run"
    args = ["--data", image_folder, "--patch", "16", "--batch-size", "2", "--epochs", "1", "--steps-per-epoch", "2"]
    assert invoke("train", *args, "--channels", "4", "--device", "cpu", "--out", out).exit_code == 0
    payload = load_checkpoint(out / "last.pt")
    payload["config"]["epochs"] = 2
    payload["history"] = [{"epoch": 1, "train_loss": 0.1}]  # no validation score
    save_checkpoint(out / "last.pt", payload, overwrite=True)
    assert_refused(invoke("train", "--resume", out), 1, "last.pt", "a history row is")


@pytest.mark.parametrize("name", ["bad\nfile.png", "\x1b[31mred.png", "bell\x07.png"])
def test_control_characters_in_names_are_shown_escaped_on_one_line(tmp_path, model, name):
    bad = tmp_path / name
    bad.write_bytes(b"not an image")
    result = invoke("denoise", bad, "--model", model, "--device", "cpu")
    assert result.exit_code == 1
    [line] = error_lines(result)
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert repr(name)[1:-1] in line and line.endswith("not an image Pillow can read (unknown or corrupt format)")


def test_running_again_on_a_folder_does_not_denoise_its_outputs(tmp_path, model):
    photo(tmp_path / "a.png")
    assert invoke("denoise", tmp_path, "--side-by-side", "--model", model, "--device", "cpu").exit_code == 0
    before = snapshot(tmp_path)
    again = invoke("denoise", tmp_path, "--side-by-side", "--model", model, "--device", "cpu")
    assert again.exit_code == 1 and "0 of 1 file done" in again.stdout  # a.png only; its outputs exist
    assert snapshot(tmp_path) == before
    assert invoke("denoise", tmp_path, "--overwrite", "--model", model, "--device", "cpu").exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a_denoised.png", "a_denoised_side_by_side.png"]


def test_a_refused_run_leaves_no_empty_output_folder(tmp_path, model):
    for folder in ("a", "b"):
        photo(tmp_path / folder / "x.png")
    result = invoke("denoise", tmp_path / "a", tmp_path / "b", "-o", tmp_path / "out", "--model", model)
    assert result.exit_code == 1 and not (tmp_path / "out").exists()


def test_a_model_whose_output_overflows_is_that_file_s_error(tmp_path, checkpoint):
    payload = load_checkpoint(checkpoint)
    huge = {name: torch.full_like(tensor, 3e38) for name, tensor in payload["model"].items()}
    broken = tmp_path / "huge.pt"
    save_checkpoint(broken, {**payload, "model": huge}, overwrite=True)
    result = invoke("denoise", photo(tmp_path / "a.png"), "--model", broken, "--device", "cpu")
    assert_refused(result, 1, "a.png", "output holds NaN or infinite values")
    assert "Warning" not in result.stderr and not (tmp_path / "a_denoised.png").exists()


@pytest.mark.parametrize(("epoch", "step"), [(10**6, 0), (-5, 0), (1, 999)])
def test_resume_counters_that_do_not_fit_the_run_are_refused(tmp_path, image_folder, epoch, step):
    out = tmp_path / "run"
    args = ["--data", image_folder, "--patch", "16", "--batch-size", "2", "--epochs", "1", "--steps-per-epoch", "2"]
    assert invoke("train", *args, "--channels", "4", "--device", "cpu", "--out", out).exit_code == 0
    payload = load_checkpoint(out / "last.pt")
    payload["config"]["epochs"] = 2
    payload["train_state"] = {**payload["train_state"], "epoch": epoch, "global_step": step}
    save_checkpoint(out / "last.pt", payload, overwrite=True)
    before = snapshot(out)
    assert_refused(invoke("train", "--resume", out), 1, "last.pt", "counters do not describe a point of this run")
    assert snapshot(out) == before


def test_an_empty_model_name_and_a_folder_are_clear(tmp_path):
    source = photo(tmp_path / "a.png")
    assert_refused(invoke("denoise", source, "--model", ""), 2, "--model: give a checkpoint file")
    assert_refused(invoke("denoise", source, "--model", tmp_path), 1, "is a folder, not a checkpoint file")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [(["--sigma", "25,"], "an empty item"), (["--sigma", ",25"], "an empty item"), (["--device", "cpu:1"], "cpu:1")],
)
def test_option_values_that_look_almost_right(args, fragment, tmp_path):
    result = invoke("evaluate", "default", "--report", tmp_path / "r.json", *args)
    assert_refused(result, 2, fragment)
    assert not (tmp_path / "r.json").exists()
