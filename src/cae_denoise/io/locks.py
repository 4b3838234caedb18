"""One run per output folder at a time: a lock file in the folder names the process that holds it.

``run_lock(folder)`` creates ``folder/.cae-denoise.lock`` exclusively, complete with its content (written through
``outputs.write_file`` without overwrite: a temporary file claimed under the lock's name with ``os.link``, or with
``O_CREAT | O_EXCL`` where there are no hard links), naming the holder: pid, host, start time and command. A second
run is refused with one line naming the holder. A lock left by a process that is gone (same host, no process with
that pid) is replaced, with a note. The lock is removed when the block ends, however it ends (return, error,
Ctrl-C, SIGTERM: the CLI turns SIGTERM into the same exception as Ctrl-C); only SIGKILL or a power cut leaves one
behind, and the next run on that host replaces it. Within one process the lock is re-entrant, so a run inside an
experiment, or the evaluation that follows training, keeps the lock it already holds.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import CaeDenoiseError, shorten
from .outputs import OutputExists, ensure_folder, resolved, write_file

LOCK_NAME = ".cae-denoise.lock"

#: Locks this process holds: resolved lock path -> the thread that holds it.
_HELD: dict[Path, int] = {}
_HELD_LOCK = threading.Lock()


@dataclass(frozen=True)
class Holder:
    """Who holds a lock; ``token`` tells this process's lock from a stale one that names the same pid."""

    pid: int
    host: str
    started: str
    command: str
    token: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, since {self.started}: {shorten(self.command)}"


def _this_process() -> Holder:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    command = shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else "python"
    return Holder(os.getpid(), socket.gethostname(), started, command, uuid.uuid4().hex)


def read_holder(path: Path) -> Holder | None:
    """The holder a lock file names; None when it cannot be read or is not a lock this tool wrote."""
    try:
        fields = json.loads(path.read_text(encoding="utf-8"))
        holder = Holder(**fields)
    except (OSError, ValueError, TypeError):
        return None
    return holder if isinstance(holder.pid, int) and isinstance(holder.host, str) else None


def _alive(pid: int) -> bool:
    """Whether a process with this pid runs on this host (where that cannot be told, it is assumed to)."""
    if os.name == "nt":  # os.kill would end the process there: assume it runs
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):  # another user's process, or an odd pid: do not guess
        return True
    return True


def _is_stale(holder: Holder) -> bool:
    """A lock from a process that is gone: on this host, and its pid runs no process, or is this very process,
    which does not hold that lock (``_HELD``): an earlier process had the same pid, as in containers."""
    return holder.host == socket.gethostname() and (holder.pid == os.getpid() or not _alive(holder.pid))


def _created_folders(folder: Path) -> list[Path]:
    """The folders ``ensure_folder(folder)`` is about to create, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _acquire(path: Path, folder: Path, me: Holder, on_note: Callable[[str], None] | None) -> None:
    """Create the lock ``path`` naming ``me``; replace a stale one (once, with a note); refuse a live one.
    ``folder`` is the lock's folder as the user named it, for the messages."""
    content = (json.dumps(asdict(me), indent=2) + "\n").encode()
    for _ in range(2):  # the second try follows the removal of a stale lock
        try:
            write_file(path, content)
            return
        except OutputExists:
            holder = read_holder(path)
        if holder is None:
            raise CaeDenoiseError(
                f"{folder} is in use by another run (its lock {path.name} cannot be read); if no run is using "
                f"that folder, remove {folder / path.name}"
            )
        if not _is_stale(holder):
            raise CaeDenoiseError(
                f"{folder} is in use by another run ({holder.describe()}); wait for it to end, or use another folder"
            )
        if read_holder(path) == holder:  # still the same stale lock: no other run replaced it meanwhile
            path.unlink(missing_ok=True)
            if on_note:
                on_note(f"removed a lock left in {folder} by a run that is gone ({holder.describe()})")
    raise CaeDenoiseError(f"{folder} is in use by another run that started just now; try again")


@contextlib.contextmanager
def run_lock(folder: str | Path, *, on_note: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Hold ``folder``'s lock for the block (creating the folder if needed; folders it created that are still
    empty at the end are removed again). Refuses with one line if another process, or another thread of this one,
    holds it; re-entrant in the thread that holds it. Yields the lock file's path."""
    folder = Path(folder)
    path = resolved(folder) / LOCK_NAME
    thread = threading.get_ident()
    me, created = _this_process(), _created_folders(folder.absolute())
    with _HELD_LOCK:  # one thread of this process at a time looks at and takes locks
        holder_thread = _HELD.get(path)
        if holder_thread is None:
            try:
                ensure_folder(folder, f"--out {folder}")
                _acquire(path, folder, me, on_note)
            except BaseException:
                _remove_empty(created)
                raise
            _HELD[path] = thread
    if holder_thread == thread:  # nested: the outer block holds it and removes it
        yield path
        return
    if holder_thread is not None:
        raise CaeDenoiseError(f"{folder} is in use by another run in this process; use another folder")
    try:
        yield path
    finally:
        with _HELD_LOCK:
            _HELD.pop(path, None)
        holder = read_holder(path)
        if holder is not None and holder.token == me.token:
            path.unlink(missing_ok=True)
        _remove_empty(created)


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders a run created that are still empty, deepest first, stopping at the first that is not."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return
