"""Image quality numbers, written once: the PSNR formula every tool and the trainer use.

Kept free of torch and of the rest of the package (only ``math`` and numpy), so the codec
core, the trainer (``rpncodec.training``), the tools (``rpncodec.utils``) and the benches can
all import it without pulling in one another.
"""

from __future__ import annotations

import math

import numpy as np

PEAK_UINT8 = 255.0  # the peak of an 8-bit image
# Where PSNRs are averaged or compared (across images, along a curve), one above this counts
# as this: 60 dB is an RMS error of a quarter level, past what anyone sees, and a lossless
# layer (infinite PSNR) would otherwise swamp any mean. Applied to every codec alike.
PSNR_CAP = 60.0


def psnr_from_mse(mse: float, peak: float = 1.0) -> float:
    """PSNR in dB of a mean squared error ``mse`` measured on images whose peak is ``peak``
    (1.0 for float images in [0, 1], 255.0 for uint8). ``inf`` when ``mse`` is 0."""
    return float("inf") if mse == 0 else 10 * math.log10(peak**2 / mse)


def capped(value: float) -> float:
    """``value`` (a PSNR in dB) at most :data:`PSNR_CAP`: what means and comparisons use."""
    return min(value, PSNR_CAP)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images of the same shape (RGB: over all channels), in float64
    so large images do not lose precision."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return psnr_from_mse(mse, PEAK_UINT8)
