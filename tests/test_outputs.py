"""The one safe way to write a file: complete or absent, never over an existing file unless asked, no link
followed, no temporary left behind."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from cae_denoise.errors import CaeDenoiseError
from cae_denoise.io.outputs import ensure_folder, write_file


def _names(folder) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_writes_a_new_file_with_ordinary_permissions(tmp_path):
    path = write_file(tmp_path / "deep" / "out.bin", b"data")
    assert path.read_bytes() == b"data"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert _names(path.parent) == ["out.bin"]


def test_refuses_an_existing_file_unless_asked(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"keep me")
    with pytest.raises(CaeDenoiseError, match=r"out\.bin exists \(or appeared while working\); pass --overwrite"):
        write_file(path, b"new")
    assert path.read_bytes() == b"keep me" and _names(tmp_path) == ["out.bin"]
    write_file(path, b"new", overwrite=True)
    assert path.read_bytes() == b"new" and _names(tmp_path) == ["out.bin"]


def test_a_link_at_the_output_name_is_never_followed(tmp_path):
    victim = tmp_path / "input.png"
    victim.write_bytes(b"precious input")
    link = tmp_path / "out.png"
    link.symlink_to(victim)
    with pytest.raises(CaeDenoiseError, match="exists"):
        write_file(link, b"output")
    write_file(link, b"output", overwrite=True)
    assert victim.read_bytes() == b"precious input"
    assert not link.is_symlink() and link.read_bytes() == b"output"


def test_a_dangling_link_counts_as_taken(tmp_path):
    link = tmp_path / "out.png"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(CaeDenoiseError, match="exists"):
        write_file(link, b"output")
    assert not (tmp_path / "nowhere").exists()


def test_links_planted_at_predictable_temporary_names_are_harmless(tmp_path):
    victim = tmp_path / "input.png"
    victim.write_bytes(b"precious input")
    for name in ("out.png.tmp", ".out.png.tmp"):
        (tmp_path / name).symlink_to(victim)
    write_file(tmp_path / "out.png", b"output")
    assert victim.read_bytes() == b"precious input"
    assert (tmp_path / "out.png").read_bytes() == b"output"


def test_without_hard_links_the_name_is_still_claimed_exclusively(tmp_path, monkeypatch):
    def no_links(source, target):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    write_file(tmp_path / "out.bin", b"first")
    with pytest.raises(CaeDenoiseError, match="exists"):
        write_file(tmp_path / "out.bin", b"second")
    assert (tmp_path / "out.bin").read_bytes() == b"first" and _names(tmp_path) == ["out.bin"]


def test_unwritable_places_are_one_line_errors(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(CaeDenoiseError, match=r"file: exists and is not a folder"):
        write_file(blocker / "out.bin", b"x")
    (tmp_path / "folder").mkdir()
    with pytest.raises(CaeDenoiseError, match=r"folder: is a folder"):
        write_file(tmp_path / "folder", b"x", overwrite=True)
    with pytest.raises(CaeDenoiseError, match=r"-o out: exists and is not a folder"):
        ensure_folder(blocker, "-o out")
    assert _names(tmp_path) == ["file", "folder"]
