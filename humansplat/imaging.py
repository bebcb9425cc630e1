"""Image-space maths with no notion of people or cameras: the fills (harmonic (Laplace) interpolation,
nearest-value fill, masked (normalised-convolution) blur) used by prior mode, the mask refinement and
the body regions; and the one PSNR.

Maps are (H, W) numpy arrays on the pixel grid of one camera (see :mod:`humansplat.cameras`).
Colours for PSNR are in [0, 1] (peak 1).
"""

from __future__ import annotations

import math
from typing import overload

import numpy as np
import torch

__all__ = ["PSNR_MIN_MSE", "blur_masked", "boundary_pixels", "harmonic_fill", "nearest_fill", "psnr"]

PSNR_MIN_MSE = 1e-10
"""MSE floor of :func:`psnr` (identical images score 100 dB instead of infinity)."""


@overload
def psnr(mse: float) -> float: ...
@overload
def psnr(mse: torch.Tensor) -> torch.Tensor: ...
def psnr(mse: float | torch.Tensor) -> float | torch.Tensor:
    """Peak signal-to-noise ratio in dB of colours in [0, 1] from their mean squared error.

    A float gives a float (``10 log10(1 / mse)``); a tensor of MSEs (any shape) gives a tensor of the same
    shape (``-10 log10(mse)``, differentiable). The MSE is floored at :data:`PSNR_MIN_MSE` either way."""
    if isinstance(mse, torch.Tensor):
        return -10.0 * torch.log10(mse.clamp_min(PSNR_MIN_MSE))
    return 10.0 * math.log10(1.0 / max(mse, PSNR_MIN_MSE))

_NEIGHBOURS = ((0, 1), (0, -1), (1, 0), (-1, 0))


def harmonic_fill(
    values: np.ndarray,
    known: np.ndarray,
    domain: np.ndarray,
    default: float,
    zero_boundary: np.ndarray | None = None,
    eps: float = 1e-4,
) -> np.ndarray:
    """Harmonic interpolation of ``values`` from the ``known`` pixels over the rest of ``domain``.

    Solves the discrete Laplace equation on the unknown pixels (``domain & ~known``) with the known
    pixels as Dirichlet data and natural (Neumann) conditions where the domain ends. A weak pull
    (``eps``) towards ``default`` keeps regions that touch no known pixel well posed.

    Args:
        values: (H, W) float, read where ``known``.
        known: (H, W) bool, pixels with data (only those inside ``domain`` are used).
        domain: (H, W) bool, pixels to fill.
        default: value that parts of the domain without any known pixel tend to.
        zero_boundary: optional (H, W) bool; neighbours outside the domain marked here act as
            Dirichlet data 0 (e.g. a thickness that vanishes at the silhouette).
        eps: strength of the pull towards ``default`` (relative to a neighbour link of 1).

    Returns:
        (H, W) float64: ``values`` on known pixels, the harmonic fill on the rest of the domain,
        ``default`` outside the domain.
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve

    H, W = domain.shape
    known = known & domain
    unknown = domain & ~known
    out = np.full((H, W), float(default), dtype=np.float64)
    out[known] = values[known]
    n = int(unknown.sum())
    if n == 0:
        return out
    index = np.full((H, W), -1, dtype=np.int64)
    index[unknown] = np.arange(n)
    ui, uj = np.nonzero(unknown)
    diag = np.full(n, eps, dtype=np.float64)
    rhs = np.full(n, eps * float(default), dtype=np.float64)
    rows, cols = [], []
    vals_pad = np.pad(out, 1)
    known_pad = np.pad(known, 1)
    unknown_pad = np.pad(unknown, 1)
    zero_pad = np.pad(zero_boundary if zero_boundary is not None else np.zeros_like(domain), 1)
    index_pad = np.pad(index, 1, constant_values=-1)
    p = index[ui, uj]
    for di, dj in _NEIGHBOURS:
        qi, qj = ui + 1 + di, uj + 1 + dj
        is_unknown = unknown_pad[qi, qj]
        is_known = known_pad[qi, qj]
        is_zero = zero_pad[qi, qj] & ~is_unknown & ~is_known
        link = is_unknown | is_known | is_zero
        diag += link
        rhs += np.where(is_known, vals_pad[qi, qj], 0.0)
        rows.append(p[is_unknown])
        cols.append(index_pad[qi, qj][is_unknown])
    r = np.concatenate(rows + [np.arange(n)])
    c = np.concatenate(cols + [np.arange(n)])
    v = np.concatenate([-np.ones(len(x)) for x in rows] + [diag])
    A = sp.csr_matrix((v, (r, c)), shape=(n, n))
    out[unknown] = spsolve(A, rhs)
    return out


def nearest_fill(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Every pixel takes the value of its nearest ``known`` pixel (Euclidean, in pixels).

    Args:
        values: (H, W, ...) array, read where ``known``.
        known: (H, W) bool; at least one pixel must be known.
    """
    from scipy.ndimage import distance_transform_edt

    if not known.any():
        raise ValueError("nearest_fill needs at least one known pixel")
    _, (ii, jj) = distance_transform_edt(~known, return_indices=True)
    return values[ii, jj]


def boundary_pixels(mask: np.ndarray, diagonal: bool = False) -> np.ndarray:
    """(H, W) bool: pixels of ``mask`` with a 4-neighbour (8-neighbour if ``diagonal``) outside it
    or beyond the image border."""
    pad = np.pad(mask, 1, constant_values=False)
    inner = pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
    if diagonal:
        inner &= pad[:-2, :-2] & pad[:-2, 2:] & pad[2:, :-2] & pad[2:, 2:]
    return mask & ~inner


def blur_masked(values: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of (H, W, ...) ``values`` using only pixels in ``mask`` (normalised convolution);
    pixels with no ``mask`` pixel within reach keep their value."""
    from scipy.ndimage import gaussian_filter

    if sigma <= 0:
        return values
    m = mask.astype(np.float64)
    extra = values.ndim - 2
    sig = (sigma, sigma) + (0,) * extra
    num = gaussian_filter(values * (m if extra == 0 else m[..., None]), sig)
    den = gaussian_filter(m, sigma)
    den = den if extra == 0 else den[..., None]
    return np.where(den > 1e-6, num / np.maximum(den, 1e-6), values)
