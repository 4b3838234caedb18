"""Classical denoisers as named comparators: ``nlm``, ``tv``, ``wavelet``, ``bm3d`` (optional) and ``noisy``.

Each is built for a noise level ``sigma`` (0-255 scale) and returns an ``f(noisy) -> clean`` on HxWx3 float32
images in [0, 1], with fixed settings that every report records (``CLASSICAL_SETTINGS``). Which level they
are told is decided in ``methods.Method.denoiser``: the true sigma of one Gaussian level (an advantage a photo
would not give them), else each noisy image's estimated level (what a user has), or, for ``NAME:oracle``, the
level that scores best against the clean image (``evaluation/oracle.py``: an upper bound no user can reach).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import CaeDenoiseError

Denoiser = Callable[[np.ndarray], np.ndarray]
#: The identity, which every evaluation scores as the floor; it is told no level.
NOISY_METHOD = "noisy"

#: Settings, in words, written into reports next to the numbers.
CLASSICAL_SETTINGS = {
    NOISY_METHOD: "identity: the noisy input itself (the floor)",
    "nlm": "skimage denoise_nl_means(patch_size=5, patch_distance=6, h=0.8*sigma, sigma=sigma, fast_mode=True)",
    "tv": "skimage denoise_tv_chambolle(weight=0.08*sigma/25)",
    "wavelet": "skimage denoise_wavelet(method='BayesShrink', mode='soft', convert2ycbcr=True, sigma=sigma)",
    "bm3d": "bm3d.bm3d_rgb(sigma_psd=sigma) from the optional 'bm3d' package (non-commercial licence)",
}


def _nlm(sigma: float) -> Denoiser:
    from skimage.restoration import denoise_nl_means

    level = sigma / 255.0

    def run(noisy: np.ndarray) -> np.ndarray:
        return denoise_nl_means(
            noisy, patch_size=5, patch_distance=6, h=0.8 * level, sigma=level, fast_mode=True, channel_axis=-1
        )

    return run


def _tv(sigma: float) -> Denoiser:
    from skimage.restoration import denoise_tv_chambolle

    return lambda noisy: denoise_tv_chambolle(noisy, weight=0.08 * sigma / 25.0, channel_axis=-1)


def _wavelet(sigma: float) -> Denoiser:
    from skimage.restoration import denoise_wavelet

    try:
        import pywt  # noqa: F401 - scikit-image's wavelet denoiser needs it
    except ImportError as error:
        raise CaeDenoiseError("wavelet needs PyWavelets: pip install 'cae-denoise[classical]'") from error

    def run(noisy: np.ndarray) -> np.ndarray:
        return denoise_wavelet(
            noisy,
            sigma=sigma / 255.0,
            method="BayesShrink",
            mode="soft",
            convert2ycbcr=True,
            channel_axis=-1,
            rescale_sigma=True,
        )

    return run


def _bm3d(sigma: float) -> Denoiser:
    try:
        import bm3d
    except ImportError as error:
        raise CaeDenoiseError(
            "bm3d is not installed; `pip install bm3d` to compare with it (free for non-commercial use only)"
        ) from error
    return lambda noisy: bm3d.bm3d_rgb(noisy, sigma_psd=sigma / 255.0)


_BUILDERS: dict[str, Callable[[float], Denoiser]] = {
    NOISY_METHOD: lambda sigma: lambda noisy: noisy,
    "nlm": _nlm,
    "tv": _tv,
    "wavelet": _wavelet,
    "bm3d": _bm3d,
}


def classical_names() -> list[str]:
    """Names accepted by ``classical_denoiser``."""
    return list(_BUILDERS)


def classical_denoiser(name: str, sigma_255: float) -> Denoiser:
    """The named classical method tuned for noise ``sigma_255`` (0-255); output clipped to [0, 1] float32."""
    if name not in _BUILDERS:
        raise CaeDenoiseError(f"unknown method {name!r}; classical methods are {', '.join(_BUILDERS)}")
    method = _BUILDERS[name](sigma_255)
    return lambda noisy: np.clip(method(noisy), 0.0, 1.0).astype(np.float32)
