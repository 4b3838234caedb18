"""Hostile inputs through the real command line: files that are not regular ones, sizes without bound,
data sets that would not fit in memory, TIFF variants, and options that do not apply.

Each case asserts the exit code (2 bad usage, 1 bad input), one ``error:`` line naming the file or option, no
traceback, and the hash of every file under the case's folder before and after. Nothing here can hang if the
code regresses: a FIFO is guarded so that opening it fails the test (``helpers.forbid_opening``), and memory
limits run in a subprocess with a timeout.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from helpers import forbid_opening, image_bytes, save_png, texture
from PIL import ExifTags, Image
from test_hostile import assert_refused, error_lines, invoke, photo, snapshot

from cae_denoise.io.images import read_rgb
from cae_denoise.models.checkpoint import load_checkpoint, load_model
from cae_denoise.models.inference import denoise_array

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
RNG = np.random.default_rng(20)


def train_args(data: Path | str, out: Path, *more: object) -> list[object]:
    tiny = ["--batch-size", "2", "--epochs", "1", "--steps-per-epoch", "1", "--channels", "4"]
    patch = [] if "--resize" in more else ["--patch", "16"]  # the two are refused together
    return ["train", "--data", data, "--out", out, "--device", "cpu", *patch, *tiny, *more]


def photos(folder: Path, count: int = 3, size: tuple[int, int] = (24, 26)) -> Path:
    for index in range(count):
        photo(folder / f"{index}.png", index, size)
    return folder


# --- no hangs: only regular files are opened --------------------------------------------------------------


@needs_fifo
def test_a_fifo_in_a_folder_to_denoise_is_named_in_a_note_and_never_opened(tmp_path, checkpoint, monkeypatch):
    folder = tmp_path / "photos"
    photo(folder / "a.png")
    os.mkfifo(folder / "pipe.png")
    forbid_opening(monkeypatch, folder / "pipe.png")
    result = invoke("denoise", folder, "--model", checkpoint, "--device", "cpu")
    assert result.exit_code == 0, result.output
    [note] = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert "1 entry left out" in note and note.endswith("pipe.png")
    assert (folder / "a_denoised.png").is_file() and not (folder / "pipe_denoised.png").exists()


@needs_fifo
def test_a_fifo_named_as_an_image_is_refused_and_the_rest_completes(tmp_path, checkpoint, monkeypatch):
    good = photo(tmp_path / "a.png")
    os.mkfifo(tmp_path / "fifo.png")
    forbid_opening(monkeypatch, tmp_path / "fifo.png")
    before = snapshot(tmp_path)
    result = invoke("denoise", good, tmp_path / "fifo.png", "--model", checkpoint, "--device", "cpu")
    assert result.exit_code == 1
    [line] = error_lines(result)
    assert line.endswith("fifo.png: is a FIFO (named pipe), not an image file; only regular files are read"), line
    assert "1 of 2 files done" in result.stdout
    after = snapshot(tmp_path)
    assert set(after) - set(before) == {"a_denoised.png"} and {name: after[name] for name in before} == before


@needs_fifo
@pytest.mark.parametrize("option", ["--data", "--noisy-data"])
def test_a_fifo_named_as_data_is_refused(tmp_path, option, monkeypatch):
    os.mkfifo(tmp_path / "fifo.zip")
    forbid_opening(monkeypatch, tmp_path / "fifo.zip")
    clean = photos(tmp_path / "clean")
    before = snapshot(tmp_path)
    args = ["--noisy-data", tmp_path / "fifo.zip"] if option == "--noisy-data" else []
    data = clean if option == "--noisy-data" else tmp_path / "fifo.zip"
    result = invoke(*train_args(data, tmp_path / "run", *args))
    assert_refused(result, 1, "fifo.zip: is a FIFO (named pipe), not an archive file")
    assert snapshot(tmp_path) == before and not (tmp_path / "run").exists()


@needs_fifo
def test_a_fifo_inside_a_data_folder_is_skipped_with_its_reason(tmp_path, checkpoint, monkeypatch):
    data = photos(tmp_path / "photos", 4)
    os.mkfifo(data / "fifo.png")
    (data / "link.png").symlink_to(data / "0.png")
    forbid_opening(monkeypatch, data / "fifo.png")
    report = tmp_path / "report.json"
    result = invoke("evaluate", checkpoint, "--data", data, "--split", "all", "--report", report, "--device", "cpu")
    assert result.exit_code == 0, result.output
    body = json.loads(report.read_text())
    assert sorted(body["images"]) == ["0.png", "1.png", "2.png", "3.png"]
    assert body["skipped_files"] == [
        "fifo.png: is a FIFO (named pipe), not a regular file: not opened",
        "link.png: a link to a file: links in a data folder are not followed",
    ]
    assert "note: skipped fifo.png: is a FIFO" in result.stderr


@needs_fifo
@pytest.mark.parametrize("option", ["--model", "--init"])
def test_a_fifo_named_as_a_checkpoint_is_refused(tmp_path, option, monkeypatch):
    os.mkfifo(tmp_path / "model.pt")
    forbid_opening(monkeypatch, tmp_path / "model.pt")
    if option == "--model":
        source = photo(tmp_path / "a.png")
        result = invoke("denoise", source, "--model", tmp_path / "model.pt", "--device", "cpu")
    else:
        result = invoke(*train_args(photos(tmp_path / "photos"), tmp_path / "run", "--init", tmp_path / "model.pt"))
    assert_refused(result, 1, "model.pt: is a FIFO (named pipe), not a checkpoint file")
    assert not (tmp_path / "a_denoised.png").exists()


# --- bounds checked before any work -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--resize", "100000"], "--resize 100000: must be between 11 and 2048"),
        (["--batch-size", "200000"], "--batch-size 200000: must be between 1 and 4096"),
        (["--patch", "100000"], "--patch 100000: must be between 8 and 1024"),
        (["--dead-leaves", "100000"], "--dead-leaves 100000: must be between 0 and 1000"),
        (["--channels", "512", "--depth", "6"], "--channels 512 --depth 6: the model would have"),
        (["--negative-slope", "nan"], "--negative-slope nan: must be between 0 and 1"),
        (["--negative-slope", "5"], "--negative-slope 5: must be between 0 and 1"),
        (["--init", ""], "--init: give a checkpoint file, or 'default'"),
        (["--max-megapixels", "0"], "--max-megapixels 0: must be between 1 and 1000000"),
    ],
)
def test_training_options_out_of_bounds_are_refused_before_any_work(tmp_path, image_folder, args, fragment):
    before = snapshot(image_folder)
    result = invoke(*train_args(image_folder, tmp_path / "run", *args))
    assert_refused(result, 2, fragment)
    assert not (tmp_path / "run").exists() and snapshot(image_folder) == before


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--noise", "camera"], "--noise"),
        (["--sigma", "5-50"], "--sigma"),
        (["--val-noise", "camera:high"], "--val-noise"),
    ],
)
@pytest.mark.parametrize("clean", [False, True])
def test_synthetic_noise_options_for_noisy_photos_are_refused(tmp_path, args, option, clean):
    noisy = photos(tmp_path / "noisy")
    more = ["--noisy-data", noisy, *args]
    command = train_args(photos(tmp_path / "clean"), tmp_path / "run", *more)
    if not clean:
        command = [item for item in command if item not in ("--data", tmp_path / "clean")]
    result = invoke(*command)
    assert_refused(result, 2, f"{option} applies to training on clean images with synthetic noise")
    assert not (tmp_path / "run").exists()


def test_data_and_noisy_data_naming_one_folder_are_refused(tmp_path):
    noisy = photos(tmp_path / "shots")
    result = invoke(*train_args(noisy, tmp_path / "run", "--noisy-data", f"{noisy}/."))
    assert_refused(result, 2, "are the same images")
    report = tmp_path / "r.json"
    result = invoke("evaluate", "default", "--data", noisy, "--noisy-data", noisy, "--report", report)
    assert_refused(result, 2, "are the same images")
    assert not report.exists() and not (tmp_path / "run").exists()


# --- a memory budget ------------------------------------------------------------------------------------


def test_a_small_zip_of_images_too_large_together_is_refused_before_decoding(tmp_path, checkpoint):
    flat = image_bytes(Image.new("RGB", (320, 320), (10, 20, 30)), compress_level=9)
    archive = tmp_path / "flat.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for index in range(12):
            bundle.writestr(f"{index:02d}.png", flat)
    report = tmp_path / "report.json"
    before = snapshot(tmp_path)
    args = ["--data", archive, "--split", "all", "--report", report, "--device", "cpu", "--max-megapixels", "1"]
    result = invoke("evaluate", checkpoint, *args)
    assert_refused(result, 1, "flat.zip: 12 images of 1.2 megapixels in all, over the 1-megapixel budget")
    assert snapshot(tmp_path) == before
    result = invoke("evaluate", checkpoint, *args[:-1], "2")
    assert result.exit_code == 0, result.output
    assert len(json.loads(report.read_text())["images"]) == 12


def test_running_out_of_memory_while_denoising_is_one_line(tmp_path, checkpoint, monkeypatch):
    from cae_denoise.models import inference

    def fail(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(inference, "run_model", fail)
    source = photo(tmp_path / "a.png")
    before = snapshot(tmp_path)
    result = invoke("denoise", source, "--model", checkpoint, "--device", "cpu")
    assert_refused(result, 1, "a.png: 26x24 pixels: too large to denoise in the memory available")
    assert snapshot(tmp_path) == before


_UNDER_A_MEMORY_LIMIT = """
import resource, sys
import numpy as np
from cae_denoise.errors import CaeDenoiseError

def limit_memory(extra_mib):
    size = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmSize"))
    resource.setrlimit(resource.RLIMIT_AS, (size + extra_mib * 2**20, size + extra_mib * 2**20))

try:
    {body}
except CaeDenoiseError as error:
    print("error:", error)
"""


def _under_a_memory_limit(body: str) -> subprocess.CompletedProcess:
    code = _UNDER_A_MEMORY_LIMIT.format(body=textwrap.indent(textwrap.dedent(body), "    ").strip())
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc and RLIMIT_AS")
def test_a_real_allocation_failure_is_the_too_large_line(tmp_path):
    big = tmp_path / "big.png"
    Image.new("RGB", (4000, 3000), (30, 60, 90)).save(big)  # 12 MP: 40 KB on disk, 144 MB as float32
    decoding = _under_a_memory_limit(
        f"""
        from cae_denoise.io.images import decode_image
        limit_memory(60)
        decode_image({str(big)!r})
        """
    )
    assert decoding.returncode == 0, decoding.stderr
    assert decoding.stdout.strip() == f"error: {big}: too large to decode in the memory available"
    denoising = _under_a_memory_limit(
        """
        import torch
        torch.set_num_threads(1)
        from cae_denoise.models.inference import denoise_array
        from cae_denoise.models.architectures import create_model
        model = create_model("leaky", channels=4, depth=1).eval()
        denoise_array(model, np.zeros((64, 64, 3), np.float32))  # kernels and thread pools made before the limit
        image = np.full((3000, 3000, 3), 0.5, np.float32)
        limit_memory(60)
        denoise_array(model, image)
        """
    )
    assert denoising.returncode == 0, denoising.stderr
    assert denoising.stdout.strip() == "error: 3000x3000 pixels: too large to denoise in the memory available"


# --- TIFF variants through denoise ------------------------------------------------------------------------


def _tiff(path: Path, pixels: np.ndarray, **options: object) -> Path:
    tifffile.imwrite(path, pixels, **options)
    return path


def _denoised_as_the_library_would(loaded, source: Path) -> np.ndarray:
    """What the denoised output's 16-bit samples must be: the model on the correctly read input."""
    clean = denoise_array(loaded.model, read_rgb(source))
    return np.rint(np.clip(clean, 0, 1) * 65535).astype(np.uint16)


@pytest.mark.parametrize(
    ("pixels", "options"),
    [
        (RNG.integers(0, 65536, (3, 25, 27), dtype=np.uint16), {"photometric": "rgb", "planarconfig": "separate"}),
        (RNG.random((25, 27, 3)).astype(np.float32), {"photometric": "rgb"}),
        (RNG.random((25, 27, 3)), {"photometric": "rgb"}),
        (
            RNG.integers(0, 65536, (27, 25, 3), dtype=np.uint16),
            {"photometric": "rgb", "extratags": [(ExifTags.Base.Orientation, "H", 1, 6, True)]},
        ),
    ],
    ids=["planar-16-bit", "float32", "float64", "16-bit-turned"],
)
def test_tiff_variants_are_denoised_from_their_true_samples(tmp_path, checkpoint, pixels, options):
    source = _tiff(tmp_path / "in.tif", pixels, **options)
    args = ["--model", checkpoint, "--device", "cpu", "--format", "tiff", "--report", tmp_path / "r.json"]
    result = invoke("denoise", source, *args)
    assert result.exit_code == 0, result.output
    [record] = json.loads((tmp_path / "r.json").read_text())["files"]
    assert record["bit_depth"] == 16 and record["notes"] == []
    written = tifffile.imread(tmp_path / "in_denoised.tif")
    assert written.dtype == np.uint16 and written.shape == (25, 27, 3)
    expected = _denoised_as_the_library_would(load_model(checkpoint), source)
    assert np.abs(written.astype(np.int64) - expected).max() <= 1


@pytest.mark.parametrize(
    ("pixels", "options", "fragment"),
    [
        (RNG.random((20, 22, 3)) * 255, {"photometric": "rgb"}, "float samples range from"),
        (np.full((20, 22), np.nan, np.float32), {"photometric": "minisblack"}, "contains NaN or infinite"),
        (RNG.integers(-500, 500, (20, 22), dtype=np.int16), {}, "signed 16-bit integer samples"),
        (RNG.integers(0, 2**31, (20, 22), dtype=np.int32), {}, "signed 32-bit integer samples"),
        (RNG.integers(0, 2**32, (20, 22, 3), dtype=np.uint32), {"photometric": "rgb"}, "32-bit integer samples"),
    ],
    ids=["float-255", "nan", "int16", "int32", "uint32"],
)
def test_tiffs_that_would_be_clipped_or_guessed_are_refused(tmp_path, checkpoint, pixels, options, fragment):
    source = _tiff(tmp_path / "odd.tif", pixels, **options)
    before = snapshot(tmp_path)
    result = invoke("denoise", source, "--model", checkpoint, "--device", "cpu")
    assert_refused(result, 1, "odd.tif: ", fragment)
    assert snapshot(tmp_path) == before


# --- data weak spots ------------------------------------------------------------------------------------


def test_images_too_small_to_score_are_skipped_before_training(tmp_path):
    data = photos(tmp_path / "photos", 4, (20, 22))
    save_png(data / "icon.png", texture(9, 30, 5))
    out = tmp_path / "run"
    result = invoke(*train_args(data, out))
    assert result.exit_code == 0, result.output
    report = json.loads((out / "train_report.json").read_text())
    icon = {"name": "icon.png", "reason": "30x9 pixels: smaller than the 11x11 that SSIM needs"}
    assert icon in report["skipped_files"]


def test_a_run_folder_used_as_its_own_data_does_not_train_on_its_pictures(tmp_path):
    folder = photos(tmp_path / "shots", 4, (20, 22))
    first = invoke(*train_args(folder, folder))
    assert first.exit_code == 0, first.output
    assert (folder / "training_curves.png").is_file()
    again = invoke(*train_args(folder, folder, "--overwrite"))
    assert again.exit_code == 0, again.output
    split = load_checkpoint(folder / "best.pt")["split"]
    names = [*split["train"], *split["val"], *split["test"]]
    assert sorted(names) == ["0.png", "1.png", "2.png", "3.png"]


def test_a_tar_gz_out_of_order_gives_the_folders_images(tmp_path, checkpoint):
    import tarfile

    folder = photos(tmp_path / "photos", 5)
    archive = tmp_path / "photos.tar.gz"
    with tarfile.open(archive, "w:gz") as bundle:
        for path in sorted(folder.iterdir(), reverse=True):
            bundle.add(path, path.name)
    reports = []
    for data in (folder, archive):
        report = tmp_path / f"{data.name}.json"
        result = invoke("evaluate", checkpoint, "--data", data, "--split", "all", "--report", report, "--device", "cpu")
        assert result.exit_code == 0, result.output
        reports.append(json.loads(report.read_text()))
    assert reports[0]["images"] == reports[1]["images"]
    assert sorted(reports[0]["images"]) == ["0.png", "1.png", "2.png", "3.png", "4.png"]
    scores = [{name: m["per_image"] for name, m in r["levels"][0]["methods"].items()} for r in reports]
    assert scores[0] == scores[1]


def test_a_16_bit_tiff_read_through_the_library_matches_numpy(tmp_path):
    planes = RNG.integers(0, 65536, (3, 13, 17), dtype=np.uint16)
    source = _tiff(tmp_path / "planes.tif", planes, photometric="rgb", planarconfig="separate")
    np.testing.assert_allclose(read_rgb(source), planes.transpose(1, 2, 0) / 65535.0, atol=1e-7)
    assert read_rgb(io.BytesIO(source.read_bytes()).getvalue()).shape == (13, 17, 3)
