"""Tiled inference: any size in, same size out; tiles blend to the untiled result."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import texture
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cae_denoise.models.architectures import create_model
from cae_denoise.models.checkpoint import load_model
from cae_denoise.models.inference import BORDER_MARGIN, denoise_array, margin_indices, run_model


class PixelwiseModel(nn.Module):
    """A 1x1-convolution model: its output at a pixel depends on that pixel only, so tiling must not change it."""

    size_multiple = 4

    def __init__(self) -> None:
        super().__init__()
        self.mix = nn.Conv2d(3, 3, 1)
        with torch.no_grad():
            self.mix.weight.copy_(torch.eye(3)[:, :, None, None] * 0.8 + 0.05)
            self.mix.bias.fill_(0.02)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        assert batch.shape[-2] % self.size_multiple == 0 and batch.shape[-1] % self.size_multiple == 0
        return self.mix(batch)


def _noisy_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noisy = texture(height, width, seed) + rng.normal(0, 0.1, (height, width, 3))
    return np.clip(noisy, 0, 1).astype(np.float32)


def test_tiled_equals_untiled_for_a_pixelwise_model():
    model = PixelwiseModel().eval()
    image = _noisy_image(70, 90)
    whole = denoise_array(model, image)
    tiled = denoise_array(model, image, tile=32, overlap=8, batch_size=3)
    np.testing.assert_allclose(tiled, whole, atol=1e-6)
    with torch.no_grad():
        expected = model.mix(torch.from_numpy(image.transpose(2, 0, 1))[None])[0].clamp(0, 1)
    np.testing.assert_allclose(whole, expected.permute(1, 2, 0).numpy(), atol=1e-6)


def test_tiled_is_close_to_untiled_for_a_trained_model(loaded_model):
    image = _noisy_image(70, 90, seed=1)
    whole = denoise_array(loaded_model.model, image)
    tiled = denoise_array(loaded_model.model, image, tile=32, overlap=8)
    difference = np.abs(tiled.astype(np.float64) - whole)
    assert difference.max() < 5e-2
    assert difference.mean() < 2e-3
    # and tiling is not a no-op here: the image really was split (a 32 px tile cannot see it all)
    assert difference.max() > 0


@pytest.mark.parametrize("name", ["leaky", "baseline"])
def test_tiled_is_close_to_untiled_for_an_untrained_cae(name):
    torch.manual_seed(0)
    model = create_model(name, channels=4, depth=2).eval()
    image = _noisy_image(70, 90, seed=2)
    whole = denoise_array(model, image)
    tiled = denoise_array(model, image, tile=32, overlap=8, batch_size=2)
    difference = np.abs(tiled.astype(np.float64) - whole)
    assert difference.max() < 1e-1
    assert difference.mean() < 2e-3


@pytest.mark.parametrize("length", [1, 2, 3, 7, 40])
@pytest.mark.parametrize("multiple", [1, 4])
def test_margin_indices_mirror_like_numpy_reflect_however_short_the_axis(length, multiple):
    indices = margin_indices(length, multiple)
    assert len(indices) % multiple == 0 and len(indices) >= length + 2 * BORDER_MARGIN
    after = len(indices) - length - BORDER_MARGIN
    expected = (
        np.pad(np.arange(length), (BORDER_MARGIN, after), mode="reflect") if length > 1 else np.zeros(len(indices))
    )
    assert indices.tolist() == expected.tolist()


class RecordingModel(PixelwiseModel):
    """A pixelwise model that keeps every batch it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[torch.Tensor] = []

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        self.inputs.append(batch.clone())
        return super().forward(batch)


def test_the_model_sees_the_image_inside_a_mirrored_margin():
    model = RecordingModel().eval()
    image = _noisy_image(37, 50)
    denoise_array(model, image, tile=256)
    [batch] = model.inputs
    height, width = 37 + 2 * BORDER_MARGIN, 50 + 2 * BORDER_MARGIN
    padded_h, padded_w = height + -height % 4, width + -width % 4  # then up to the model's multiple of 4
    margins = ((BORDER_MARGIN, padded_h - height + BORDER_MARGIN), (BORDER_MARGIN, padded_w - width + BORDER_MARGIN))
    expected = np.pad(image, (*margins, (0, 0)), mode="reflect")
    np.testing.assert_array_equal(batch[0].permute(1, 2, 0).numpy(), expected)


@pytest.mark.parametrize("spec", ["tiny", "default"])
def test_an_image_in_one_tile_gets_what_run_model_gives_inside_the_margin(spec, checkpoint):
    # the exported models (export.py) are checked against run_model(mirrored_margin=True), so this ties them
    # to what `cae-denoise denoise` writes
    model = load_model(checkpoint if spec == "tiny" else "default").model
    image = _noisy_image(37, 50)
    whole = denoise_array(model, image, tile=256, noise_level=20.0)
    batch = torch.from_numpy(image).permute(2, 0, 1)[None]
    with torch.no_grad():
        expected = run_model(model, batch, 20.0, mirrored_margin=True).clamp(0.0, 1.0)[0].permute(1, 2, 0)
    np.testing.assert_allclose(whole, expected.numpy(), atol=1e-6)


@pytest.mark.parametrize("tile", [64, 128])
def test_the_shipped_models_output_barely_depends_on_the_tile_size(tile):
    # Before the mirrored margin, the bottom row of this image changed by up to 30/255 with the tile size
    # (mean 0.7-1.0/255): edge pixels met zero padding in some tilings and replicated rows in others.
    loaded = load_model("default")
    image = _noisy_image(150, 203)
    whole = denoise_array(loaded.model, image, tile=512)
    difference = np.abs(denoise_array(loaded.model, image, tile=tile) - whole) * 255
    assert difference.max() < 6 and difference.mean() < 0.4
    edges = np.concatenate(
        [difference[:4].ravel(), difference[-4:].ravel(), difference[:, :4].ravel(), difference[:, -4:].ravel()]
    )
    assert edges.max() < 3


@pytest.mark.parametrize(("height", "width"), [(1, 1), (1, 7), (7, 1), (33, 17), (37, 31)])
def test_small_and_odd_sizes_keep_their_shape(loaded_model, height, width):
    image = _noisy_image(height, width) if min(height, width) > 1 else np.full((height, width, 3), 0.5, np.float32)
    output = denoise_array(loaded_model.model, image)
    assert output.shape == (height, width, 3)
    assert output.dtype == np.float32
    assert np.isfinite(output).all()
    tiled = denoise_array(loaded_model.model, image, tile=16, overlap=4)
    assert tiled.shape == (height, width, 3)


def test_output_is_clipped_to_unit_range():
    class Amplify(nn.Module):
        def forward(self, batch: torch.Tensor) -> torch.Tensor:
            return batch * 4 - 1.5

    image = _noisy_image(20, 24)
    output = denoise_array(Amplify(), image, tile=16, overlap=4)
    assert output.min() == 0.0 and output.max() == 1.0
    np.testing.assert_allclose(output, np.clip(image * 4 - 1.5, 0, 1), atol=1e-6)


def test_overlap_must_be_smaller_than_tile(loaded_model):
    with pytest.raises(ValueError, match="overlap"):
        denoise_array(loaded_model.model, _noisy_image(20, 20), tile=16, overlap=16)


def test_input_is_not_modified(loaded_model):
    image = _noisy_image(33, 17)
    copy = image.copy()
    denoise_array(loaded_model.model, image, tile=16, overlap=4)
    np.testing.assert_array_equal(image, copy)


def test_run_model_pads_by_replication_and_crops():
    seen = []

    class Record(nn.Module):
        size_multiple = 8

        def forward(self, batch: torch.Tensor) -> torch.Tensor:
            seen.append(batch.clone())
            return batch

    batch = torch.rand(2, 3, 13, 10)
    output = run_model(Record(), batch)
    assert torch.equal(output, batch)
    padded = seen[0]
    assert padded.shape == (2, 3, 16, 16)
    assert torch.equal(padded[..., 13:, :10], batch[..., 12:13, :].expand(2, 3, 3, 10))
    assert torch.equal(padded[..., :13, 10:], batch[..., :, 9:10].expand(2, 3, 13, 6))


@settings(max_examples=15, deadline=None)
@given(
    height=st.integers(1, 45),
    width=st.integers(1, 45),
    tile=st.integers(8, 40),
    overlap_fraction=st.floats(0, 0.9),
)
def test_tiling_property_pixelwise(height, width, tile, overlap_fraction):
    overlap = min(tile - 1, int(tile * overlap_fraction))
    model = PixelwiseModel().eval()
    image = np.random.default_rng(height * 100 + width).random((height, width, 3)).astype(np.float32)
    tiled = denoise_array(model, image, tile=tile, overlap=overlap, batch_size=2)
    assert tiled.shape == image.shape
    np.testing.assert_allclose(tiled, denoise_array(model, image), atol=1e-6)


def _full_size_sums(model: nn.Module, noisy: np.ndarray, tile: int, overlap: int, batch_size: int) -> np.ndarray:
    """``denoise_array`` as it was before it summed strip by strip: one full-size sum and weight map (the
    reference the strips must reproduce)."""
    from cae_denoise.models.inference import _add_inside, _ramp, _starts

    multiple = getattr(model, "size_multiple", 1)
    tile = max(tile // multiple * multiple, multiple)
    image = torch.from_numpy(noisy.copy())
    height, width = image.shape[:2]
    rows, columns = margin_indices(height, multiple), margin_indices(width, multiple)
    tile_h, tile_w = min(tile, len(rows)), min(tile, len(columns))
    positions = [(t, c) for t in _starts(len(rows), tile, overlap) for c in _starts(len(columns), tile, overlap)]
    weight = _ramp(tile_h, overlap)[:, None, None] * _ramp(tile_w, overlap)[None, :, None]
    total, weights = torch.zeros((height, width, 3)), torch.zeros((height, width, 1))
    with torch.inference_mode():
        for first in range(0, len(positions), batch_size):
            chunk = positions[first : first + batch_size]
            tiles = torch.stack([image[rows[t : t + tile_h, None], columns[None, c : c + tile_w]] for t, c in chunk])
            output = run_model(model, tiles.permute(0, 3, 1, 2)).float().permute(0, 2, 3, 1)
            for (t, c), result in zip(chunk, output, strict=True):
                _add_inside(total, weights, result * weight, weight, t - BORDER_MARGIN, c - BORDER_MARGIN)
    return (total / weights).clamp(0, 1).numpy()


@pytest.mark.parametrize(
    ("height", "width", "tile", "overlap", "batch_size"),
    [(70, 90, 32, 8, 3), (97, 41, 16, 12, 5), (33, 130, 64, 32, 1), (45, 45, 24, 0, 7), (5, 300, 16, 4, 2)],
)
def test_summing_strip_by_strip_gives_what_full_size_sums_gave(height, width, tile, overlap, batch_size):
    torch.manual_seed(0)
    model = create_model("leaky", channels=4, depth=2).eval()
    image = _noisy_image(height, width, seed=height)
    strips = denoise_array(model, image, tile=tile, overlap=overlap, batch_size=batch_size)
    np.testing.assert_allclose(strips, _full_size_sums(model, image, tile, overlap, batch_size), rtol=0, atol=1e-6)


def test_the_sums_never_cover_more_than_a_strip_of_tile_rows(monkeypatch):
    from cae_denoise.models import inference

    heights = []
    real_add = inference._Strips.add

    def recording_add(self, weighted, weight, top, left):
        real_add(self, weighted, weight, top, left)
        heights.append(len(self.total))

    monkeypatch.setattr(inference._Strips, "add", recording_add)
    image = _noisy_image(300, 40)
    denoise_array(PixelwiseModel().eval(), image, tile=32, overlap=8)
    assert max(heights) <= 32 < 300, "a strip of one tile's height, not the whole image"


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried"),
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
        np._core._exceptions._ArrayMemoryError((60_000, 80_000, 3), np.dtype("f4")),
    ],
    ids=["cpu-allocator", "cuda", "numpy"],
)
def test_memory_running_out_while_denoising_is_the_too_large_line(monkeypatch, error):
    from cae_denoise.errors import CaeDenoiseError
    from cae_denoise.models import inference

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(inference, "run_model", fail)
    with pytest.raises(CaeDenoiseError, match=r"^90x70 pixels: too large to denoise in the memory available$"):
        denoise_array(PixelwiseModel().eval(), _noisy_image(70, 90))


def test_other_runtime_errors_while_denoising_stay_bugs(monkeypatch):
    from cae_denoise.models import inference

    def fail(*args, **kwargs):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(inference, "run_model", fail)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        denoise_array(PixelwiseModel().eval(), _noisy_image(20, 20))
