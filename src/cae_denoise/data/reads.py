"""Which files a command reads, from its arguments: the one place that decides what no output may replace.

Every command builds its ``outputs.ReadSet`` here, once, and makes it active around its work
(``outputs.protecting``); the writer then refuses to replace any of these files, whatever ``--overwrite`` says.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..errors import shorten
from ..io.outputs import ReadSet
from ..shipped import DEFAULT_MODEL, resolve_model_path
from .sources import BUILTIN, folder_images

#: (option, value) pairs such as ("--init", "runs/a/best.pt"); the option may be None, the value None or empty.
Named = Iterable[tuple[str | None, str | Path | None]]


def _role(template: str, option: str | None, value: str | Path) -> str:
    """``"the {} checkpoint x.pt"`` filled with the option (or nothing), the value quoted short."""
    return " ".join(template.format(option or "").split()) + " " + shorten(str(value))


def files_read(*, inputs: Iterable[str | Path] = (), checkpoints: Named = (), data: Named = ()) -> ReadSet:
    """The files read through ``inputs`` (files as named, e.g. denoise's), ``checkpoints`` (a path, or ``default``
    for the shipped model; a method name such as ``nlm`` names no file) and ``data`` sources (``builtin`` reads no
    file; a folder, the images its scan takes, ``data.folder_images``; an archive, itself)."""
    reads = ReadSet()
    for path in inputs:
        reads.add(path, "an input")
    for option, spec in checkpoints:
        if spec is not None and str(spec).strip():
            path = resolve_model_path(spec) if str(spec) == DEFAULT_MODEL else Path(spec)
            reads.add(path, _role("the {} checkpoint", option, spec))
    for option, spec in data:
        if spec is None or str(spec) == BUILTIN:
            continue
        folder = Path(spec)
        if folder.is_dir():
            for image in folder_images(folder):
                reads.add(image, _role("an image of {}", option, spec))
        else:
            reads.add(folder, _role("the {} archive", option, spec))
    return reads
