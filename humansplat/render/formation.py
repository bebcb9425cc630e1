"""gsplat's image-formation constants, shared by the projection, the PyTorch rasteriser and the compiled kernel.

Per pixel and depth-sorted Gaussian: ``alpha = min(ALPHA_MAX, o * exp(-power))``; alphas ``<= ALPHA_MIN``
are skipped; compositing stops before the transmittance would fall to ``<= T_MIN``.
"""

from __future__ import annotations

__all__ = ["ALPHA_MAX", "ALPHA_MIN", "T_MIN"]

ALPHA_MAX = 0.999
ALPHA_MIN = 1.0 / 255.0  # gsplat's ALPHA_THRESHOLD
T_MIN = 1e-4
