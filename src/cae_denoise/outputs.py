"""The one way cae-denoise writes a file: complete or not at all, and never over a file it was not asked to replace.

``write_file`` writes the bytes to a temporary file that ``tempfile.mkstemp`` creates exclusively, under a
random name, in the target folder (so no planted link is ever followed, and the final rename stays on one
filesystem), flushes it to disk, and then either

- claims the final name atomically (``os.link``, which fails if the name exists, even as a dangling link),
  so neither an existing file nor one that appeared while we were working is ever replaced; or
- with ``overwrite``, renames over the final name (``os.replace``; a link at that name is replaced, never
  followed).

A reader never sees a half-written file, and an interrupted write leaves no temporary file behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from .errors import CaeDenoiseError, UsageError


def ensure_folder(folder: str | Path, label: str | None = None) -> Path:
    """Create ``folder`` (and its parents) if needed; a one-line error if it cannot be."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise CaeDenoiseError(f"{label or folder}: exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CaeDenoiseError(f"{label or folder}: cannot create the folder ({error.strerror or error})") from error
    return folder


def _claim(temporary: str, path: Path) -> None:
    """Give ``temporary`` the name ``path`` only if nothing has that name; FileExistsError otherwise."""
    try:
        os.link(temporary, path)
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        # No hard links on this filesystem: reserve the name exclusively, then rename onto our own placeholder.
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o644)
        os.close(descriptor)
        os.replace(temporary, path)


def write_file(path: str | Path, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically; refuse if ``path`` exists unless ``overwrite``. Returns ``path``."""
    path = Path(path)
    ensure_folder(path.parent)
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise CaeDenoiseError(f"{path}: cannot write in {path.parent} ({error.strerror or error})") from error
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private; outputs are ordinary files
        if overwrite:
            os.replace(temporary, path)
        else:
            _claim(temporary, path)
    except FileExistsError as error:
        raise CaeDenoiseError(f"{path} exists (or appeared while working); pass --overwrite to replace it") from error
    except IsADirectoryError as error:
        raise CaeDenoiseError(f"{path}: is a folder, cannot write a file there") from error
    except OSError as error:
        raise CaeDenoiseError(f"{path}: cannot write ({error.strerror or error})") from error
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return path


def check_output_option(path: Path | None, option: str, suffix: str, *, overwrite: bool) -> None:
    """Refuse an output option before any work starts: a file name without ``suffix`` (e.g. ``.json``), or a
    file that exists when the user did not ask to ``overwrite`` it."""
    if path is None:
        return
    if path.suffix.lower() != suffix:
        raise UsageError(f"{option} {path}: give a {suffix} file name")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise UsageError(f"{path} exists; pass --overwrite to replace it")
