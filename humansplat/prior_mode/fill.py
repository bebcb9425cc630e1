"""Re-export of the fills of :mod:`humansplat.imaging` (their home, below the prior)."""

from __future__ import annotations

from ..imaging import blur_masked, boundary_pixels, harmonic_fill, nearest_fill

__all__ = ["blur_masked", "boundary_pixels", "harmonic_fill", "nearest_fill"]
