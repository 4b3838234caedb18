"""Denoising files: input expansion, output naming, never overwriting, keeping the file's kind."""

from __future__ import annotations

import io
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import tifffile
from helpers import PNG_WRITERS, png16, png_header, png_writer, read_png_raw, save_png, texture, to_uint8
from PIL import Image

from cae_denoise.denoising import OutputSettings, denoise_files, output_path, scan_inputs
from cae_denoise.errors import CaeDenoiseError
from cae_denoise.io.images import decode_image, encode_image
from cae_denoise.models.inference import denoise_array
from cae_denoise.noise.estimate import estimate_noise_sigma
from cae_denoise.noise.models import GaussianNoise


def _noisy_texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    return GaussianNoise(20, 20).add_seeded(texture(height, width, seed), seed, 0)


def expand_inputs(items: list[str]) -> list[Path]:
    return [found.path for found in scan_inputs(items).files]


def test_output_path():
    assert output_path(Path("/a/photo.jpg"), None, "png") == Path("/a/photo_denoised.png")
    assert output_path(Path("/a/photo.jpg"), Path("/out"), "jpeg") == Path("/out/photo_denoised.jpg")
    assert output_path(Path("/a/scan.tar.png"), None, "TIFF") == Path("/a/scan.tar_denoised.tif")
    with pytest.raises(CaeDenoiseError, match="--format 'gif'"):
        output_path(Path("a.png"), None, "gif")


def test_the_output_format_follows_the_input_by_default():
    auto = {name: output_path(Path(f"/a/{name}"), None, "auto").name for name in ("x.JPG", "y.jpeg", "z.tiff", "w.TIF")}
    assert auto == {"x.JPG": "x_denoised.jpg", "y.jpeg": "y_denoised.jpg", "z.tiff": "z_denoised.tif",
                    "w.TIF": "w_denoised.tif"}  # fmt: skip
    for lossless in ("p.png", "b.bmp", "w.webp", "s.ppm"):
        assert output_path(Path(lossless), None, "auto").suffix == ".png"
    place = Path("100APPLE/IMG_0001.JPG")  # under -o, the input folder's tree is mirrored
    assert output_path(Path("DCIM") / place, Path("out"), "auto", place) == Path("out/100APPLE/IMG_0001_denoised.jpg")


def test_expand_inputs(tmp_path, monkeypatch):
    for name in ("a.png", "b.jpg", "sub/c.png", "sub/notes.txt", "other/d.png"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = expand_inputs([str(tmp_path / "sub"), str(tmp_path / "*.png"), str(tmp_path / "sub" / "c.png")])
    assert found == [tmp_path / "sub" / "c.png", tmp_path / "a.png"]
    monkeypatch.chdir(tmp_path)
    assert expand_inputs(["other/**/*.png"]) == [Path("other/d.png")]  # as the user named it
    assert expand_inputs(["./other/d.png", "other/../other/d.png"]) == [Path("other/d.png")]  # one file, once
    assert expand_inputs(["missing.png"]) == [Path("missing.png")]  # reported when read
    with pytest.raises(CaeDenoiseError, match=r"no input images found in: \*\.gif"):
        expand_inputs(["*.gif"])


def test_denoised_rgb_file_matches_the_library(tmp_path, loaded_model):
    noisy = _noisy_texture(37, 45)
    source = save_png(tmp_path / "photo.png", noisy)
    [result] = denoise_files(loaded_model, [str(source)]).files
    assert result.error is None
    assert result.output == tmp_path / "photo_denoised.png"
    assert result.megapixels == pytest.approx(37 * 45 / 1e6)
    written = np.asarray(Image.open(result.output))
    assert written.shape == (37, 45, 3)
    expected = to_uint8(denoise_array(loaded_model.model, decode_image(source).rgb))
    assert np.abs(written.astype(int) - expected).max() <= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png", "photo_denoised.png"]


def test_gray_alpha_and_16_bit_are_kept(tmp_path, loaded_model):
    gray = to_uint8(_noisy_texture(33, 29)[..., 0])
    alpha = np.random.default_rng(0).integers(0, 256, (33, 29), dtype=np.uint8)
    Image.fromarray(gray, mode="L").save(tmp_path / "gray.png")
    Image.fromarray(np.dstack([to_uint8(_noisy_texture(33, 29, 1)), alpha]), mode="RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    results = denoise_files(loaded_model, [str(tmp_path)]).files
    assert [r.error for r in results] == [None, None, None]
    outputs = {r.source.name: Image.open(r.output) for r in results}
    assert outputs["gray.png"].mode == "L"
    assert outputs["rgba.png"].mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(outputs["rgba.png"].getchannel("A")), alpha)
    assert outputs["deep.png"].mode in ("I;16", "I")
    assert png_header((tmp_path / "deep_denoised.png").read_bytes())[2] == 16
    assert all(image.size == (29, 33) for image in outputs.values())


def test_jpeg_and_tiff_outputs(tmp_path, loaded_model):
    source = save_png(tmp_path / "in.png", _noisy_texture(20, 22))
    out = tmp_path / "out"
    jpeg = denoise_files(loaded_model, [str(source)], out_dir=out, settings=OutputSettings("jpeg")).files[0]
    tiff = denoise_files(loaded_model, [str(source)], out_dir=out, settings=OutputSettings("tiff")).files[0]
    assert jpeg.output == out / "in_denoised.jpg" and jpeg.output.read_bytes()[:2] == b"\xff\xd8"
    assert tiff.output == out / "in_denoised.tif" and Image.open(tiff.output).format == "TIFF"


@pytest.mark.parametrize("writer", PNG_WRITERS)
def test_16_bit_rgb_png_stays_16_bit_with_opencv_and_says_so_without(tmp_path, loaded_model, writer):
    source = tmp_path / "deep_rgb.png"
    source.write_bytes(png16((_noisy_texture(21, 23) * 65535).astype(np.uint16)))
    with png_writer(writer):
        [result] = denoise_files(loaded_model, [str(source)]).files
    assert result.error is None and result.bit_depth == 16
    depth = png_header(result.output.read_bytes())[2]
    if writer == "opencv":
        assert depth == 16 and result.notes == []
    else:
        assert depth == 8 and "16-bit colour PNGs need OpenCV" in result.notes[-1]


def test_never_overwrites_without_permission(tmp_path, loaded_model):
    source = save_png(tmp_path / "a.png", _noisy_texture(20, 20))
    existing = tmp_path / "a_denoised.png"
    existing.write_bytes(b"precious")
    [result] = denoise_files(loaded_model, [str(source)]).files
    assert result.output is None
    assert "a_denoised.png exists; pass --overwrite" in result.error
    assert existing.read_bytes() == b"precious"
    [result] = denoise_files(loaded_model, [str(source)], settings=OutputSettings(overwrite=True)).files
    assert result.error is None
    assert np.asarray(Image.open(existing)).shape == (20, 20, 3)


def test_never_overwrites_an_input(tmp_path, loaded_model):
    first = save_png(tmp_path / "x.png", _noisy_texture(20, 20))
    second = save_png(tmp_path / "x_denoised.png", _noisy_texture(20, 20, 1))
    before = second.read_bytes()
    results = denoise_files(loaded_model, [str(first), str(second)], settings=OutputSettings(overwrite=True)).files
    by_name = {r.source.name: r for r in results}
    assert "would overwrite an input" in by_name["x.png"].error
    assert by_name["x_denoised.png"].error is None
    assert second.read_bytes() == before


def _hashes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_inputs_that_name_one_output_are_both_refused(tmp_path, loaded_model):
    save_png(tmp_path / "x.png", _noisy_texture(20, 20))
    Image.fromarray(to_uint8(_noisy_texture(20, 20, 1))).save(tmp_path / "x.jpg", quality=95)
    save_png(tmp_path / "y.png", _noisy_texture(20, 20, 2))
    results = denoise_files(loaded_model, [str(tmp_path)], settings=OutputSettings("png", overwrite=True)).files
    by_name = {r.source.name: r for r in results}
    assert "x.png: " in by_name["x.png"].error and "x.jpg would write the same output" in by_name["x.png"].error
    assert "x.png would write the same output" in by_name["x.jpg"].error
    assert by_name["y.png"].error is None
    assert not (tmp_path / "x_denoised.png").exists()


def test_same_names_in_two_folders_into_one_output_folder(tmp_path, loaded_model):
    for folder in ("a", "b"):
        save_png(tmp_path / folder / "x.png", _noisy_texture(20, 20))
    out = tmp_path / "out"
    results = denoise_files(
        loaded_model, [str(tmp_path / "a"), str(tmp_path / "b")], out_dir=out, settings=OutputSettings(overwrite=True)
    ).files
    assert all("would write the same output" in r.error for r in results)
    assert not out.exists()  # nothing to write: not even the folder


def test_side_by_side_never_replaces_an_input_or_an_existing_file(tmp_path, loaded_model):
    photo = save_png(tmp_path / "p.png", _noisy_texture(20, 20))
    planted = save_png(tmp_path / "p_denoised_side_by_side.png", _noisy_texture(20, 20, 3))
    before = _hashes(tmp_path)
    results = denoise_files(
        loaded_model, [str(photo), str(planted)], write_side_by_side=True, settings=OutputSettings(overwrite=True)
    ).files
    by_name = {r.source.name: r for r in results}
    assert "p_denoised_side_by_side.png would overwrite an input" in by_name["p.png"].error
    assert _hashes(tmp_path)["p_denoised_side_by_side.png"] == before["p_denoised_side_by_side.png"]
    assert not (tmp_path / "p_denoised.png").exists()
    (tmp_path / "q.png").write_bytes(photo.read_bytes())
    (tmp_path / "q_denoised_side_by_side.png").write_bytes(b"keep")
    [result] = denoise_files(loaded_model, [str(tmp_path / "q.png")], write_side_by_side=True).files
    assert "q_denoised_side_by_side.png exists; pass --overwrite" in result.error
    assert (tmp_path / "q_denoised_side_by_side.png").read_bytes() == b"keep"
    assert not (tmp_path / "q_denoised.png").exists()


def test_an_output_that_appears_while_running_is_not_replaced(tmp_path, loaded_model, monkeypatch):
    import cae_denoise.denoising as files

    source = save_png(tmp_path / "a.png", _noisy_texture(20, 20))
    original = files.denoise_array

    def denoise_then_another_run_writes(*args, **kwargs):
        (tmp_path / "a_denoised.png").write_bytes(b"the other run's result")
        return original(*args, **kwargs)

    monkeypatch.setattr(files, "denoise_array", denoise_then_another_run_writes)
    [result] = denoise_files(loaded_model, [str(source)]).files
    assert "appeared while working" in result.error
    assert (tmp_path / "a_denoised.png").read_bytes() == b"the other run's result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a_denoised.png"]


def test_a_link_loop_in_a_recursive_glob_or_folder_ends(tmp_path):
    photo = save_png(tmp_path / "shots" / "a.png", _noisy_texture(20, 20))
    (tmp_path / "shots" / "loop").symlink_to(tmp_path / "shots", target_is_directory=True)
    assert expand_inputs([str(tmp_path / "shots" / "**" / "*.png")]) == [photo]
    assert expand_inputs([str(tmp_path / "shots")]) == [photo]


def test_a_bad_file_does_not_stop_the_others(tmp_path, loaded_model):
    for i, name in enumerate(("a.png", "c.png")):
        save_png(tmp_path / name, _noisy_texture(18, 19, i))
    good = (tmp_path / "a.png").read_bytes()
    (tmp_path / "b.png").write_bytes(good[: len(good) // 2])
    seen, counts = [], []
    results = denoise_files(
        loaded_model,
        [str(tmp_path / n) for n in ("a.png", "b.png", "c.png", "gone.png")],
        out_dir=tmp_path / "out",
        on_start=counts.append,
        on_file=seen.append,
    ).files
    assert counts == [4]
    assert seen == results
    assert [r.error is None for r in results] == [True, False, True, False]
    assert "b.png" in results[1].error and "gone.png: file not found" in results[3].error
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_denoised.png", "c_denoised.png"]


def test_side_by_side_and_noise_estimate(tmp_path, loaded_model):
    clean = texture(64, 64, 5)
    source = save_png(tmp_path / "s.png", GaussianNoise(25, 25).add_seeded(clean, 0, 0))
    [result] = denoise_files(loaded_model, [str(source)], write_side_by_side=True).files
    assert result.error is None
    assert result.side_by_side == tmp_path / "s_denoised_side_by_side.png"
    pair = np.asarray(Image.open(result.side_by_side))
    band = pair.shape[0] - 64  # the labels, above the pictures
    assert band > 0 and pair.shape[1] == 64 + 8 + 64
    np.testing.assert_array_equal(pair[band:, :64], np.asarray(Image.open(source)))
    np.testing.assert_array_equal(pair[band:, -64:], np.asarray(Image.open(result.output)))
    assert result.estimated_sigma == pytest.approx(25, rel=0.3)


def test_estimate_noise_sigma_tracks_the_noise_level():
    clean = texture(64, 64, 6)
    estimates = [estimate_noise_sigma(GaussianNoise(s, s, clip=False).add_seeded(clean, 0, 0)) for s in (5, 15, 30)]
    assert estimates == sorted(estimates)
    assert estimates[1] == pytest.approx(15, rel=0.3)


@pytest.mark.parametrize("sigma", [5.0, 25.0, 50.0])
def test_estimate_noise_sigma_is_exact_on_pure_noise(sigma):
    flat = np.full((256, 256, 3), 0.5, np.float32)
    noisy = GaussianNoise(sigma, sigma, clip=False).add_seeded(flat, 0, 0)
    assert estimate_noise_sigma(noisy) == pytest.approx(sigma, rel=0.03)


def test_estimate_noise_sigma_agrees_with_scikit_image():
    pytest.importorskip("pywt")
    from skimage import data
    from skimage.restoration import estimate_sigma

    photo = data.chelsea()[50:306, 100:356].astype(np.float32) / 255
    noisy = GaussianNoise(20, 20).add_seeded(photo, 0, 0)
    reference = estimate_sigma(noisy, channel_axis=-1, average_sigmas=True) * 255
    assert estimate_noise_sigma(noisy) == pytest.approx(reference, rel=0.1)


def test_denoise_works_without_pywavelets(tmp_path, loaded_model, monkeypatch):
    """PyWavelets is only in the optional extras: a plain install must still denoise."""
    monkeypatch.setitem(sys.modules, "pywt", None)  # any 'import pywt' now raises ImportError
    source = save_png(tmp_path / "p.png", GaussianNoise(25, 25).add_seeded(texture(40, 40, 7), 0, 0))
    [result] = denoise_files(loaded_model, [str(source)]).files
    assert result.error is None and result.output.exists()


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 7, 3), (3, 3, 3)])
def test_estimate_noise_sigma_on_tiny_images(shape):
    value = estimate_noise_sigma(np.full(shape, 0.5, np.float32))
    assert value == 0.0


@pytest.mark.parametrize("fmt", ["png", "jpeg", "tiff"])
def test_denoised_files_keep_the_photo_s_exif_and_colour_profile(tmp_path, loaded_model, fmt):
    from PIL import ExifTags, ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[ExifTags.Base.Make], exif[ExifTags.Base.Orientation] = "TestCam", 6  # stored rotated by 90 degrees
    source = tmp_path / "shot.jpg"
    Image.fromarray(to_uint8(_noisy_texture(20, 30))).save(source, quality=95, exif=exif, icc_profile=srgb)
    [result] = denoise_files(loaded_model, [str(source)], settings=OutputSettings(fmt)).files
    assert result.error is None, result.error
    written = Image.open(result.output)
    assert written.size == (20, 30)  # turned upright once
    assert written.info.get("icc_profile") == srgb
    tags = written.getexif()
    assert tags.get(ExifTags.Base.Make) == "TestCam" and tags.get(ExifTags.Base.Orientation) == 1


def test_a_failed_write_is_that_file_s_error_and_the_others_complete(tmp_path, loaded_model, monkeypatch):
    import cae_denoise.denoising as files

    for index, name in enumerate(("a.png", "b.png", "c.png")):
        save_png(tmp_path / name, _noisy_texture(18, 19, index))
    original = files.write_file

    def refuse_b(path, data, *, overwrite):
        if path.name == "b_denoised.png":
            raise CaeDenoiseError(f"{path}: cannot write (disk full)")
        return original(path, data, overwrite=overwrite)

    monkeypatch.setattr(files, "write_file", refuse_b)
    seen = []
    results = denoise_files(loaded_model, [str(tmp_path)], on_file=seen.append).files
    assert [r.source.name for r in results] == ["a.png", "b.png", "c.png"] and seen == results
    assert [r.error is None for r in results] == [True, False, True]
    assert "b_denoised.png: cannot write (disk full)" in results[1].error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a_denoised.png", "b.png", "c.png", "c_denoised.png"]


@pytest.mark.parametrize("writers", [1, 3])
def test_images_in_flight_are_bounded(tmp_path, loaded_model, monkeypatch, writers):
    import cae_denoise.denoising as files

    for index in range(6):
        save_png(tmp_path / f"p{index}.png", _noisy_texture(18, 19, index))
    in_flight, most, lock = [0], [0], threading.Lock()  # the reader and writers count from their own threads
    read, encode_and_write = files._read, files._encode_and_write

    def counting_read(source):
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        return read(source)

    def counting_write(*args):
        try:
            return encode_and_write(*args)
        finally:
            with lock:
                in_flight[0] -= 1

    monkeypatch.setattr(files, "_read", counting_read)
    monkeypatch.setattr(files, "_encode_and_write", counting_write)
    monkeypatch.setattr(files, "encoder_threads", lambda: writers)
    results = denoise_files(loaded_model, [str(tmp_path)]).files
    assert all(r.error is None for r in results) and in_flight[0] == 0
    assert [r.source.name for r in results] == [f"p{index}.png" for index in range(6)]
    assert most[0] <= 2 + writers  # decoded next, in the model, being written: the bound whatever the timing


def test_timings_and_report_record_every_stage(tmp_path, loaded_model):
    from cae_denoise.denoising import report_body
    from cae_denoise.models.architectures import weights_sha256

    source = save_png(tmp_path / "a.png", _noisy_texture(20, 22))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    results = denoise_files(loaded_model, [str(source), str(tmp_path / "broken.png")]).files
    good = results[0]
    assert set(good.timings) == {"decode", "noise_estimate", "model", "encode", "write"}
    assert good.seconds == pytest.approx(sum(good.timings.values())) and good.bit_depth == 8
    body = report_body(loaded_model, results, "cpu", 1.5)
    assert body["model"]["weights_sha256"] == weights_sha256(loaded_model.model)
    assert (body["denoised"], body["failed"], body["device"]) == (1, 1, "cpu")
    first, second = body["files"]
    assert (
        first["input"] == str(source) and first["output"] == str(good.output) and first["megapixels"] == 20 * 22 / 1e6
    )
    assert first["estimated_sigma_255"] == good.estimated_sigma and first["seconds"]["total"] == good.seconds
    assert second["output"] is None and "broken.png" in second["error"]


def test_png_level_changes_the_size_not_the_pixels(writer):

    pixels = _noisy_texture(64, 64)
    fast, small = encode_image(pixels, png_level=1), encode_image(pixels, png_level=9)
    assert len(small) <= len(fast)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(fast))), np.asarray(Image.open(io.BytesIO(small))))
    fast16, small16 = encode_image(pixels, bit_depth=16, png_level=1), encode_image(pixels, bit_depth=16, png_level=9)
    assert len(small16) <= len(fast16) and read_png_raw(fast16).tolist() == read_png_raw(small16).tolist()


def test_what_an_output_format_cannot_keep_is_said_not_dropped_silently(tmp_path, loaded_model):
    rgba = tmp_path / "rgba.png"
    Image.fromarray(to_uint8(np.dstack([_noisy_texture(16, 18), np.ones((16, 18))]))).save(rgba)
    gray16 = tmp_path / "gray16.png"
    Image.fromarray((_noisy_texture(16, 18)[..., 0] * 65535).astype(np.uint16)).save(gray16)
    [as_jpeg] = denoise_files(loaded_model, [str(rgba)], settings=OutputSettings("jpeg")).files
    assert as_jpeg.notes == ["JPEG has no alpha channel: transparency dropped"]
    [kept] = denoise_files(loaded_model, [str(gray16)], settings=OutputSettings("tiff")).files
    assert kept.notes == [] and np.asarray(Image.open(kept.output)).dtype == np.uint16
    [as_png] = denoise_files(loaded_model, [str(rgba)], out_dir=tmp_path / "png").files
    assert as_png.notes == [] and as_png.to_dict()["notes"] == []
    rgb16 = tmp_path / "rgb16.png"
    rgb16.write_bytes(png16((_noisy_texture(16, 18) * 65535).astype(np.uint16)))
    [as_tiff] = denoise_files(loaded_model, [str(rgb16)], settings=OutputSettings("tiff")).files
    assert tifffile.imread(as_tiff.output).dtype == np.uint16  # 16-bit colour TIFF, through tifffile
    [as_jpeg16] = denoise_files(loaded_model, [str(rgb16)], settings=OutputSettings("jpeg")).files
    assert as_jpeg16.notes[-1] == "written at 8 bits (JPEG holds 8 bits only)"


# --- a photo library: mirrored trees, reruns, files that are not images, large photos, formats ----------------


def _library(root: Path) -> list[Path]:
    """A camera card: the same file name in two folders, a HEIC and a raw file beside them, hidden files."""
    photos = []
    for index, folder in enumerate(("DCIM/100APPLE", "DCIM/101APPLE")):
        path = root / folder / "IMG_0001.JPG"
        path.parent.mkdir(parents=True)
        Image.fromarray(to_uint8(_noisy_texture(20, 23, index))).save(path, quality=90)
        photos.append(path)
    photos.append(save_png(root / "DCIM" / "101APPLE" / "scan.png", _noisy_texture(21, 20, 5)))
    (root / "DCIM" / "100APPLE" / "IMG_0002.HEIC").write_bytes(b"ftypheic")
    (root / "DCIM" / "101APPLE" / "IMG_0003.CR2").write_bytes(b"II*\0raw")
    (root / "DCIM" / ".DS_Store").write_bytes(b"finder")
    (root / "DCIM" / "100APPLE" / "._IMG_0001.JPG").write_bytes(b"apple double")
    return photos


def test_a_folder_tree_is_mirrored_under_the_output_folder(tmp_path, loaded_model):
    _library(tmp_path)
    out = tmp_path / "clean"
    before = _hashes(tmp_path / "DCIM")
    run = denoise_files(loaded_model, [str(tmp_path / "DCIM")], out_dir=out)
    assert [r.error for r in run.files] == [None, None, None]
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "100APPLE/IMG_0001_denoised.jpg", "101APPLE/IMG_0001_denoised.jpg", "101APPLE/scan_denoised.png"
    ]  # fmt: skip
    assert Image.open(out / "101APPLE" / "IMG_0001_denoised.jpg").format == "JPEG"  # JPEG in, JPEG out
    assert Image.open(out / "101APPLE" / "scan_denoised.png").format == "PNG"
    assert _hashes(tmp_path / "DCIM") == before  # no input touched
    assert sorted(p.name for p in run.not_images) == ["IMG_0002.HEIC", "IMG_0003.CR2"]  # hidden files aside
    assert run.report["not_images"] == [str(p) for p in run.not_images] and run.report["denoised"] == 3


def test_mirroring_into_the_input_folder_never_overwrites_an_input(tmp_path, loaded_model):
    [first, _, scan] = _library(tmp_path)
    planted = save_png(tmp_path / "DCIM" / "101APPLE" / "scan_denoised.png", _noisy_texture(21, 20, 9))
    before = planted.read_bytes()
    inputs = [str(tmp_path / "DCIM"), str(planted)]
    run = denoise_files(loaded_model, inputs, out_dir=tmp_path / "DCIM", settings=OutputSettings(overwrite=True))
    by_name = {r.source: r for r in run.files}
    assert "would overwrite an input" in by_name[scan].error and planted.read_bytes() == before
    assert by_name[first].output == first.with_name("IMG_0001_denoised.jpg") and by_name[first].error is None


def test_skip_existing_completes_a_half_done_folder(tmp_path, loaded_model):
    _library(tmp_path)
    out = tmp_path / "clean"
    [first, *_] = denoise_files(loaded_model, [str(tmp_path / "DCIM" / "100APPLE")], out_dir=out / "100APPLE").files
    assert first.error is None
    done = first.output.read_bytes()
    keep = OutputSettings(skip_existing=True)
    rerun = denoise_files(loaded_model, [str(tmp_path / "DCIM")], out_dir=out, settings=keep)
    assert [(r.error, r.skipped) for r in rerun.files] == [(None, True), (None, False), (None, False)]
    assert rerun.files[0].output == first.output and first.output.read_bytes() == done  # kept as it was
    assert (rerun.report["denoised"], rerun.report["skipped_existing"], rerun.report["failed"]) == (2, 1, 0)
    again = denoise_files(loaded_model, [str(tmp_path / "DCIM")], out_dir=out, settings=keep)
    assert all(r.skipped and r.error is None for r in again.files)
    refused = denoise_files(loaded_model, [str(tmp_path / "DCIM")], out_dir=out).files
    assert all("exists; pass --overwrite to replace it (or --skip-existing)" in r.error for r in refused)
    both = OutputSettings(overwrite=True, skip_existing=True)
    with pytest.raises(CaeDenoiseError, match="--overwrite or --skip-existing, not both"):
        denoise_files(loaded_model, [str(tmp_path / "DCIM")], settings=both)


def test_skip_existing_writes_the_missing_side_by_side_picture_only(tmp_path, loaded_model):
    source = save_png(tmp_path / "a.png", _noisy_texture(20, 20))
    [plain] = denoise_files(loaded_model, [str(source)]).files
    written = plain.output.read_bytes()
    settings = OutputSettings(skip_existing=True)
    [result] = denoise_files(loaded_model, [str(source)], write_side_by_side=True, settings=settings).files
    assert result.error is None and not result.skipped and result.side_by_side.is_file()
    assert plain.output.read_bytes() == written


def test_a_photo_above_the_pixel_limit_is_refused_unless_the_limit_is_raised(tmp_path, loaded_model):
    source = save_png(tmp_path / "big.png", _noisy_texture(40, 50))
    [refused] = denoise_files(loaded_model, [str(source)], max_megapixels=0.001).files
    assert "more than 1,000 pixels (possible decompression bomb)" in refused.error
    assert "raise the limit with --max-megapixels" in refused.error and not (tmp_path / "big_denoised.png").exists()
    assert Image.MAX_IMAGE_PIXELS > 1000  # the limit is the run's only
    [accepted] = denoise_files(loaded_model, [str(source)], max_megapixels=0.002).files
    assert accepted.error is None and accepted.output.is_file()


def test_jpeg_quality_is_the_setting(tmp_path, loaded_model):
    source = save_png(tmp_path / "a.png", _noisy_texture(48, 48))
    sizes = {}
    for quality in (30, 95):
        settings = OutputSettings("jpeg", overwrite=True, quality=quality)
        [result] = denoise_files(loaded_model, [str(source)], settings=settings).files
        sizes[quality] = result.output.stat().st_size
        assert Image.open(result.output).format == "JPEG"
    assert sizes[30] < sizes[95]
