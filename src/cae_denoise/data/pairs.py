"""Real noisy/clean pairs: two sources matched file by file, for training and scoring without synthetic noise.

A clean file and a noisy file pair up when their paths relative to their roots match apart from the
extension (``clean/a/x.png`` with ``noisy/a/x.jpg``). Both sides may be folders, zip or tar archives. Files
without a counterpart, names that are ambiguous (``x.png`` and ``x.jpg`` on one side) and pairs whose sizes
differ are skipped, each with a reason naming the file(s), and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np

from ..errors import CaeDenoiseError, UsageError
from ..io.regular import same_file
from .sources import BUILTIN, DEFAULT_MAX_MEGAPIXELS, NamedImage, Source, by_names, load_sources


def same_data_message(clean_spec: str, noisy_spec: str) -> str:
    """Why ``--data`` and ``--noisy-data`` may not name the same images."""
    return (
        f"--data {clean_spec} and --noisy-data {noisy_spec} are the same images: real pairs need the clean and the "
        "noisy captures in two places (give --noisy-data alone to train on noisy photos without clean ones)"
    )


@dataclass(frozen=True)
class ImagePair:
    """One clean image and its noisy capture: both HxWx3 float32 in [0, 1], named by the clean file."""

    name: str
    clean: np.ndarray
    noisy: np.ndarray


@dataclass
class PairedSource:
    """The matched pairs of two sources and what was skipped, as (file, reason)."""

    clean_spec: str
    noisy_spec: str
    pairs: list[ImagePair]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def clean_source(self) -> Source:
        """The clean side as a ``Source`` (for splitting by name)."""
        return Source(self.clean_spec, [NamedImage(pair.name, pair.clean) for pair in self.pairs])

    def by_names(self, names: tuple[str, ...] | list[str]) -> list[ImagePair]:
        """The pairs with these (clean) names, in this order; a missing name is an error."""
        return by_names(self.pairs, names, f"{self.clean_spec}: pairs")


def match_key(name: str) -> str:
    """The part of a file name that pairs it: its relative path without the extension."""
    return str(PurePosixPath(name).with_suffix(""))


def _by_key(source: Source) -> tuple[dict[str, NamedImage], list[tuple[str, str]]]:
    """A source's images by match key; names that share a key are ambiguous and skipped."""
    groups: dict[str, list[NamedImage]] = {}
    for image in source.images:
        groups.setdefault(match_key(image.name), []).append(image)
    unique = {key: group[0] for key, group in groups.items() if len(group) == 1}
    skipped = [
        (f"{source.spec}:{image.name}", f"ambiguous: {' and '.join(i.name for i in group)} match the same name")
        for group in groups.values()
        if len(group) > 1
        for image in group
    ]
    return unique, skipped


def load_pairs(clean_spec: str, noisy_spec: str, *, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> PairedSource:
    """Decode both sources and pair their files by relative path (any extension); see the module docstring.
    Both sides together must hold at most ``max_megapixels`` (``data.load_sources``)."""
    if BUILTIN in (clean_spec, noisy_spec):
        raise UsageError("the built-in photos have no noisy captures: give your own --data CLEAN with --noisy-data")
    if same_file(clean_spec, noisy_spec):
        raise UsageError(same_data_message(clean_spec, noisy_spec))
    clean, noisy = load_sources([clean_spec, noisy_spec], max_megapixels=max_megapixels)
    skipped = [(f"{clean_spec}:{name}", reason) for name, reason in clean.skipped]
    skipped += [(f"{noisy_spec}:{name}", reason) for name, reason in noisy.skipped]
    clean_by_key, ambiguous = _by_key(clean)
    noisy_by_key, ambiguous_noisy = _by_key(noisy)
    skipped += ambiguous + ambiguous_noisy
    pairs = []
    for key in sorted(clean_by_key):
        image = clean_by_key[key]
        partner = noisy_by_key.get(key)
        if partner is None:
            skipped.append((f"{clean_spec}:{image.name}", f"no noisy counterpart in {noisy_spec}"))
        elif partner.pixels.shape != image.pixels.shape:
            clean_size, noisy_size = (f"{a.shape[1]}x{a.shape[0]}" for a in (image.pixels, partner.pixels))
            skipped.append(
                (
                    f"{clean_spec}:{image.name}",
                    f"size {clean_size} differs from its noisy counterpart {noisy_spec}:{partner.name} ({noisy_size})",
                )
            )
        else:
            pairs.append(ImagePair(image.name, image.pixels, partner.pixels))
    for key in sorted(set(noisy_by_key) - set(clean_by_key)):
        skipped.append((f"{noisy_spec}:{noisy_by_key[key].name}", f"no clean counterpart in {clean_spec}"))
    if not pairs:
        sizes = sum("differs from its noisy counterpart" in reason for _, reason in skipped)
        detail = f"; {sizes} matched by name but differ in size" if sizes else " (same relative path, any extension)"
        raise CaeDenoiseError(f"{clean_spec} and {noisy_spec}: no usable file pairs{detail}")
    return PairedSource(clean_spec, noisy_spec, pairs, skipped)
