"""Prior mode: Gaussians from the fitted body and the photo alone, feed-forward, no network weights.

* :mod:`.build`: :func:`gaussians_from_prior` (``PriorOptions``, ``PriorSurfaces``, ``prior_surfaces``).
* :mod:`.fill`: harmonic and nearest fills of depth maps over the person mask.
"""

from .build import PriorOptions, PriorSurfaces, gaussians_from_prior, prior_surfaces

__all__ = ["PriorOptions", "PriorSurfaces", "gaussians_from_prior", "prior_surfaces"]
