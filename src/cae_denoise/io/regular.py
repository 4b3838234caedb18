"""Open input files only when they are regular files, so that no input can make the tool hang.

Opening a FIFO (named pipe) for reading waits for a writer that may never come; a device can stream
forever (``/dev/zero``) or act on being opened. So an input is looked at with ``os.stat`` first, and opened
non-blocking (``O_NONBLOCK``: a FIFO swapped in after the check cannot block) and checked again on the open
descriptor, which is what is then read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from ..errors import CaeDenoiseError

#: The names of the kinds of file that are not regular, by ``stat`` test.
_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def not_regular(mode: int) -> str | None:
    """What a file of this ``st_mode`` is when it is neither a regular file nor a folder (e.g. ``a FIFO (named
    pipe)``), else None."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _refuse(mode: int, label: str, what: str) -> None:
    if stat.S_ISDIR(mode):
        raise CaeDenoiseError(f"{label}: is a folder, not {what}")
    kind = not_regular(mode)
    if kind is not None:
        raise CaeDenoiseError(f"{label}: is {kind}, not {what}; only regular files are read")


def check_regular(path: str | Path, label: str, what: str) -> None:
    """Refuse ``path`` unless it is a regular file (links followed), naming ``label`` and ``what`` was expected
    (``an image file``); a missing file raises ``FileNotFoundError`` as ``os.stat`` does."""
    _refuse(os.stat(path).st_mode, label, what)


def open_regular(path: str | Path, label: str, what: str) -> BinaryIO:
    """``path`` opened for binary reading if it is a regular file (see the module docstring), else a
    ``CaeDenoiseError`` naming ``label``. ``OSError`` (missing file, permission) passes through."""
    check_regular(path, label, what)
    handle = open(path, "rb", opener=_non_blocking)  # noqa: SIM115 - returned open
    try:
        _refuse(os.fstat(handle.fileno()).st_mode, label, what)
    except BaseException:
        handle.close()
        raise
    return handle


def _non_blocking(path: str, flags: int) -> int:
    """``open``'s opener: no waiting for a FIFO's writer, and a terminal never becomes the controlling one."""
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))


def same_file(first: str | Path, second: str | Path) -> bool:
    """Whether two paths name the same file or folder, however spelled: the same device and inode when both
    exist, else the same absolute path with links resolved."""
    try:
        return os.path.samefile(first, second)
    except OSError:  # one is missing (or a link loop): compare the spellings, resolved as far as they go
        return os.path.realpath(first) == os.path.realpath(second)
