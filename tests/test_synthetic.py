"""Procedural dead-leaves training images."""

from __future__ import annotations

import numpy as np

from cae_denoise.data.synthetic import dead_leaves, dead_leaves_set


def test_dead_leaves_image():
    image = dead_leaves(48, np.random.default_rng(0))
    assert image.shape == (48, 48, 3) and image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    # many distinct regions, not a flat image or white noise
    assert len(np.unique(image.reshape(-1, 3).round(3), axis=0)) > 20
    assert np.abs(np.diff(image, axis=1)).mean() < 0.1


def test_dead_leaves_set_is_reproducible():
    first = dead_leaves_set(2, 32, seed=4)
    again = dead_leaves_set(2, 32, seed=4)
    other = dead_leaves_set(2, 32, seed=5)
    assert [image.name for image in first] == ["dead_leaves_000", "dead_leaves_001"]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.pixels, b.pixels)
    assert not np.array_equal(first[0].pixels, first[1].pixels)
    assert not np.array_equal(first[0].pixels, other[0].pixels)
