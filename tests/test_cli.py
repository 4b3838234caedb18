"""The command line through its real entry points: exit codes, messages, files written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import save_png, texture
from PIL import Image
from typer.testing import CliRunner

from cae_denoise.cli.app import app
from cae_denoise.models.checkpoint import load_checkpoint
from cae_denoise.noise.models import GaussianNoise

COMMANDS = ["train", "evaluate", "compare", "denoise"]


def invoke(*args: str):
    return CliRunner().invoke(app, [str(arg) for arg in args])


def assert_one_line_error(result, *fragments: str, code: int = 1) -> None:
    """Exit ``code`` (1 bad input, 2 bad usage), one unwrapped ``error:`` line on stderr naming what went
    wrong, no traceback."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], result.stderr
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def cli_run(image_folder, tmp_path_factory) -> Path:
    """A tiny model trained through ``cae-denoise train``; returns its output folder."""
    out = tmp_path_factory.mktemp("cli") / "run"
    result = invoke(
        "train",
        "--data", image_folder,
        "--patch", "16",
        "--epochs", "1",
        "--steps-per-epoch", "2",
        "--channels", "4",
        "--depth", "1",
        "--batch-size", "2",
        "--device", "cpu",
        "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


# --- help -------------------------------------------------------------------------------------------------


def test_no_arguments_shows_help():
    result = invoke()
    assert result.exit_code == 2  # a usage error, as for any missing argument
    assert all(command in result.output for command in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_subcommand_help(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output and command in result.output
    assert "--data" in result.output or "--model" in result.output


def test_version():
    from importlib import metadata

    try:
        expected = metadata.version("cae-denoise")
    except metadata.PackageNotFoundError:
        pytest.skip("cae-denoise is run from a source tree here, without package metadata")
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"cae-denoise {expected}"


def test_version_without_package_metadata():
    """Run from a source tree that was never installed: 'unknown' (the version is read when the package loads)."""
    import subprocess
    import sys

    code = (
        "from importlib import metadata\n"
        "def missing(name):\n    raise metadata.PackageNotFoundError(name)\n"
        "metadata.version = missing\n"
        "from typer.testing import CliRunner\nfrom cae_denoise.cli.app import app\n"
        "print(CliRunner().invoke(app, ['--version']).output.strip())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "cae-denoise unknown"


def test_python_dash_m_help():
    completed = subprocess.run(
        [sys.executable, "-m", "cae_denoise", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert all(command in completed.stdout for command in COMMANDS)


def test_help_does_not_import_torch():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from cae_denoise.cli.app import app\n"
        "for args in (['--help'], ['train', '--help'], ['denoise', '--help']):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0\n"
        "print('torch' in sys.modules)\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "False"


# --- train ------------------------------------------------------------------------------------------------


def test_train_writes_checkpoints_and_reports(cli_run, image_folder):
    assert {"best.pt", "last.pt", "train_report.json", "eval_test.json"} <= {p.name for p in cli_run.iterdir()}
    train_report = json.loads((cli_run / "train_report.json").read_text())
    assert train_report["kind"] == "train"
    assert train_report["config"]["data"] == str(image_folder)
    assert train_report["config"]["channels"] == 4 and train_report["config"]["depth"] == 1
    assert len(train_report["history"]) == 1
    evaluation = json.loads((cli_run / "eval_test.json").read_text())
    assert evaluation["kind"] == "evaluate"
    assert evaluation["images"] == train_report["split"]["test"]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--sigma", "abc"], ["--sigma 'abc'"]),
        (["--sigma", "50-5"], ["--sigma '50-5'", "low-high"]),
        (["--patch", "4"], ["--patch 4"]),
        (["--device", "toaster"], ["--device 'toaster'"]),
    ],
)
def test_train_bad_options_fail_fast_with_one_line(tmp_path, image_folder, args, fragments):
    out = tmp_path / "run"
    result = invoke("train", "--data", image_folder, "--out", out, "--device", "cpu", *args)
    assert_one_line_error(result, *fragments, code=2)
    assert not out.exists()


def test_train_missing_data(tmp_path):
    result = invoke("train", "--data", tmp_path / "nowhere", "--out", tmp_path / "run", "--device", "cpu")
    assert_one_line_error(result, "nowhere", "no such folder or archive")


def test_train_usage_error_exit_code_2(tmp_path):
    result = invoke("train", "--patch", "big", "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_ctrl_c_then_resume_through_the_cli_equals_an_uninterrupted_run(tmp_path, image_folder, monkeypatch):
    """A real SIGINT, sent when step 3 draws its batch: exit 130 with the resume command, last.pt holds exactly
    3 steps (the step in flight finishes), and ``train --resume`` ends with an uninterrupted run's weights."""
    import os
    import signal

    from cae_denoise.data.sources import PatchSampler

    original_batch = PatchSampler.batch
    calls = {"n": 0}

    def batch_then_ctrl_c(self, count, generator):
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return original_batch(self, count, generator)

    def args(out: Path) -> list:
        return ["--data", image_folder, "--patch", "16", "--epochs", "2", "--steps-per-epoch", "2", "--channels", "4",
                "--depth", "1", "--batch-size", "2", "--device", "cpu", "--out", out]  # fmt: skip

    reference, out = tmp_path / "reference", tmp_path / "run"
    assert invoke("train", *args(reference)).exit_code == 0
    monkeypatch.setattr(PatchSampler, "batch", batch_then_ctrl_c)
    result = invoke("train", *args(out))
    assert result.exit_code == 130, result.output
    assert f"cae-denoise train --resume {out}" in result.stderr and "Traceback" not in result.output
    assert load_checkpoint(out / "last.pt")["train_state"]["global_step"] == 3
    assert not (out / "train_report.json").exists() and not (out / "eval_test.json").exists()

    monkeypatch.setattr(PatchSampler, "batch", original_batch)
    result = invoke("train", "--resume", out)
    assert result.exit_code == 0, result.output
    resumed, uninterrupted = load_checkpoint(out / "last.pt"), load_checkpoint(reference / "last.pt")
    assert resumed["train_state"]["global_step"] == 4 and resumed["train_state"]["epoch"] == 2
    for name, tensor in uninterrupted["model"].items():
        assert torch.equal(tensor, resumed["model"][name]), f"{name} differs after resume"
    assert (out / "eval_test.json").is_file()


def test_resume_with_other_training_options_is_a_usage_error(cli_run):
    result = invoke("train", "--resume", cli_run, "--epochs", "5", "--lr", "0.1")
    assert_one_line_error(result, "--resume", "cannot change it: --lr (only --epochs can", code=2)


def _tiny_training(image_folder: Path, out: Path) -> list:
    return ["--data", image_folder, "--patch", "16", "--epochs", "1", "--steps-per-epoch", "2", "--channels", "4",
            "--depth", "1", "--batch-size", "2", "--device", "cpu", "--out", out]  # fmt: skip


def test_train_with_amp_on_cpu(image_folder, tmp_path):
    result = invoke("train", *_tiny_training(image_folder, tmp_path / "run"), "--amp")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "run" / "train_report.json").read_text())
    assert report["config"]["amp"] is True
    assert all(np.isfinite(row["train_loss"]) and np.isfinite(row["val_psnr"]) for row in report["history"])
    assert load_checkpoint(tmp_path / "run" / "best.pt")["model"]["encoder.0.weight"].dtype == torch.float32


def test_train_with_dead_leaves_uses_them(image_folder, tmp_path):
    plain, leaves = tmp_path / "plain", tmp_path / "leaves"
    assert invoke("train", *_tiny_training(image_folder, plain)).exit_code == 0
    result = invoke("train", *_tiny_training(image_folder, leaves), "--dead-leaves", "2")
    assert result.exit_code == 0, result.output
    assert json.loads((leaves / "train_report.json").read_text())["config"]["dead_leaves"] == 2
    same_seed_other_data = load_checkpoint(plain / "last.pt")["model"], load_checkpoint(leaves / "last.pt")["model"]
    assert not all(torch.equal(same_seed_other_data[0][k], same_seed_other_data[1][k]) for k in same_seed_other_data[0])


def test_experiment_through_the_cli(image_folder, tmp_path):
    out = tmp_path / "experiment"
    args = ["experiment", "--archs", "baseline,leaky", "--seeds", "2", "--data", image_folder, "--out", out]
    args += ["--patch", "16", "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "2", "--device", "cpu"]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    body = json.loads((out / "experiment.json").read_text())
    assert body["kind"] == "experiment" and body["seeds"] == 2
    assert [(run["arch"], run["seed"]) for run in body["runs"]] == [
        ("baseline", 0), ("baseline", 1), ("leaky", 0), ("leaky", 1)
    ]  # fmt: skip
    assert all(
        (out / f"{arch}_seed{seed}" / "eval_test.json").is_file() for arch in ("baseline", "leaky") for seed in (0, 1)
    )
    assert "leaky vs baseline over seeds, PSNR" in result.stdout and "description only, no verdict" in result.stdout
    report = (out / "experiment.json").read_bytes()
    refused = invoke(*args)  # a finished experiment's report is not replaced without --overwrite
    assert_one_line_error(refused, "experiment.json exists; pass --overwrite", code=2)
    assert (out / "experiment.json").read_bytes() == report and "skipped" not in refused.stderr
    again = invoke(*args, "--overwrite")
    assert again.exit_code == 0 and again.stderr.count("already done, skipped") == 4


# --- evaluate and compare ---------------------------------------------------------------------------------


def test_evaluate(cli_run, image_folder, tmp_path):
    report = tmp_path / "eval.json"
    result = invoke(
        "evaluate",
        cli_run / "best.pt",
        "--data",
        image_folder,
        "--device",
        "cpu",
        "--sigma",
        "15,30",
        "--report",
        report,
    )
    assert result.exit_code == 0, result.output
    assert "noisy" in result.stdout and "PSNR" in result.stdout and f"wrote {report}" in result.stdout
    body = json.loads(report.read_text())
    assert body["kind"] == "evaluate"
    assert [level["noise"]["sigma_255"] for level in body["levels"]] == [15, 30]
    assert set(body["levels"][0]["methods"]) == {"noisy", "leaky"}


def test_evaluate_default_report_path(cli_run, image_folder):
    result = invoke("evaluate", cli_run / "best.pt", "--data", image_folder, "--device", "cpu")
    assert result.exit_code == 0, result.output
    report = cli_run / "best_eval.json"
    assert json.loads(report.read_text())["kind"] == "evaluate"
    before = report.read_bytes()
    again = invoke("evaluate", cli_run / "best.pt", "--data", image_folder, "--device", "cpu", "--seed", "1")
    assert_one_line_error(again, "best_eval.json exists", "--overwrite", code=2)
    assert report.read_bytes() == before
    again = invoke(
        "evaluate", cli_run / "best.pt", "--data", image_folder, "--device", "cpu", "--seed", "1", "--overwrite"
    )
    assert again.exit_code == 0, again.output
    assert json.loads(report.read_text())["levels"][0]["noise"]["seed"] == 1


def test_evaluate_warns_about_training_images(cli_run, image_folder, tmp_path):
    result = invoke(
        "evaluate", cli_run / "best.pt", "--data", image_folder, "--split", "train", "--device", "cpu",
        "--report", tmp_path / "r.json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "optimistic" in result.stderr


def test_evaluate_missing_checkpoint_names_it(tmp_path, image_folder):
    missing = tmp_path / "nothing_here.pt"
    result = invoke("evaluate", missing, "--data", image_folder, "--device", "cpu")
    assert_one_line_error(result, "nothing_here.pt")
    assert "not found" in result.stderr or "no such checkpoint" in result.stderr


@pytest.mark.parametrize(("sigma", "fragment"), [("abc", "--sigma 'abc'"), ("300", "255"), ("5-50", "--sigma")])
def test_evaluate_bad_sigma(cli_run, image_folder, sigma, fragment):
    result = invoke("evaluate", cli_run / "best.pt", "--data", image_folder, "--sigma", sigma, "--device", "cpu")
    assert_one_line_error(result, fragment, code=2)


def test_evaluate_negative_seed(cli_run, image_folder, tmp_path):
    result = invoke(
        "evaluate", cli_run / "best.pt", "--data", image_folder, "--seed", "-1", "--device", "cpu",
        "--report", tmp_path / "r.json",
    )  # fmt: skip
    assert_one_line_error(result, "--seed", code=2)


def test_evaluate_text_file_as_checkpoint(tmp_path, image_folder):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello world\n")
    result = invoke("evaluate", notes, "--data", image_folder, "--device", "cpu")
    assert_one_line_error(result, "notes.txt", "not a cae-denoise checkpoint")


def test_compare_two_checkpoints(cli_run, trained_run, image_folder, tmp_path):
    report = tmp_path / "compare.json"
    result = invoke(
        "compare", trained_run.best, cli_run / "best.pt", "--data", image_folder, "--device", "cpu",
        "--report", report,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(report.read_text())
    assert body["kind"] == "compare"
    labels = list(body["methods"])
    assert labels[0] == "leaky" and len(labels) == 2
    level = body["levels"][0]
    assert level["reference"] == "leaky"
    assert list(level["differences"]) == [labels[1]]
    assert set(level["differences"][labels[1]]) == {"ssim", "mse", "psnr"}
    assert "vs leaky" in result.stdout


def test_compare_writes_a_grid_picture(cli_run, trained_run, image_folder, tmp_path):
    grid = tmp_path / "grid.png"
    result = invoke(
        "compare", trained_run.best, cli_run / "best.pt", "nlm", "--data", image_folder, "--device", "cpu",
        "--report", tmp_path / "c.json", "--grid", grid,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    picture = Image.open(grid)
    assert picture.format == "PNG" and picture.mode == "RGB"
    assert picture.width > 5 * 37  # noisy, three methods and clean, side by side
    wrong = invoke("compare", "nlm", "tv", "--data", image_folder, "--grid", tmp_path / "grid.jpg")
    assert_one_line_error(wrong, "--grid", "grid.jpg", ".png", code=2)
    assert not (tmp_path / "grid.jpg").exists()


def test_compare_needs_two(cli_run, image_folder):
    result = invoke("compare", cli_run / "best.pt", "--data", image_folder, "--device", "cpu")
    assert_one_line_error(result, "at least two", code=2)


def test_compare_unknown_method_lists_the_known_ones(image_folder):
    result = invoke("compare", "nlm", "bogus_method", "--data", image_folder, "--device", "cpu")
    assert_one_line_error(result, "bogus_method", "nlm", "tv")


def test_compare_missing_checkpoint(cli_run, image_folder, tmp_path):
    result = invoke("compare", cli_run / "best.pt", tmp_path / "ghost.pt", "--data", image_folder, "--device", "cpu")
    assert_one_line_error(result, "ghost.pt")


# --- denoise ----------------------------------------------------------------------------------------------


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    for i, name in enumerate(("one.png", "two.png")):
        save_png(folder / name, GaussianNoise(20, 20).add_seeded(texture(26, 31, i), 0, i))
    return folder


def test_denoise_writes_outputs(cli_run, photos):
    result = invoke(
        "denoise", photos / "one.png", photos / "two.png", "--model", cli_run / "best.pt", "--device", "cpu"
    )
    assert result.exit_code == 0, result.output
    for name in ("one", "two"):
        output = photos / f"{name}_denoised.png"
        assert np.asarray(Image.open(output)).shape == (26, 31, 3)
        assert f"{name}_denoised.png" in result.stderr.replace("\n", "")
    assert "2 of 2 files done: 2 denoised" in result.stdout


def test_denoise_with_the_shipped_model_and_side_by_side(photos):
    from cae_denoise.io.images import decode_image
    from cae_denoise.models.checkpoint import load_model
    from cae_denoise.models.inference import denoise_array

    result = invoke("denoise", photos / "one.png", "--side-by-side", "--device", "cpu")
    assert result.exit_code == 0, result.output
    written = np.asarray(Image.open(photos / "one_denoised.png")).astype(int)
    expected = denoise_array(load_model("default").model, decode_image(photos / "one.png").rgb)
    assert np.abs(written - np.round(expected * 255)).max() <= 1
    pair = np.asarray(Image.open(photos / "one_denoised_side_by_side.png")).astype(int)
    band = pair.shape[0] - 26  # the labels
    assert band > 0 and pair.shape[1] == 31 + 8 + 31
    np.testing.assert_array_equal(pair[band:, :31], np.asarray(Image.open(photos / "one.png")))
    np.testing.assert_array_equal(pair[band:, -31:], written)
    assert "estimated input noise sigma" in result.stderr


def test_denoise_refuses_to_overwrite(cli_run, photos):
    existing = photos / "one_denoised.png"
    existing.write_bytes(b"keep me")
    model = cli_run / "best.pt"
    result = invoke("denoise", photos / "one.png", "--model", model, "--device", "cpu")
    assert result.exit_code == 1
    assert "--overwrite" in result.stderr
    assert existing.read_bytes() == b"keep me"
    result = invoke("denoise", photos / "one.png", "--model", model, "--device", "cpu", "--overwrite")
    assert result.exit_code == 0, result.output
    assert np.asarray(Image.open(existing)).shape == (26, 31, 3)


def test_denoise_one_corrupt_file_exit_1_others_written(cli_run, photos, tmp_path):
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "clean"
    result = invoke("denoise", photos, "--model", cli_run / "best.pt", "--device", "cpu", "-o", out)
    assert result.exit_code == 1
    assert "broken.png" in result.stderr
    assert "Traceback" not in result.output
    assert sorted(p.name for p in out.iterdir()) == ["one_denoised.png", "two_denoised.png"]


def test_denoise_missing_model_names_it(photos, tmp_path):
    result = invoke("denoise", photos / "one.png", "--model", tmp_path / "absent.pt", "--device", "cpu")
    assert_one_line_error(result, "absent.pt")
    assert not (photos / "one_denoised.png").exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--tile", "32"], "--tile 32: must be between 64 and 4096"),
        (["--tile", "100000"], "--tile 100000: must be between 64 and 4096"),
    ],
)
def test_denoise_bad_options(cli_run, photos, args, fragment):
    result = invoke("denoise", photos / "one.png", "--model", cli_run / "best.pt", "--device", "cpu", *args)
    assert_one_line_error(result, fragment, code=2)
    assert not (photos / "one_denoised.png").exists()


def test_denoise_no_inputs_found(cli_run, tmp_path):
    result = invoke("denoise", str(tmp_path / "*.png"), "--model", cli_run / "best.pt", "--device", "cpu")
    assert_one_line_error(result, "no input images found")


def test_square_brackets_in_messages_are_printed_not_taken_as_markup(cli_run, tmp_path):
    """Rich would swallow '[classical]' or '[raw]' in an error line as a style tag."""
    result = invoke("denoise", str(tmp_path / "shots[raw]" / "*.png"), "--model", cli_run / "best.pt")
    assert_one_line_error(result, "shots[raw]")
    bad = tmp_path / "photo[1].png"
    bad.write_bytes(b"not an image")
    result = invoke("denoise", bad, "--model", cli_run / "best.pt", "--device", "cpu")
    assert result.exit_code == 1
    assert "photo[1].png: not an image" in result.stderr


def test_denoise_report_and_png_level(cli_run, photos, tmp_path):
    report = tmp_path / "denoise.json"
    args = ["denoise", photos, "--model", cli_run / "best.pt", "--device", "cpu", "-o", tmp_path / "out"]
    result = invoke(*args, "--report", report, "--png-level", "9")
    assert result.exit_code == 0, result.output
    body = json.loads(report.read_text())
    assert body["kind"] == "denoise" and body["denoised"] == 2 and len(body["files"]) == 2
    assert {"decode", "model", "encode", "write", "total"} <= set(body["files"][0]["seconds"])
    assert len(body["model"]["weights_sha256"]) == 64
    again = invoke(*args, "--report", report)
    assert_one_line_error(again, "denoise.json exists", "--overwrite", code=2)
    bad = invoke("denoise", photos, "--model", cli_run / "best.pt", "--png-level", "10")
    assert_one_line_error(bad, "--png-level 10", code=2)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["denoise", "a.png", "--tile", "abc"], "Invalid value for '--tile'"),
        (["denoise", "a.png", "--bogus"], "No such option: --bogus"),
        (["evaluate"], "Missing argument 'CHECKPOINT'"),
        (["train", "--arch", "nope"], "'nope' is not one of 'baseline', 'leaky', 'unet', 'unet-estimate'"),
        (["denoise", "a.png", "--format", "gif"], "'gif' is not one of 'auto', 'png', 'jpeg'"),
    ],
)
def test_the_option_parser_s_errors_are_one_line_too(args, fragment):
    done = subprocess.run([sys.executable, "-m", "cae_denoise", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and fragment in line and line.endswith("--help)")


def test_exit_codes_through_the_real_entry_point(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    done = subprocess.run(
        [sys.executable, "-m", "cae_denoise", "denoise", str(bad), "--device", "cpu"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1 and "bad.png: not an image" in done.stderr
    version = subprocess.run([sys.executable, "-m", "cae_denoise", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("cae-denoise ")


def test_denoise_output_folder_that_is_a_file_is_a_usage_error(tmp_path):
    photo = save_png(tmp_path / "photo.png", texture(24, 24, seed=2))
    (tmp_path / "taken").write_bytes(b"keep")
    result = invoke("denoise", photo, "-o", tmp_path / "taken")
    assert_one_line_error(result, f"-o {tmp_path / 'taken'}", "exists and is not a folder", code=2)
    assert (tmp_path / "taken").read_bytes() == b"keep"


# --- output for people and scripts -----------------------------------------------------------------------------


def test_results_on_stdout_progress_and_notes_on_stderr(cli_run, image_folder, tmp_path):
    result = invoke("evaluate", cli_run / "best.pt", "--data", image_folder, "--device", "cpu", "--report",
                    tmp_path / "r.json", "--split", "train")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "PSNR" in result.stdout and "noisy" in result.stdout and f"wrote {tmp_path / 'r.json'}" in result.stdout
    assert "warning:" in result.stderr and "PSNR" not in result.stderr  # the note stays on stderr
    title = next(line for line in result.stdout.splitlines() if "seed 0" in line)
    assert f"{image_folder} (train, " in title  # a long path is never wrapped when not a terminal


def test_one_image_is_one_image(tmp_path):
    from cae_denoise.cli.progress import counted

    assert (counted(1, "image"), counted(2, "image")) == ("1 image", "2 images")
    assert counted(3, "entry", "entries") == "3 entries"
    folder = tmp_path / "one"
    for index in range(3):
        save_png(folder / f"p{index}.png", texture(24, 26, index))
    result = invoke("evaluate", "noisy", "--data", folder, "--split", "test", "--report", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert "(test, 1 image)" in result.stdout


@pytest.mark.parametrize("command", ["evaluate", "compare"])
def test_json_on_stdout_is_the_report(command, image_folder, tmp_path):
    methods = ["noisy"] if command == "evaluate" else ["noisy", "tv"]
    report = tmp_path / "r.json"
    result = invoke(command, *methods, "--data", image_folder, "--report", report, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)  # nothing but the JSON on stdout
    assert body == json.loads(report.read_text())
    assert body["kind"] == command and "wrote" in result.stderr


def test_train_json_holds_the_training_report_and_the_evaluation(image_folder, tmp_path):
    result = invoke("train", *_tiny_training(image_folder, tmp_path / "run"), "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["kind"] == "train" and body["train_report"]["kind"] == "train"
    assert body["evaluation"]["levels"][0]["noise"]["sigma_255"] == 25
    written = json.loads((tmp_path / "run" / "train_report.json").read_text())
    assert body["train_report"]["history"] == written["history"]


def test_denoise_json(cli_run, photos, tmp_path):
    model = ["--model", cli_run / "best.pt", "--device", "cpu"]
    result = invoke("denoise", photos, *model, "-o", tmp_path / "o", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["kind"] == "denoise" and body["denoised"] == 2 and body["not_images"] == []
    assert "2 of 2 files done" in result.stderr


def test_usage_errors_come_before_any_progress(tmp_path):
    result = invoke("train", "--data", tmp_path / "nope", "--out", tmp_path / "run", "--device", "cpu")
    assert_one_line_error(result, "--data", "nope", "no such folder or archive")
    assert result.stderr.strip().splitlines() == [line for line in result.stderr.splitlines() if line.strip()][:1]
    assert result.stdout == "" and not (tmp_path / "run").exists()
    result = invoke("train", "--init", tmp_path / "gone.pt", "--out", tmp_path / "run", "--device", "cpu")
    assert_one_line_error(result, "--init", "gone.pt", "not found")
    result = invoke("evaluate", "noisy", "--data", tmp_path / "nope")
    assert_one_line_error(result, "--data", "no such folder or archive")
    assert len(result.stderr.strip().splitlines()) == 1
    result = invoke("compare", "noisy", "noisy")  # found while the methods are resolved: still before any bar
    assert_one_line_error(result, "noisy is named twice", code=2)
    assert len(result.stderr.strip().splitlines()) == 1


def test_experiment_names_its_own_option(tmp_path):
    result = invoke("experiment", "--archs", "baseline,leakey", "--out", tmp_path / "e")
    assert_one_line_error(result, "--archs", "'leakey'", "unet-level", code=2)
    assert "--arch:" not in result.stderr and not (tmp_path / "e").exists()


def test_a_missing_optional_package_exits_1_everywhere(monkeypatch, image_folder, tmp_path):
    monkeypatch.setitem(sys.modules, "pywt", None)
    monkeypatch.setitem(sys.modules, "onnx", None)
    compared = invoke("compare", "noisy", "wavelet", "--data", image_folder, "--report", tmp_path / "c.json")
    assert_one_line_error(compared, "PyWavelets", "pip install", code=1)
    exported = invoke("export", "default", tmp_path / "model.onnx")
    assert_one_line_error(exported, "onnx", "pip install", code=1)
    assert not (tmp_path / "model.onnx").exists()


# --- help ------------------------------------------------------------------------------------------------------


def test_choices_are_their_registries():
    from cae_denoise.choices import NOISE_FORMS, architecture_names
    from cae_denoise.cli import options as opt
    from cae_denoise.data.sources import Split
    from cae_denoise.denoising import FORMATS
    from cae_denoise.models.architectures import list_models
    from cae_denoise.noise.models import list_noises

    assert list_models() == architecture_names()
    assert list_noises() == list(NOISE_FORMS)
    assert opt.DENOISE_FORMATS == FORMATS
    split = Split(("a",), ("b",), ("c",))
    assert all(split.part(name) for name in opt.SPLITS)


@pytest.mark.parametrize("command", [*COMMANDS, "experiment"])
def test_help_is_readable(command):
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for unreadable in ("<bool>", "<list[str]>", "<str>", "{checkpoint}", "{methods}", "{inputs}"):
        assert unreadable not in result.output, unreadable


def test_train_help_has_panels_and_lists_every_architecture():
    from cae_denoise.models.architectures import list_models

    text = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "250"}).output
    for panel in ("Data", "Noise", "Model", "Optimisation", "Output"):
        assert f"─ {panel} ─" in text
    assert all(name in text for name in list_models())
    assert "grey:SPEC" in text and "2*camera" in text and "demosaic=" in text and "matrix=" in text


def test_help_texts_say_what_the_option_does_in_that_command():
    evaluate = " ".join(CliRunner().invoke(app, ["evaluate", "--help"], env={"COLUMNS": "250"}).output.split())
    assert "self-supervised" not in evaluate and "scored as they are" in evaluate
    assert "--grid" not in evaluate
    compare = " ".join(CliRunner().invoke(app, ["compare", "--help"], env={"COLUMNS": "250"}).output.split())
    assert "(and --grid picture)" in compare


def test_shell_completion_offers_the_choices(monkeypatch):

    def complete(words: str) -> list[str]:
        env = {"_CAE_DENOISE_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()))}
        done = CliRunner().invoke(app, [], env=env, prog_name="cae-denoise")
        return done.output.split()

    assert set(complete("cae-denoise train --arch ")) >= {"unet-level", "unet-estimate", "leaky"}
    assert set(complete("cae-denoise denoise x.png --format ")) >= {"auto", "png", "jpeg", "tiff"}
    assert set(complete("cae-denoise train --device ")) >= {"cpu", "cuda"}


# --- a photo library through the command line --------------------------------------------------------------------


def test_a_photo_library_in_one_command(cli_run, tmp_path):
    for index, folder in enumerate(("DCIM/100APPLE", "DCIM/101APPLE")):
        (tmp_path / folder).mkdir(parents=True)
        photo = Image.fromarray(np.round(texture(20, 23, index) * 255).astype(np.uint8))
        photo.save(tmp_path / folder / "IMG_0001.JPG")
    (tmp_path / "DCIM" / "100APPLE" / "IMG_0002.HEIC").write_bytes(b"heic")
    args = ["denoise", tmp_path / "DCIM", "-o", tmp_path / "clean", "--model", cli_run / "best.pt", "--device", "cpu"]
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    assert (tmp_path / "clean" / "100APPLE" / "IMG_0001_denoised.jpg").is_file()
    assert (tmp_path / "clean" / "101APPLE" / "IMG_0001_denoised.jpg").is_file()
    summary = first.stdout.strip()
    assert summary.startswith("2 of 2 files done: 2 denoised")
    assert "1 file not images this tool reads, left out: IMG_0002.HEIC" in summary
    (tmp_path / "clean" / "101APPLE" / "IMG_0001_denoised.jpg").unlink()  # a half-done folder
    rerun = invoke(*args, "--skip-existing")
    assert rerun.exit_code == 0, rerun.output
    assert rerun.stdout.startswith("2 of 2 files done: 1 denoised, 1 kept (exist: --skip-existing)")
    again = invoke(*args)
    assert again.exit_code == 1 and again.stderr.count("exists; pass --overwrite") == 2
    both = invoke(*args, "--skip-existing", "--overwrite")
    assert_one_line_error(both, "--overwrite or --skip-existing", code=2)


def test_quality_and_png_level_are_refused_where_they_write_nothing(cli_run, photos):
    model = ["--model", cli_run / "best.pt", "--device", "cpu"]
    assert_one_line_error(invoke("denoise", photos, *model, "--format", "png", "--quality", "80"), "--quality", code=2)
    assert_one_line_error(invoke("denoise", photos, *model, "--quality", "0"), "--quality 0", code=2)
    assert_one_line_error(invoke("denoise", photos, *model, "--max-megapixels", "-1"), "--max-megapixels", code=2)


def test_compare_grid_has_a_row_per_noise_level(image_folder, tmp_path):
    grid = tmp_path / "grid.png"
    args = ["compare", "noisy", "tv", "--data", image_folder, "--report", tmp_path / "c.json", "--grid", grid]
    one = invoke(*args)
    assert one.exit_code == 0, one.output
    height = Image.open(grid).height
    three = invoke(*args, "--sigma", "15,25,50", "--overwrite")
    assert three.exit_code == 0, three.output
    assert "sigma 15, sigma 25, sigma 50" in three.stdout
    rows = len(json.loads((tmp_path / "c.json").read_text())["images"][:3])
    assert (Image.open(grid).height - 10) * rows == (height - 10) * 3  # one row per level (of the first image)
