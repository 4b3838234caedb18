"""The one way cae-denoise writes a file: complete or not at all, never over a file it was not asked to replace,
and never over a file the command reads.

``write_file`` writes the bytes to a temporary file that ``tempfile.mkstemp`` creates exclusively, under a
random name, in the target folder (so no planted link is ever followed, and the final rename stays on one
filesystem), flushes it to disk, and then either

- claims the final name atomically (``os.link``, which fails if the name exists, even as a dangling link),
  so neither an existing file nor one that appeared while we were working is ever replaced; or
- with ``overwrite``, renames over the final name (``os.replace``; a link at that name is replaced, never
  followed).

A reader never sees a half-written file, and an interrupted write leaves no temporary file behind.

Whatever ``overwrite`` says, no file a command reads is ever replaced: a command collects the files it reads once
(a ``ReadSet``, built by ``reads.files_read``: inputs, checkpoints, the images of a data folder, archives) and
makes it active around its work with ``protecting``; ``write_file`` and ``remove_file`` refuse any path of an
active set, compared by resolved path and by device and inode (so a link to an input, a hard link to it, or
another spelling of its name is the input).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from ..errors import CaeDenoiseError, UsageError, shorten

#: The most bytes of the final name a temporary file's name repeats (it adds 14 more: a dot, a random part and
#: ``.tmp``), so an output whose name is near the filesystem's limit (255 bytes) can still be written.
TEMPORARY_NAME_BYTES = 64
#: A file name's length limit where the filesystem does not say (``os.pathconf``).
NAME_MAX = 255


class OutputExists(CaeDenoiseError):
    """The output's name is taken (an existing file, or one that appeared while working) and ``overwrite`` is off."""


def resolved(path: str | Path) -> Path:
    """``path`` made absolute with links resolved; a link loop (which cannot be resolved) stays as given."""
    path = Path(path)
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):
        return path.absolute()


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file ``path`` names (links followed), or None when there is none."""
    try:
        info = path.stat()
    except (OSError, ValueError):  # missing, a link loop, an embedded NUL
        return None
    return info.st_dev, info.st_ino


class ReadSet:
    """The files a command reads, each with its role (``"an input"``, ``"the --init checkpoint x.pt"``).

    A file is known by its resolved path and by its (device, inode), so ``role_of`` recognises it under any name:
    a link to it, a hard link, ``./x`` for ``x``, a case-insensitive filesystem's other spelling. A file that does
    not exist is not read and is not added.
    """

    def __init__(self) -> None:
        self._paths: dict[Path, str] = {}
        self._identities: dict[tuple[int, int], str] = {}

    def add(self, path: str | Path, role: str) -> None:
        """Count ``path`` as read, as ``role``."""
        identity = _identity(Path(path))
        if identity is None:
            return
        self._paths.setdefault(resolved(path), role)
        self._identities.setdefault(identity, role)

    def role_of(self, path: str | Path) -> str | None:
        """The role of the read file that ``path`` names, or None when it names none."""
        role = self._paths.get(resolved(path))
        if role is not None:
            return role
        identity = _identity(Path(path))
        return None if identity is None else self._identities.get(identity)

    def __len__(self) -> int:
        return len(self._identities)


#: The read sets of the commands running in this process (``protecting``); a plain list, not a context variable,
#: so that writer threads see them too. More sets can only refuse more writes, never fewer.
_ACTIVE: list[ReadSet] = []
_ACTIVE_LOCK = threading.Lock()


@contextlib.contextmanager
def protecting(reads: ReadSet) -> Iterator[ReadSet]:
    """Make ``reads`` active for the block: no ``write_file`` or ``remove_file`` (in any thread) may touch them."""
    with _ACTIVE_LOCK:
        _ACTIVE.append(reads)
    try:
        yield reads
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE[:] = [active for active in _ACTIVE if active is not reads]


def read_role(path: str | Path) -> str | None:
    """The role of ``path`` in an active read set (``protecting``), or None when no running command reads it."""
    with _ACTIVE_LOCK:
        active = list(_ACTIVE)
    return next(filter(None, (reads.role_of(path) for reads in active)), None)


def refuse_if_read(path: str | Path, label: str = "", error: type[CaeDenoiseError] = CaeDenoiseError) -> None:
    """Raise ``error`` when ``path`` is a file a running command reads (``label`` is e.g. ``"--report"``)."""
    role = read_role(path)
    if role is not None:
        named = f"{label} {path}" if label else str(path)
        raise error(f"{named}: this command reads it ({role}); an input is never replaced, even with --overwrite")


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


def _temporary_prefix(name: str) -> str:
    """``.NAME.`` with NAME cut to ``TEMPORARY_NAME_BYTES`` bytes (whole characters): mkstemp's random part keeps
    it unique, and a long final name does not make the temporary name too long for the filesystem."""
    return f".{os.fsencode(name)[:TEMPORARY_NAME_BYTES].decode('utf-8', 'ignore')}."  # a character cut in two goes


def write_file(path: str | Path, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically; refuse if ``path`` exists unless ``overwrite``, and always if a running
    command reads it (``protecting``). Returns ``path``."""
    path = Path(path)
    refuse_if_read(path)
    ensure_folder(path.parent)
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=_temporary_prefix(path.name), suffix=".tmp")
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
        raise OutputExists(f"{path} exists (or appeared while working); pass --overwrite to replace it") from error
    except IsADirectoryError as error:
        raise CaeDenoiseError(f"{path}: is a folder, cannot write a file there") from error
    except OSError as error:
        raise CaeDenoiseError(f"{path}: cannot write ({error.strerror or error})") from error
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return path


def remove_file(path: str | Path) -> None:
    """Remove an earlier output (``train --overwrite`` clearing an old run), never a file a running command reads."""
    refuse_if_read(path)
    Path(path).unlink(missing_ok=True)


def _name_limit(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # not said, or no pathconf on this platform
        return NAME_MAX


def check_writable_place(path: Path, label: str = "") -> None:
    """Refuse, before any work, a place where ``path`` could not be written: under a file, in a folder this user
    may not write in, or with a name longer than the filesystem allows (``label``, e.g. ``--report``, names it)."""
    named = f"{label} {path}" if label else str(path)
    missing = [path.name]
    ancestor = path.absolute().parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        missing.append(ancestor.name)
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"{named}: {ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"{named}: cannot write in {ancestor} (permission denied)")
    limit = _name_limit(ancestor)
    too_long = [name for name in missing if len(os.fsencode(name)) > limit]
    if too_long:
        raise UsageError(
            f"{shorten(named)}: the name {shorten(too_long[0], 40)} is {len(os.fsencode(too_long[0]))} "
            f"bytes, over the {limit} a file name may have here"
        )


def check_output_option(path: Path | None, option: str, suffix: str | None, *, overwrite: bool) -> None:
    """Refuse an output before any work starts: a name without ``suffix`` (e.g. ``.json``; None: any name), a file
    a running command reads (``protecting``: whatever ``overwrite`` says), a folder, a file that exists when the
    user did not ask to ``overwrite`` it, or a place it could not be written (``check_writable_place``).
    ``option`` (e.g. ``--report``, or ``""`` for an argument) names it in the messages."""
    if path is None:
        return
    named = f"{option} {path}" if option else str(path)
    if suffix is not None and path.suffix.lower() != suffix:
        raise UsageError(f"{shorten(named)}: give a {suffix} file name")
    refuse_if_read(path, option, UsageError)
    check_writable_place(path, option)  # first: a name too long for the filesystem cannot even be looked up
    if path.is_dir():
        raise UsageError(f"{named}: is a folder, give a file name")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise UsageError(f"{path} exists; pass --overwrite to replace it")
