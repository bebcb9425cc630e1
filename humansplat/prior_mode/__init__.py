"""Prior mode: Gaussians from the fitted body and the photo alone, feed-forward, no network weights.

* :mod:`.build`: :func:`gaussians_from_prior`, the composition of the steps below.
* :mod:`.options`: :class:`PriorOptions`, what a user may set (grid sizes, colour passes).
* :mod:`.surfaces`: front/back/far depths of the person (``PriorSurfaces``, ``prior_surfaces``).
* :mod:`.holes`, :mod:`.skin`: mask pixels that show the background; fitted hands the photo does not show.
* :mod:`.placement`, :mod:`.walls`: flat Gaussians on a depth map; side walls between the layers.
* :mod:`.garments`, :mod:`.photo_colours`: colours of the unseen side; of the visible side, and their
  correction against the input view.
* :mod:`.grids`: resampling of crop-sized maps onto the grids.
* :mod:`.fill`: harmonic and nearest fills of depth maps over the person mask.
"""

from .build import gaussians_from_prior
from .options import PriorOptions
from .surfaces import PriorSurfaces, prior_surfaces

__all__ = ["PriorOptions", "PriorSurfaces", "gaussians_from_prior", "prior_surfaces"]
