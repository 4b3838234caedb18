"""``denoise(image)``: the one-call Python API, in scikit-image's manner (``skimage.restoration.denoise_*``).

It takes an image array as it comes (HxW grey, HxWxC with C = 1 grey, 2 grey + alpha, 3 RGB or 4 RGBA; integer or
float) and gives back an array of the same shape, dtype and range, so that nothing is silently rescaled or
misread. ``inference.denoise_array``, underneath, takes HxWx3 float32 in [0, 1] only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .config import resolve_device
from .errors import CaeDenoiseError, UsageError
from .models.checkpoint import LoadedModel, load_model
from .models.inference import Smoothing, denoise_array

#: Channels of an HxWxC image: how many carry colour (grey or RGB); the last one, beyond these, is alpha.
_COLOURS = {1: 1, 2: 1, 3: 3, 4: 3}


def denoise(
    image: np.ndarray,
    model: str | Path | LoadedModel = "default",
    *,
    strength: float = 1.0,
    noise_level: float | None = None,
    device: str | torch.device | None = None,
    tile: int | None = None,
) -> np.ndarray:
    """Denoise one image with a cae-denoise model (the shipped one by default), as ``cae-denoise denoise`` does.

    Parameters
    ----------
    image : ndarray, HxW or HxWxC
        C = 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA). Integers are read from their dtype's range
        (``uint8`` / 255, ``uint16`` / 65535; signed integers from 0 to their maximum, as
        ``skimage.img_as_float`` reads them, and negative values are refused); floats must lie in [0, 1]
        (anything outside is refused: no scale is guessed). Grey is denoised as the model sees a grey file
        (replicated to RGB, then the mean of the three); alpha is passed through untouched.
    model : "default", a checkpoint path, or ``load_model``'s result
        Pass ``load_model(...)`` once to denoise many images without reading the checkpoint each time.
    strength : float
        For models told the noise level (the default model is): the estimated level is multiplied by this
        (above 1 smoother, below 1 more detail kept). Refused, as by the CLI, for models that take no level.
    noise_level : float, optional
        Tell the model this level (sigma on the 0-255 scale) instead of estimating it; not with ``strength``.
    device : "cpu", "cuda", "mps", "auto", ..., optional
        Where the model runs. Default: where ``model`` already is, or the CPU when it is loaded here.
    tile : int, optional
        Tile size for large images (``inference.default_tiling`` by default).

    Returns
    -------
    ndarray
        The denoised image, with the input's shape and dtype: integers rounded and clipped to their range,
        floats clipped to [0, 1].
    """
    array = np.asarray(image)
    colours = _check_image(array)
    loaded = _loaded(model, device)
    target = next(loaded.model.parameters()).device if device is None else resolve_device(str(device))
    loaded.model.to(target)
    smoothing = Smoothing(strength, noise_level)
    if noise_level is not None and strength != 1:
        raise UsageError("give strength or noise_level, not both: strength scales the estimated noise level, "
                         "noise_level replaces it")  # fmt: skip
    smoothing.check(loaded)
    pixels = _as_float(array)
    planes = pixels if pixels.ndim == 3 else pixels[..., None]
    rgb = np.repeat(planes[..., :1], 3, axis=2) if colours == 1 else planes[..., :3]
    clean = denoise_array(
        loaded.model, rgb, device=target, tile=tile, strength=strength, noise_level=noise_level
    )  # the level: inference.estimated_level, as for files
    result = clean.mean(axis=2, keepdims=True) if colours == 1 else clean
    output = _from_float(result, array.dtype)
    if planes.shape[2] > colours:  # alpha: the input's own values
        alpha = array[..., colours:] if array.ndim == 3 else None
        output = np.concatenate([output, alpha], axis=2)
    return output.reshape(array.shape)


def _check_image(array: np.ndarray) -> int:
    """The number of colour channels (1 or 3) of an image array; a shape or dtype we cannot read is an error."""
    kind = array.dtype.kind
    if kind == "b" or kind not in "uif":
        raise CaeDenoiseError(
            f"image: dtype {array.dtype} is not an image's; give integers (e.g. uint8, uint16) or floats in [0, 1]"
        )
    if array.ndim == 2:
        channels = 1
    elif array.ndim == 3 and array.shape[2] in _COLOURS:
        channels = array.shape[2]
    else:
        raise CaeDenoiseError(
            f"image: shape {array.shape} is not an image; give HxW (grey) or HxWxC with C = 1, 2, 3 or 4 "
            "(grey, grey + alpha, RGB, RGBA), one image at a time"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise CaeDenoiseError(f"image: shape {array.shape} has no pixels")
    return _COLOURS[channels]


def _loaded(model: str | Path | LoadedModel, device: str | torch.device | None) -> LoadedModel:
    if isinstance(model, LoadedModel):
        return model
    if not isinstance(model, str | Path):
        raise CaeDenoiseError(
            f"model: got {type(model).__name__}; give 'default', a checkpoint path, or load_model(...)'s result"
        )
    return load_model(model, "cpu" if device is None else resolve_device(str(device)))


def _as_float(array: np.ndarray) -> np.ndarray:
    """The image as float32 in [0, 1]: integers divided by their dtype's maximum, floats as they are (checked)."""
    if array.dtype.kind in "ui":
        if array.dtype.kind == "i" and array.min() < 0:
            raise CaeDenoiseError(
                f"image: {array.dtype} values down to {array.min()}; an image's values run from 0 to "
                f"{np.iinfo(array.dtype).max} (negative values have no brightness)"
            )
        return (array / np.float64(np.iinfo(array.dtype).max)).astype(np.float32)
    finite = np.isfinite(array)
    if not finite.all():
        raise CaeDenoiseError("image: holds NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 1:
        raise CaeDenoiseError(
            f"image: {array.dtype} values from {low:g} to {high:g}; float images must lie in [0, 1] (divide by "
            "the data's maximum first; no scale is guessed)"
        )
    return array.astype(np.float32)


def _from_float(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float32 values in [0, 1] in ``dtype``: integers scaled to their maximum, rounded and clipped."""
    if dtype.kind in "ui":
        top = np.iinfo(dtype).max
        scaled = np.clip(np.rint(values.astype(np.float64) * top), 0, None)
        full = scaled >= float(top)  # float(top) of a 64-bit type is above it: never cast, set
        result = np.where(full, 0, scaled).astype(dtype)
        result[full] = top
        return result
    return np.clip(values, 0.0, 1.0).astype(dtype)
