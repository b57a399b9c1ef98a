"""Image-quality check: tells a blind user why to retake a photo before the model answers.

A photo taken by someone who cannot see it is often too dark, washed out or blurred, and the
model then answers "unanswerable" without saying why. This check gives the reason from the
pixels alone, cheaply, on a small copy, and every side (host, Kotlin core, Swift core)
computes the same numbers (tests/golden/quality.json):

1. RGB with alpha dropped (as the model's preprocessing does), shrunk with PIL's bicubic filter
   so that the longer side is at most ANALYSIS_SIDE pixels (aspect ratio kept; each side
   `(side * ANALYSIS_SIDE + longer // 2) // longer`, at least 1); smaller images are used as
   they are.
2. Luma per pixel in integers, `299 R + 587 G + 114 B` (ITU-R BT.601 weights, times 1000).
3. `mean_luma` (0-255), `bright_fraction` (share of pixels with luma >= BRIGHT_LUMA), and
   `laplacian_var`: the variance of the 4-neighbour Laplacian of luma (0-255 scale) over the
   interior pixels, computed from exact integer sums; not judged below MIN_BLUR_SIDE pixels.
4. The verdict, first match wins: too_dark, too_bright, blurred, ok.

Thresholds, calibrated on matplotlib's sample photo grace_hopper.jpg resized to 1280 x 960
(mean luma 77): sharp it gives a Laplacian variance of 1973 at 256 px; after a Gaussian blur of
sigma 4 px at 1280 px 283, of 6 px 94, of 8 px 38. Darkened to 30 % its mean luma is 23; brightened
four times 38 % of its pixels are at luma >= 245.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

ANALYSIS_SIDE = 256
DARK_MEAN_LUMA = 40.0
BRIGHT_LUMA = 245
BRIGHT_FRACTION = 0.4
BLUR_LAPLACIAN_VAR = 100.0
MIN_BLUR_SIDE = 16
VERDICTS = ("too_dark", "too_bright", "blurred", "ok")
_LUMA_WEIGHTS = (299, 587, 114)


@dataclass(frozen=True)
class QualityReport:
    """The measured figures and the verdict; `laplacian_var` is None for tiny images."""

    verdict: str
    mean_luma: float
    bright_fraction: float
    laplacian_var: float | None
    width: int
    height: int


def analysis_size(width: int, height: int) -> tuple[int, int]:
    """The size of the small copy: longer side ANALYSIS_SIDE, or the image's own when smaller."""
    longer = max(width, height)
    if longer <= ANALYSIS_SIDE:
        return width, height
    return (
        max(1, (width * ANALYSIS_SIDE + longer // 2) // longer),
        max(1, (height * ANALYSIS_SIDE + longer // 2) // longer),
    )


def luma_times_1000(rgb: np.ndarray) -> np.ndarray:
    """Integer luma x 1000 of an H x W x 3 uint8 array."""
    channels = rgb.astype(np.int64)
    return sum(w * channels[..., c] for c, w in enumerate(_LUMA_WEIGHTS))


def assess_pixels(rgb: np.ndarray) -> QualityReport:
    """The verdict for an H x W x 3 uint8 array that is already the small copy."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or rgb.size == 0:
        raise ValueError(f"expected a non-empty H x W x 3 uint8 array, got {rgb.shape} {rgb.dtype}")
    height, width = rgb.shape[:2]
    luma = luma_times_1000(rgb)
    mean_luma = float(luma.sum()) / (1000.0 * luma.size)
    bright_fraction = float(np.count_nonzero(luma >= BRIGHT_LUMA * 1000)) / luma.size
    laplacian_var = None
    if min(width, height) >= MIN_BLUR_SIDE:
        lap = (4 * luma[1:-1, 1:-1] - luma[:-2, 1:-1] - luma[2:, 1:-1]
               - luma[1:-1, :-2] - luma[1:-1, 2:])
        n = lap.size
        total, squares = int(lap.sum()), int((lap * lap).sum())
        laplacian_var = (squares / n - (total / n) ** 2) / 1e6
    if mean_luma < DARK_MEAN_LUMA:
        verdict = "too_dark"
    elif bright_fraction >= BRIGHT_FRACTION:
        verdict = "too_bright"
    elif laplacian_var is not None and laplacian_var < BLUR_LAPLACIAN_VAR:
        verdict = "blurred"
    else:
        verdict = "ok"
    return QualityReport(verdict, mean_luma, bright_fraction, laplacian_var, width, height)


def small_copy(image: Image.Image) -> np.ndarray:
    """RGB (alpha dropped) shrunk to `analysis_size`, as an H x W x 3 uint8 array."""
    rgb = image.convert("RGB")
    size = analysis_size(*rgb.size)
    if size != rgb.size:
        rgb = rgb.resize(size, Image.Resampling.BICUBIC)
    return np.asarray(rgb)


def assess_image(image: Image.Image) -> QualityReport:
    """The quality verdict of a photo, from a small copy of it."""
    return assess_pixels(small_copy(image))
