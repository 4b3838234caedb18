"""Oracle noise levels: each image denoised at the sigma that scores best against its clean reference.

A comparator tuned to a noise level (a classical method, a learned peer) is only as good as the level it is
told. The oracle searches that level per image, by PSNR against the clean image: an upper bound on what the
method could reach with a perfect level, never something a user without the clean photo could do. Evaluation
only, where clean references exist (synthetic noise, real pairs).

The search is on a log scale: PSNR against sigma is unimodal in practice, so it starts from the levels the other
variants use (each image's estimated level, and the true sigma of one Gaussian level), walks in steps of 2x while
a neighbour scores better, then refines around the best at 2^(1/2) and 2^(1/4): about 7-10 denoiser runs per
image, and the result is never below any level it tried, those starting levels included.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..noise.estimate import estimate_noise_sigma
from .classical import Denoiser
from .metrics import psnr

#: Range of the search (0-255 scale).
SIGMA_RANGE = (0.5, 255.0)
WALK_STEP = 2.0
REFINE_STEPS = (2**0.5, 2**0.25)
SEARCH = (
    "per image, the sigma (0-255) whose output has the highest RGB PSNR against the clean image: starts at the "
    "image's estimated level (and the true sigma of one Gaussian level), steps of 2x while a neighbour is better, "
    "then refined at factors of 2^(1/2) and 2^(1/4) either side; sigma kept in "
    f"[{SIGMA_RANGE[0]:g}, {SIGMA_RANGE[1]:g}]. Uses the clean image: an upper bound for the method, not something "
    "a user can do"
)


def search_sigma(
    score: Callable[[float], float], starts: Sequence[float], sigma_range: tuple[float, float] = SIGMA_RANGE
) -> tuple[float, dict[float, float]]:
    """The sigma with the highest ``score`` (higher is better), and every sigma tried with its score, in order.

    Starts at ``starts``, walks from the best in steps of ``WALK_STEP`` while a neighbour scores higher, then
    tries the best's neighbours at each of ``REFINE_STEPS``; sigmas are clamped to ``sigma_range`` and each is
    scored once.
    """
    low, high = sigma_range
    tried: dict[float, float] = {}

    def best_after(*sigmas: float) -> float:
        for sigma in sigmas:
            sigma = float(min(max(sigma, low), high))
            if sigma not in tried:
                tried[sigma] = score(sigma)
        return max(tried, key=tried.__getitem__)

    best = best_after(*starts)
    while (moved := best_after(best / WALK_STEP, best * WALK_STEP)) != best:
        best = moved
    for step in REFINE_STEPS:
        best = best_after(best / step, best * step)
    return best, tried


class OracleDenoiser:
    """A level-tuned method (``tuned(sigma_255)`` is its denoiser at that level) run at each image's oracle sigma.

    Called as ``oracle(noisy, clean)``; ``choices`` records, per image in call order, the chosen sigma, its PSNR
    and every level tried.
    """

    def __init__(self, tuned: Callable[[float], Denoiser], known_sigma_255: float | None = None) -> None:
        self.tuned = tuned
        self.known_sigma_255 = known_sigma_255
        self.choices: list[dict[str, Any]] = []

    def __call__(self, noisy: np.ndarray, clean: np.ndarray) -> np.ndarray:
        best: dict[str, Any] = {"psnr": -np.inf, "output": noisy}

        def score(sigma: float) -> float:
            output = self.tuned(sigma)(noisy)
            value = psnr(clean, output, data_range=1.0)
            if value > best["psnr"]:
                best.update(psnr=value, output=output)
            return value

        estimated = estimate_noise_sigma(noisy)
        starts = [estimated] if self.known_sigma_255 is None else [self.known_sigma_255, estimated]
        sigma, tried = search_sigma(score, starts)
        self.choices.append(
            {
                "sigma_255": sigma,
                "psnr": tried[sigma],
                "estimated_sigma_255": estimated,
                "evaluations": len(tried),
                "tried": [[level, value] for level, value in tried.items()],
            }
        )
        return best["output"]

    def record(self, images: list[str]) -> dict[str, Any]:
        """The report's record of the search: how it works, and the choice for each of ``images``."""
        return {
            "search": SEARCH,
            "per_image": [{"image": name, **choice} for name, choice in zip(images, self.choices, strict=True)],
        }
