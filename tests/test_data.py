"""Image sources (folder, zip, tar, builtin), splits, training samples, and hostile archives."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import image_bytes, patch_zip_member, save_png, texture, to_uint8
from PIL import Image

from cae_denoise.data import sources as data
from cae_denoise.data.sources import (
    BUILTIN,
    BUILTIN_LOADERS,
    BUILTIN_TEST,
    BUILTIN_VAL,
    NamedImage,
    PatchSampler,
    Source,
    Split,
    load_builtin,
    load_source,
    make_split,
)
from cae_denoise.errors import CaeDenoiseError, UsageError


def _fake_source(names: list[str], spec: str = "somewhere") -> Source:
    pixels = np.zeros((4, 4, 3), np.float32)
    return Source(spec, [NamedImage(name, pixels) for name in names])


def _tree(root: Path) -> set[str]:
    """Every path under ``root`` (files, folders, links), relative."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


# --- sources ----------------------------------------------------------------------------------------------


def test_folder_is_recursive_and_ignores_non_images(image_folder, image_names):
    source = load_source(image_folder)
    assert [image.name for image in source.images] == image_names
    assert source.skipped == []
    for image in source.images:
        expected = np.asarray(Image.open(image_folder / image.name).convert("RGB"), np.float32) / 255.0
        np.testing.assert_array_equal(image.pixels, expected)
        assert image.pixels.dtype == np.float32


@pytest.mark.parametrize("archive", ["image_zip", "image_tar"])
def test_archives_give_the_same_images_as_the_folder(request, image_folder, archive):
    folder = load_source(image_folder)
    packed = load_source(request.getfixturevalue(archive))
    assert [i.name for i in packed.images] == [i.name for i in folder.images]
    for a, b in zip(folder.images, packed.images, strict=True):
        np.testing.assert_array_equal(a.pixels, b.pixels)
    assert packed.skipped == []


def test_corrupt_file_is_skipped_and_listed(tmp_path, image_folder):
    for name in ("a.png", "b.png", "sub/e.png"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        shutil.copy(image_folder / name, tmp_path / name)
    good = (image_folder / "c.png").read_bytes()
    (tmp_path / "broken.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "sub" / "text.jpg").write_text("hello")
    source = load_source(tmp_path)
    assert [i.name for i in source.images] == ["a.png", "b.png", "sub/e.png"]
    assert [name for name, _ in source.skipped] == ["broken.png", "sub/text.jpg"]
    assert all(reason for _, reason in source.skipped)


def test_corrupt_member_of_zip_is_skipped(tmp_path, image_folder):
    path = tmp_path / "mixed.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(image_folder / "a.png", "a.png")
        archive.writestr("bad.png", b"\x89PNG\r\n\x1a\n garbage")
    source = load_source(path)
    assert [i.name for i in source.images] == ["a.png"]
    assert [n for n, _ in source.skipped] == ["bad.png"]


def test_only_unreadable_files_is_an_error(tmp_path):
    (tmp_path / "x.png").write_bytes(b"nope")
    (tmp_path / "y.jpg").write_bytes(b"")
    with pytest.raises(CaeDenoiseError, match=r"contains no readable images \(2 files could not be read\)"):
        load_source(tmp_path)


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(CaeDenoiseError, match="contains no readable images"):
        load_source(tmp_path)


def test_bad_specs(tmp_path):
    with pytest.raises(CaeDenoiseError, match="no such folder or archive"):
        load_source(tmp_path / "nowhere")
    other = tmp_path / "list.txt"
    other.write_text("a.png\n")
    with pytest.raises(CaeDenoiseError, match=r"list\.txt: not a folder, \.zip or \.tar"):
        load_source(other)
    fake_zip = tmp_path / "fake.zip"
    fake_zip.write_bytes(b"not a zip")
    with pytest.raises(CaeDenoiseError, match=r"fake\.zip: not a readable zip archive"):
        load_source(fake_zip)
    fake_tar = tmp_path / "fake.tar.gz"
    fake_tar.write_bytes(b"not a tar")
    with pytest.raises(CaeDenoiseError, match=r"fake\.tar\.gz: not a readable tar archive"):
        load_source(fake_tar)


def test_folder_symlinks_are_not_followed(tmp_path, image_folder):
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(image_folder / "a.png", outside / "secret.png")
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(image_folder / "b.png", root / "b.png")
    (root / "link.png").symlink_to(outside / "secret.png")
    (root / "more").symlink_to(outside, target_is_directory=True)
    source = load_source(root)
    assert [i.name for i in source.images] == ["b.png"]
    assert source.skipped == [
        ("link.png", "a link to a file: links in a data folder are not followed"),
        ("more", "a link to a folder: links in a data folder are not followed"),
    ]


def test_by_names_orders_and_reports_missing(image_folder):
    source = load_source(image_folder)
    assert [i.name for i in source.by_names(["c.png", "a.png"])] == ["c.png", "a.png"]
    with pytest.raises(CaeDenoiseError, match=r"missing: zzz\.png"):
        source.by_names(["a.png", "zzz.png"])


# --- hostile archives -------------------------------------------------------------------------------------


def _png(seed: int) -> bytes:
    return image_bytes(Image.fromarray(to_uint8(texture(12, 14, seed)), mode="RGB"))


def test_zip_with_escaping_member_names_writes_nothing(tmp_path, monkeypatch):
    work = tmp_path / "a" / "b" / "work"
    work.mkdir(parents=True)
    path = work / "hostile.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("../evil.png"), _png(0))
        archive.writestr(zipfile.ZipInfo("/abs.png"), _png(1))
        archive.writestr(zipfile.ZipInfo("ok/../../../evil2.png"), _png(2))
        archive.writestr(zipfile.ZipInfo("fine.png"), _png(3))
    monkeypatch.chdir(work)
    before = _tree(tmp_path)
    source = load_source(path)
    assert _tree(tmp_path) == before
    assert len(source.images) == 4
    assert "fine.png" in [i.name for i in source.images]
    assert not Path("/abs.png").exists()


def test_tar_links_are_not_followed_and_nothing_is_written(tmp_path, monkeypatch):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(_png(5))
    work = tmp_path / "a" / "work"
    work.mkdir(parents=True)
    path = work / "hostile.tar"
    with tarfile.open(path, "w") as archive:

        def add(name: str, data: bytes | None = None, **fields: object) -> None:
            info = tarfile.TarInfo(name)
            for key, value in fields.items():
                setattr(info, key, value)
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)

        add("fine.png", _png(0))
        add("../up.png", _png(1))
        add("symlink.png", type=tarfile.SYMTYPE, linkname=str(outside / "secret.png"))
        add("relative_link.png", type=tarfile.SYMTYPE, linkname="../../outside/secret.png")
        add("hardlink.png", type=tarfile.LNKTYPE, linkname="fine.png")
    monkeypatch.chdir(work)
    before = _tree(tmp_path)
    source = load_source(path)
    assert _tree(tmp_path) == before
    assert [i.name for i in source.images] == ["../up.png", "fine.png"]
    assert source.skipped == [
        ("hardlink.png", "a link in the archive: not followed"),
        ("relative_link.png", "a link in the archive: not followed"),
        ("symlink.png", "a link in the archive: not followed"),
    ]


def _zip_with(path: Path, hostile: str) -> Path:
    """A zip holding ``fine.png`` and the member ``hostile``, both small readable PNGs, stored (not compressed)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("fine.png", _png(0))
        archive.writestr(hostile, _png(1))
    return path


def test_zip_member_declaring_300_mb_is_skipped_without_being_read(tmp_path, monkeypatch):
    path = _zip_with(tmp_path / "bomb.zip", "bomb.png")
    patch_zip_member(path, "bomb.png", size=300 * 2**20)
    assert path.stat().st_size < 4096
    opened = []
    original_open = zipfile.ZipFile.open

    def recording_open(self: zipfile.ZipFile, member: zipfile.ZipInfo, *args: object, **kwargs: object):
        opened.append(member.filename)
        return original_open(self, member, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", recording_open)
    source = load_source(path)
    assert [i.name for i in source.images] == ["fine.png"]
    assert source.skipped == [("bomb.png", "member of 300 MiB exceeds the 256 MiB limit")]
    assert "bomb.png" not in opened and "fine.png" in opened, "the oversized member is never opened"


@pytest.mark.parametrize("suffix", [".zip", ".tar.gz"])
def test_members_above_the_limit_are_skipped(tmp_path, monkeypatch, suffix):
    monkeypatch.setattr(data, "MAX_MEMBER_BYTES", 2**20)
    big = bytes(3 * 2**19)  # 1.5 MiB of zeros: compresses to almost nothing, like a bomb
    path = tmp_path / f"big{suffix}"
    if suffix == ".zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("big.png", big)
            archive.writestr("fine.png", _png(0))
    else:
        with tarfile.open(path, "w:gz") as archive:
            for name, content in (("big.png", big), ("fine.png", _png(0))):
                info = tarfile.TarInfo(name)
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    source = load_source(path)
    assert [i.name for i in source.images] == ["fine.png"]
    assert source.skipped == [("big.png", "member of 1.5 MiB exceeds the 1 MiB limit")]


def test_zip_member_understating_its_size_is_not_read_past_it(tmp_path):
    path = _zip_with(tmp_path / "liar.zip", "liar.png")
    patch_zip_member(path, "liar.png", size=10)
    source = load_source(path)
    assert [i.name for i in source.images] == ["fine.png"]
    assert source.skipped == [("liar.png", "unreadable archive member (Bad CRC-32 for file 'liar.png')")]


def test_bounded_read_stops_at_the_limit(monkeypatch):
    monkeypatch.setattr(data, "MAX_MEMBER_BYTES", 2**20)
    stream = io.BytesIO(bytes(2**20 + 100))
    with pytest.raises(CaeDenoiseError, match=r"^a\.zip:m\.png: member decompresses to more than the 1 MiB limit$"):
        data._read_bounded(stream, "a.zip:m.png")
    assert stream.tell() == 2**20 + 1, "nothing read past the limit (and one byte)"
    assert data._read_bounded(io.BytesIO(bytes(2**20)), "a.zip:m.png") == bytes(2**20)


def test_encrypted_zip_member_is_skipped(tmp_path):
    path = _zip_with(tmp_path / "locked.zip", "secret.png")
    patch_zip_member(path, "secret.png", flags=0x1)
    source = load_source(path)
    assert [i.name for i in source.images] == ["fine.png"]
    assert source.skipped == [("secret.png", "encrypted member (password required)")]


@pytest.mark.parametrize(("method", "name"), [(9, "Deflate64"), (98, "PPMd"), (200, "number 200")])
def test_zip_member_with_unsupported_compression_is_skipped(tmp_path, method, name):
    path = _zip_with(tmp_path / "odd.zip", "odd.png")
    patch_zip_member(path, "odd.png", method=method)
    source = load_source(path)
    assert [i.name for i in source.images] == ["fine.png"]
    assert source.skipped == [("odd.png", f"compression method {name} is not supported; re-zip it with deflate")]


def test_zip_member_with_an_empty_name_is_ignored(tmp_path):
    path = tmp_path / "blank.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo(""), _png(1))
        archive.writestr("fine.png", _png(0))
    assert [i.name for i in load_source(path).images] == ["fine.png"]


def test_truncated_tar_gz_is_one_error(tmp_path):
    path = tmp_path / "cut.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for seed in range(4):
            content = _png(seed)
            info = tarfile.TarInfo(f"{seed}.png")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) * 3 // 4])
    with pytest.raises(CaeDenoiseError, match=r"cut\.tar\.gz: damaged or truncated tar archive \(.+\)$") as caught:
        load_source(path)
    assert "\n" not in str(caught.value)


# --- built-in set -----------------------------------------------------------------------------------------


def test_load_builtin_some_names():
    images = load_builtin(["coffee", "camera"])
    assert [i.name for i in images] == ["coffee", "camera"]
    for image in images:
        assert image.pixels.dtype == np.float32
        assert image.pixels.ndim == 3 and image.pixels.shape[2] == 3
        assert image.pixels.min() >= 0.0 and image.pixels.max() <= 1.0
    camera = images[1].pixels
    np.testing.assert_array_equal(camera[..., 0], camera[..., 2])  # grayscale replicated


def test_load_all_builtin():
    source = load_source(BUILTIN)
    assert [i.name for i in source.images] == list(BUILTIN_LOADERS)
    for image in source.images:
        assert image.pixels.dtype == np.float32
        assert image.pixels.shape[2] == 3, image.name
        assert image.pixels.min() >= 0.0 and image.pixels.max() <= 1.0, image.name


def test_builtin_split():
    split = make_split(_fake_source(list(BUILTIN_LOADERS), spec=BUILTIN))
    assert split.test == BUILTIN_TEST and len(split.test) >= 8  # enough images for a paired test to decide
    assert split.val == BUILTIN_VAL == ("rocket",)
    assert {"chelsea", "coffee", "motorcycle_left", "astronaut"} <= set(split.test)
    assert not set(split.train) & (set(split.test) | set(split.val))
    assert set(split.part("all")) == set(BUILTIN_LOADERS)


# --- splits -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [3, 4, 6, 10, 25, 60])
def test_split_is_deterministic_disjoint_and_complete(count):
    names = [f"img_{i:03d}.png" for i in range(count)]
    split = make_split(_fake_source(names))
    again = make_split(_fake_source(list(reversed(names))))
    assert split == again
    train, val, test = set(split.train), set(split.val), set(split.test)
    assert not train & val and not train & test and not val & test
    assert train | val | test == set(names)
    assert len(split.train) + len(split.val) + len(split.test) == count
    assert len(val) >= 1 and len(test) >= 1 and len(train) >= 1
    if count >= 10:  # about 10% each by hash; never most of the data
        assert len(val) + len(test) <= count // 2


@pytest.mark.parametrize("count", [0, 1, 2])
def test_split_needs_three_images(count):
    with pytest.raises(CaeDenoiseError, match="at least 3"):
        make_split(_fake_source([f"{i}.png" for i in range(count)]))


def test_split_parts_and_round_trip():
    split = Split(("a", "b"), ("c",), ("d",))
    assert Split(*(tuple(part) for part in split.to_dict().values())) == split
    assert split.part("all") == ("a", "b", "c", "d")
    assert split.part("val") == ("c",)
    with pytest.raises(UsageError, match="--split 'everything': choose train, val, test or all"):
        split.part("everything")


def test_split_is_stable_when_images_are_added():
    names = [f"img{i:03d}.png" for i in range(60)]
    before = make_split(_fake_source(names))
    after = make_split(_fake_source([*names, "img060.png", "img061.png", "img062.png"]))
    # Precondition: every part is filled by hash alone (tiny sets borrow a train image, see make_split).
    assert len(before.val) >= 2 and len(before.test) >= 2
    for part in ("train", "val", "test"):
        assert set(before.part(part)) <= set(after.part(part)), part


# --- training samples -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_images() -> list[NamedImage]:
    return [NamedImage(f"{i}", texture(h, w, 100 + i)) for i, (h, w) in enumerate([(21, 25), (30, 19), (17, 17)])]


def _symmetries(tensor: torch.Tensor) -> list[torch.Tensor]:
    flipped = tensor.flip(2)
    return [torch.rot90(t, k, dims=(1, 2)) for t in (tensor, flipped) for k in range(4)]


def _is_crop_of_some_image(sample: torch.Tensor, images: list[NamedImage]) -> bool:
    size = sample.shape[-1]
    for image in images:
        pixels = torch.from_numpy(image.pixels.transpose(2, 0, 1))
        for view in _symmetries(sample):
            windows = pixels.unfold(1, size, 1).unfold(2, size, 1)  # 3 x nh x nw x size x size
            if (windows == view[:, None, None]).all(dim=(0, 3, 4)).any():
                return True
    return False


def test_patch_samples_are_crops_under_the_square_symmetries(small_images):
    samples = PatchSampler(small_images, patch=16)
    batch = samples.batch(12, torch.Generator().manual_seed(3))
    assert batch.shape == (12, 3, 16, 16)
    assert batch.dtype == torch.float32
    assert float(batch.min()) >= 0.0 and float(batch.max()) <= 1.0
    for sample in batch:
        assert _is_crop_of_some_image(sample, small_images)


def test_patch_sampling_is_seeded(small_images):
    samples = PatchSampler(small_images, patch=16)
    first = samples.batch(6, torch.Generator().manual_seed(11))
    second = samples.batch(6, torch.Generator().manual_seed(11))
    other = samples.batch(6, torch.Generator().manual_seed(12))
    assert torch.equal(first, second)
    assert not torch.equal(first, other)


def test_patch_mode_skips_small_images_and_weights_by_area(small_images):
    samples = PatchSampler(small_images, patch=18)
    assert samples.skipped_small == 1  # the 17x17 image
    areas = torch.tensor([21 * 25, 30 * 19], dtype=torch.float64)
    torch.testing.assert_close(samples.weights, areas / areas.sum())
    with pytest.raises(CaeDenoiseError, match="lower --patch"):
        PatchSampler(small_images, patch=31)


def test_resize_mode(small_images):
    samples = PatchSampler(small_images, resize=24)
    batch = samples.batch(5, torch.Generator().manual_seed(0))
    assert batch.shape == (5, 3, 24, 24)
    assert float(batch.min()) >= 0.0 and float(batch.max()) <= 1.0
    assert samples.skipped_small == 0
    assert torch.equal(batch, samples.batch(5, torch.Generator().manual_seed(0)))


def test_sample_source_needs_exactly_one_mode(small_images):
    with pytest.raises(ValueError, match="exactly one"):
        PatchSampler(small_images)
    with pytest.raises(ValueError, match="exactly one"):
        PatchSampler(small_images, patch=8, resize=8)


def test_folder_with_unicode_and_spaces(tmp_path):
    for i, name in enumerate(["ümlaut photo.png", "space in name.PNG", "z.jpeg"]):
        save_png(tmp_path / name, texture(12, 13, i))
    source = load_source(str(tmp_path) + os.sep)
    assert sorted(i.name for i in source.images) == sorted(["ümlaut photo.png", "space in name.PNG", "z.jpeg"])


# --- the device-side sampler (CUDA in training; its code runs the same on the CPU here) -----------------------


def _device_sampler(images, **sizes):
    from cae_denoise.data.sources import DevicePatchSampler

    return DevicePatchSampler(images, device=torch.device("cpu"), **sizes)


def test_device_sampler_cuts_every_symmetry_of_real_crops(small_images):
    sampler = _device_sampler(small_images[:1], patch=12)
    image = torch.from_numpy(small_images[0].pixels.transpose(2, 0, 1).copy())
    batch = sampler.batch(300, torch.Generator().manual_seed(0))
    assert batch.shape == (300, 3, 12, 12) and batch.dtype == torch.float32
    height, width = image.shape[1:]
    seen = set()
    for crop in batch:
        found = [
            (top, left, symmetry)
            for symmetry in range(8)
            for top in range(height - 11)
            for left in range(width - 11)
            if torch.equal(
                torch.rot90(
                    (lambda c: c.flip(2) if symmetry & 4 else c)(image[:, top : top + 12, left : left + 12]),
                    symmetry & 3,
                    dims=(1, 2),
                ),
                crop,
            )
        ]
        assert found, "every sample is a flipped/rotated crop of the image"
        seen.add(found[0][2])
    assert seen == set(range(8))


def test_device_sampler_is_seeded_resumable_and_area_weighted(small_images):
    sampler = _device_sampler(small_images, patch=16)
    generator = torch.Generator().manual_seed(3)
    first = sampler.batch(8, generator)
    state = generator.get_state()
    second = sampler.batch(8, generator)
    assert torch.equal(first, sampler.batch(8, torch.Generator().manual_seed(3)))
    generator.set_state(state)
    assert torch.equal(second, sampler.batch(8, generator))  # a saved state continues the stream
    areas = torch.tensor([image.pixels.shape[0] * image.pixels.shape[1] for image in small_images], dtype=torch.float64)
    torch.testing.assert_close(sampler.weights, areas / areas.sum())


def test_device_sampler_keeps_paired_channels_aligned(small_images):
    from cae_denoise.data.sources import NamedImage

    clean = small_images[0].pixels
    stacked = NamedImage("pair", np.concatenate([clean, 1 - clean], axis=2))
    batch = _device_sampler([stacked], patch=16).batch(16, torch.Generator().manual_seed(1))
    torch.testing.assert_close(batch[:, 3:], 1 - batch[:, :3])


def test_an_archive_member_name_given_twice_is_read_once(tmp_path):
    import warnings

    data = image_bytes(Image.fromarray(to_uint8(texture(20, 20, 1))))
    path = tmp_path / "dup.zip"
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as archive:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate it is asked to write
        for name in ("a.png", "a.png", "b.png", "c.png"):
            archive.writestr(name, data)
    source = load_source(path)
    assert [image.name for image in source.images] == ["a.png", "b.png", "c.png"]
    assert source.skipped == [("a.png", "duplicate member name; only the first is used")]


# --- reading order, kinds of file, the data-set budget --------------------------------------------------------


class _CountingReader(io.RawIOBase):
    """A file opened for reading that counts the bytes read through it."""

    def __init__(self, handle: io.BufferedReader, counter: list[int]) -> None:
        self.handle, self.counter = handle, counter

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self.handle.readinto(buffer)
        self.counter[0] += count
        return count

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.handle.seek(offset, whence)

    def tell(self) -> int:
        return self.handle.tell()

    def close(self) -> None:
        self.handle.close()
        super().close()


def test_a_tar_gz_stored_out_of_name_order_is_read_in_a_few_passes(tmp_path, monkeypatch):
    names = [f"img{index:02d}.png" for index in range(40)]
    path = tmp_path / "reversed.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for index, name in reversed(list(enumerate(names))):
            content = image_bytes(Image.fromarray(to_uint8(texture(12, 13, index))), compress_level=0)
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    counter = [0]
    real_open = data.open_regular
    monkeypatch.setattr(data, "open_regular", lambda *args: _CountingReader(real_open(*args), counter))
    source = load_source(path)
    assert [image.name for image in source.images] == names, "sorted by name, as before"
    np.testing.assert_array_equal(source.images[5].pixels, to_uint8(texture(12, 13, 5)) / np.float32(255))
    # read by name, each member would seek back and restart gzip from the start: about 20 passes here
    assert counter[0] <= 4 * path.stat().st_size, f"read {counter[0] / path.stat().st_size:.1f} times"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_in_a_data_folder_is_skipped_unopened_and_a_fifo_archive_is_refused(tmp_path, monkeypatch):
    from helpers import forbid_opening

    for index in range(3):
        save_png(tmp_path / "photos" / f"{index}.png", texture(16, 17, index))
    os.mkfifo(tmp_path / "photos" / "pipe.png")
    os.mkfifo(tmp_path / "pipe.zip")
    forbid_opening(monkeypatch, tmp_path / "photos" / "pipe.png")
    forbid_opening(monkeypatch, tmp_path / "pipe.zip")
    source = load_source(tmp_path / "photos")
    assert [image.name for image in source.images] == ["0.png", "1.png", "2.png"]
    assert source.skipped == [("pipe.png", "is a FIFO (named pipe), not a regular file: not opened")]
    with pytest.raises(CaeDenoiseError, match=r"pipe\.zip: is a FIFO \(named pipe\), not an archive file"):
        load_source(tmp_path / "pipe.zip")


def test_a_run_folder_given_as_its_data_skips_the_runs_own_pictures(tmp_path):
    from cae_denoise.config import BEST, CURVES

    for index in range(3):
        save_png(tmp_path / f"{index}.png", texture(16, 17, index))
    save_png(tmp_path / CURVES, texture(20, 30, 9))
    assert CURVES in [image.name for image in load_source(tmp_path).images], "a photo of that name, alone, is data"
    (tmp_path / BEST).write_bytes(b"a checkpoint")
    source = load_source(tmp_path)
    assert [image.name for image in source.images] == ["0.png", "1.png", "2.png"]
    assert source.skipped == [(CURVES, "a training run's own picture (beside its checkpoints), not data")]


def test_images_too_small_to_score_are_skipped_from_their_header(tmp_path, monkeypatch):
    for index in range(3):
        save_png(tmp_path / f"{index}.png", texture(11, 12, index))
    save_png(tmp_path / "tiny.png", texture(10, 40, 5))
    decoded = []
    real_read = data.read_rgb
    monkeypatch.setattr(data, "read_rgb", lambda source, label: decoded.append(label) or real_read(source, label))
    source = load_source(tmp_path)
    assert [image.name for image in source.images] == ["0.png", "1.png", "2.png"]
    assert source.skipped == [("tiny.png", "40x10 pixels: smaller than the 11x11 that SSIM needs")]
    assert not any(label.endswith("tiny.png") for label in decoded)


def _refuse_decoding(monkeypatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("an image was decoded")

    monkeypatch.setattr(data, "read_rgb", fail)


def test_a_zip_of_images_over_the_budget_is_refused_before_decoding(tmp_path, monkeypatch):
    # the case, scaled down: a small zip of flat PNGs that decode to far more than the budget
    flat = image_bytes(Image.new("RGB", (400, 300), (10, 20, 30)), compress_level=9)
    path = tmp_path / "flat.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(12):
            archive.writestr(f"{index:02d}.png", flat)
    assert path.stat().st_size < 12 * len(flat)
    _refuse_decoding(monkeypatch)
    with pytest.raises(CaeDenoiseError) as caught:
        load_source(path, max_megapixels=1)
    assert str(caught.value) == (
        f"{path}: 12 images of 1.4 megapixels in all, over the 1-megapixel budget for a data set (decoded they take "
        "0.0 GiB); raise it with --max-megapixels, or use fewer or smaller images"
    )


def test_a_source_within_the_budget_is_decoded(tmp_path):
    for index in range(3):
        save_png(tmp_path / f"{index}.png", texture(100, 100, index))
    assert len(load_source(tmp_path, max_megapixels=0.03).images) == 3  # 30,000 pixels: exactly the budget
    with pytest.raises(CaeDenoiseError, match=r"0\.0 megapixels in all, over the 0\.0299-megapixel budget"):
        load_source(tmp_path, max_megapixels=0.0299)


def test_both_sides_of_real_pairs_count_against_one_budget(tmp_path, monkeypatch):
    from cae_denoise.data.pairs import load_pairs

    for side in ("clean", "noisy"):
        for index in range(3):
            save_png(tmp_path / side / f"{index}.png", texture(100, 100, index))
    assert len(load_pairs(str(tmp_path / "clean"), str(tmp_path / "noisy"), max_megapixels=0.06).pairs) == 3
    _refuse_decoding(monkeypatch)
    with pytest.raises(CaeDenoiseError, match=r"clean and .*noisy: 6 images of 0\.1 megapixels in all"):
        load_pairs(str(tmp_path / "clean"), str(tmp_path / "noisy"), max_megapixels=0.05)


def test_pairs_of_one_folder_with_itself_are_refused_however_spelled(tmp_path, monkeypatch):
    from cae_denoise.data.pairs import load_pairs

    for index in range(3):
        save_png(tmp_path / "shots" / f"{index}.png", texture(16, 16, index))
    (tmp_path / "alias").symlink_to(tmp_path / "shots", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    for other in ("shots/", "./shots", str(tmp_path / "alias")):
        with pytest.raises(UsageError, match="are the same images: real pairs need the clean and the noisy"):
            load_pairs("shots", other)


def test_the_sampler_does_not_copy_the_images(small_images):
    sampler = PatchSampler(small_images, patch=16)
    for tensor, image in zip(sampler.tensors, small_images, strict=True):
        assert tensor.data_ptr() == image.pixels.ctypes.data
        torch.testing.assert_close(tensor, torch.from_numpy(image.pixels.transpose(2, 0, 1).copy()))


def test_resized_copies_over_the_budget_are_refused(small_images):
    with pytest.raises(CaeDenoiseError, match=r"--resize 1000: 3 images of 1000x1000 hold 3\.0 megapixels, over"):
        PatchSampler(small_images, resize=1000, max_megapixels=2)


def test_memory_running_out_in_the_sampler_is_the_too_large_line(small_images, monkeypatch):
    def fail(array: np.ndarray) -> torch.Tensor:
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(torch, "from_numpy", fail)
    with pytest.raises(CaeDenoiseError, match=r"^3 training images \(0\.0 megapixels\): too large to hold in the"):
        PatchSampler(small_images, patch=16)


def test_the_device_sampler_refuses_a_padded_stack_over_the_budget(small_images):
    big = NamedImage("big", texture(600, 500, 7))
    with pytest.raises(CaeDenoiseError, match=r"the 4 training images padded to the largest \(500x600\) would hold"):
        _device_sampler([*small_images, big], patch=16, max_megapixels=1)
