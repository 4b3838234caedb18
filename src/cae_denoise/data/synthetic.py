"""Procedural training images: the "dead leaves" model of natural-image statistics.

Opaque disks with power-law distributed radii (density proportional to r^-3, scale invariant) and random
colours fall on top of each other. The result has the edge, occlusion and flat-region statistics of
photos (Lee, Mumford & Huang, 2001), so it is an honest, offline way to add training data.
"""

from __future__ import annotations

import numpy as np

from .sources import NamedImage


def dead_leaves(
    size: int, rng: np.random.Generator, *, min_radius: float = 1.5, max_radius: float = 80.0
) -> np.ndarray:
    """One ``size`` x ``size`` x 3 float32 dead-leaves image in [0, 1], drawn from ``rng``.

    Disks fall until (almost) every pixel is covered (at most 20,000); each disk gets a random colour
    and a gentle linear shading so that not every region is perfectly flat.
    """
    image = rng.uniform(0.0, 1.0, size=3).astype(np.float32) * np.ones((size, size, 3), np.float32)
    covered = np.zeros((size, size), bool)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    layers = []
    # Disks arrive front to back; each keeps only the pixels no earlier disk covers, so the masks are
    # disjoint and can be painted in any order once (almost) everything is covered.
    while covered.mean() < 0.995 and len(layers) < 20000:
        # Inverse-CDF sample of p(r) ~ r^-3 on [min_radius, max_radius].
        u = rng.uniform()
        radius = (min_radius**-2 - u * (min_radius**-2 - max_radius**-2)) ** -0.5
        cy, cx = rng.uniform(-radius, size + radius, size=2)
        top, bottom = max(int(cy - radius), 0), min(int(cy + radius) + 2, size)
        left, right = max(int(cx - radius), 0), min(int(cx + radius) + 2, size)
        if top >= bottom or left >= right:
            continue
        window = (rows[top:bottom, left:right] - cy) ** 2 + (cols[top:bottom, left:right] - cx) ** 2
        mask = (window <= radius**2) & ~covered[top:bottom, left:right]
        if not mask.any():
            continue
        covered[top:bottom, left:right] |= mask
        layers.append((top, left, mask, rng.uniform(0.0, 1.0, size=3), rng.normal(0.0, 0.002, size=2)))
    for top, left, mask, colour, slope in layers:
        ys, xs = np.nonzero(mask)
        shade = slope[0] * (ys - ys.mean()) + slope[1] * (xs - xs.mean())
        image[top + ys, left + xs] = np.clip(colour[None, :] + shade[:, None], 0.0, 1.0)
    return image


def dead_leaves_set(count: int, size: int, seed: int) -> list[NamedImage]:
    """``count`` reproducible dead-leaves images named ``dead_leaves_000`` ... (same seed, same images)."""
    return [
        NamedImage(f"dead_leaves_{index:03d}", dead_leaves(size, np.random.default_rng([seed, index])))
        for index in range(count)
    ]
