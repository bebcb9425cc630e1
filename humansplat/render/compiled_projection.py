"""Compiled (numba) forward-only twin of :func:`humansplat.render.projection.project_gaussians`.

One pass over the Gaussians per camera computes what the PyTorch projection computes in a few
dozen batched operations: the camera-space mean, the EWA 2D covariance (the Jacobian's x/z, y/z
clamped at 1.3x the half field of view), the 0.3 px^2 low-pass, the conic, the opacity (times the
low-pass compensation in ``"antialiased"`` mode), gsplat's opacity-aware footprint radii with the
same culling, and the SH colour (degrees 0 to 3). Same formulas in the same order as the PyTorch
projection, in the Gaussians' dtype (float32 or float64): values agree to rounding. No gradient.

Shapes: C cameras, N Gaussians, K higher SH coefficients.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..cameras import Cameras
from ..gaussians import SH_C0, Gaussians
from .formation import ALPHA_MIN
from .kernels import jit, run_split
from .projection import _SH_C2, _SH_C3, EXTEND_MAX, FOV_MARGIN, LOW_PASS, SH_C1, Projected, RasterizeMode

__all__ = ["project_compiled"]

# constants of the kernel, in this order in its ``k`` array (so they carry the inputs' dtype)
_CONSTANTS = (0.0, 0.5, 1.0, 2.0, LOW_PASS, ALPHA_MIN, EXTEND_MAX, 1e-12, FOV_MARGIN, SH_C0, SH_C1, *_SH_C2, *_SH_C3)


def _project(means, log_scales, quats, logit_opacities, sh0, shN, degree, viewmats, Ks, centers, wf, hf,
             near, far, antialiased, k, means2d, conics, depths, radii, colors, opacities,
             share, shares):  # pragma: no cover - compiled
    """Fill the (C, N, ...) outputs for Gaussians ``[share * N / shares, (share + 1) * N / shares)``."""
    zero, half, one, two, low_pass, alpha_min, extend_max, tiny, widen_fov = k[0], k[1], k[2], k[3], k[4], k[5], \
        k[6], k[7], k[8]
    n_total = means.shape[0]
    n0 = share * n_total // shares
    n1 = (share + 1) * n_total // shares
    for cam in range(viewmats.shape[0]):
        r00, r01, r02, t0 = viewmats[cam, 0, 0], viewmats[cam, 0, 1], viewmats[cam, 0, 2], viewmats[cam, 0, 3]
        r10, r11, r12, t1 = viewmats[cam, 1, 0], viewmats[cam, 1, 1], viewmats[cam, 1, 2], viewmats[cam, 1, 3]
        r20, r21, r22, t2 = viewmats[cam, 2, 0], viewmats[cam, 2, 1], viewmats[cam, 2, 2], viewmats[cam, 2, 3]
        fx, fy, cx, cy = Ks[cam, 0, 0], Ks[cam, 1, 1], Ks[cam, 0, 2], Ks[cam, 1, 2]
        tan_x = half * wf / fx
        tan_y = half * hf / fy
        lim_x_pos = (wf - cx) / fx + widen_fov * tan_x
        lim_x_neg = cx / fx + widen_fov * tan_x
        lim_y_pos = (hf - cy) / fy + widen_fov * tan_y
        lim_y_neg = cy / fy + widen_fov * tan_y
        for n in range(n0, n1):
            # world covariance M M^T, M = R(q) diag(s)
            qw, qx, qy, qz = quats[n, 0], quats[n, 1], quats[n, 2], quats[n, 3]
            norm = max(math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz), tiny)
            qw, qx, qy, qz = qw / norm, qx / norm, qy / norm, qz / norm
            sx, sy, sz = math.exp(log_scales[n, 0]), math.exp(log_scales[n, 1]), math.exp(log_scales[n, 2])
            m00 = (one - two * (qy * qy + qz * qz)) * sx
            m01 = two * (qx * qy - qw * qz) * sy
            m02 = two * (qx * qz + qw * qy) * sz
            m10 = two * (qx * qy + qw * qz) * sx
            m11 = (one - two * (qx * qx + qz * qz)) * sy
            m12 = two * (qy * qz - qw * qx) * sz
            m20 = two * (qx * qz - qw * qy) * sx
            m21 = two * (qy * qz + qw * qx) * sy
            m22 = (one - two * (qx * qx + qy * qy)) * sz
            w00 = m00 * m00 + m01 * m01 + m02 * m02
            w01 = m00 * m10 + m01 * m11 + m02 * m12
            w02 = m00 * m20 + m01 * m21 + m02 * m22
            w11 = m10 * m10 + m11 * m11 + m12 * m12
            w12 = m10 * m20 + m11 * m21 + m12 * m22
            w22 = m20 * m20 + m21 * m21 + m22 * m22
            # camera covariance R W R^T (rows of R W first)
            a00 = r00 * w00 + r01 * w01 + r02 * w02
            a01 = r00 * w01 + r01 * w11 + r02 * w12
            a02 = r00 * w02 + r01 * w12 + r02 * w22
            a10 = r10 * w00 + r11 * w01 + r12 * w02
            a11 = r10 * w01 + r11 * w11 + r12 * w12
            a12 = r10 * w02 + r11 * w12 + r12 * w22
            a20 = r20 * w00 + r21 * w01 + r22 * w02
            a21 = r20 * w01 + r21 * w11 + r22 * w12
            a22 = r20 * w02 + r21 * w12 + r22 * w22
            s00 = a00 * r00 + a01 * r01 + a02 * r02
            s01 = a00 * r10 + a01 * r11 + a02 * r12
            s02 = a00 * r20 + a01 * r21 + a02 * r22
            s11 = a10 * r10 + a11 * r11 + a12 * r12
            s12 = a10 * r20 + a11 * r21 + a12 * r22
            s22 = a20 * r20 + a21 * r21 + a22 * r22
            px, py, pz = means[n, 0], means[n, 1], means[n, 2]
            x = r00 * px + r01 * py + r02 * pz + t0
            y = r10 * px + r11 * py + r12 * pz + t1
            z = r20 * px + r21 * py + r22 * pz + t2
            depths[cam, n] = z
            valid = z >= near and z <= far
            zs = z if valid else one
            tx = zs * min(lim_x_pos, max(-lim_x_neg, x / zs))
            ty = zs * min(lim_y_pos, max(-lim_y_neg, y / zs))
            j00 = fx / zs
            j02 = -fx * tx / (zs * zs)
            j11 = fy / zs
            j12 = -fy * ty / (zs * zs)
            cov_xx = j00 * j00 * s00 + two * j00 * j02 * s02 + j02 * j02 * s22
            cov_yy = j11 * j11 * s11 + two * j11 * j12 * s12 + j12 * j12 * s22
            a = cov_xx + low_pass
            b = j00 * j11 * s01 + j00 * j12 * s02 + j02 * j11 * s12 + j02 * j12 * s22
            c = cov_yy + low_pass
            det = a * c - b * b
            valid = valid and det > zero
            det_s = det if valid else one
            conics[cam, n, 0] = c / det_s
            conics[cam, n, 1] = -b / det_s
            conics[cam, n, 2] = a / det_s
            mx = fx * x / zs + cx
            my = fy * y / zs + cy
            means2d[cam, n, 0] = mx
            means2d[cam, n, 1] = my
            opac = one / (one + math.exp(-logit_opacities[n]))
            if antialiased:
                opac = opac * math.sqrt(max((cov_xx * cov_yy - b * b) / det_s, tiny))
            opacities[cam, n] = opac
            valid = valid and opac >= alpha_min
            extend = min(math.sqrt(two * math.log(max(opac / alpha_min, one))), extend_max)
            rx = np.ceil(extend * math.sqrt(a if valid else one))
            ry = np.ceil(extend * math.sqrt(c if valid else one))
            off = mx + rx <= zero or mx - rx >= wf or my + ry <= zero or my - ry >= hf
            valid = valid and not off and (rx > zero or ry > zero)
            radii[cam, n, 0] = int(rx) if valid else 0
            radii[cam, n, 1] = int(ry) if valid else 0
        _colours(sh0, shN, degree, n0, n1, means, centers, cam, k, colors)


def _colours(sh0, shN, degree, n0, n1, means, centers, cam, k, colors):  # pragma: no cover - compiled
    """colors[cam, n] for n in [n0, n1): the SH colour of Gaussian n seen from camera ``cam`` (as ``eval_sh``)."""
    zero, half, two, c0, c1 = k[0], k[1], k[3], k[9], k[10]
    three, four = two + k[2], two + two
    for n in range(n0, n1):
        x = y = z = zero
        if degree >= 1:
            dx = means[n, 0] - centers[cam, 0]
            dy = means[n, 1] - centers[cam, 1]
            dz = means[n, 2] - centers[cam, 2]
            norm = max(math.sqrt(dx * dx + dy * dy + dz * dz), k[7])
            x, y, z = dx / norm, dy / norm, dz / norm
        xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
        for ch in range(3):
            out = c0 * sh0[n, ch]
            if degree >= 1:
                out = out - c1 * y * shN[n, 0, ch] + c1 * z * shN[n, 1, ch] - c1 * x * shN[n, 2, ch]
            if degree >= 2:
                out = (out + k[11] * xy * shN[n, 3, ch] + k[12] * yz * shN[n, 4, ch]
                       + k[13] * (two * zz - xx - yy) * shN[n, 5, ch] + k[14] * xz * shN[n, 6, ch]
                       + k[15] * (xx - yy) * shN[n, 7, ch])
            if degree >= 3:
                out = (out + k[16] * y * (three * xx - yy) * shN[n, 8, ch] + k[17] * xy * z * shN[n, 9, ch]
                       + k[18] * y * (four * zz - xx - yy) * shN[n, 10, ch]
                       + k[19] * z * (two * zz - three * xx - three * yy) * shN[n, 11, ch]
                       + k[20] * x * (four * zz - xx - yy) * shN[n, 12, ch]
                       + k[21] * z * (xx - yy) * shN[n, 13, ch]
                       + k[22] * x * (xx - three * yy) * shN[n, 14, ch])
            colors[cam, n, ch] = max(out + half, zero)


_colours = jit(_colours)
_KERNEL = jit(_project)


def project_compiled(gaussians: Gaussians, cameras: Cameras, near: float = 0.01, far: float = 1e10, sh_degree: int = 0,
                     rasterize_mode: RasterizeMode = "classic") -> Projected:
    """:func:`~humansplat.render.projection.project_gaussians` in one compiled pass (no gradient, CPU).

    Same arguments and result (:class:`~humansplat.render.projection.Projected`, (C, N, ...) CPU
    tensors in the Gaussians' dtype, radii int32).

    Raises:
        RuntimeError: numba is not installed.
        ValueError: an unknown ``rasterize_mode``, or ``sh_degree`` above the Gaussians' own.
    """
    if _KERNEL is None:
        raise RuntimeError("the compiled projection needs numba (pip install numba)")
    if rasterize_mode not in ("classic", "antialiased"):
        raise ValueError(f"unknown rasterize_mode {rasterize_mode!r}; use 'classic' or 'antialiased'")
    if not 0 <= sh_degree <= gaussians.sh_degree:
        raise ValueError(f"sh_degree {sh_degree} outside 0..{gaussians.sh_degree} (the Gaussians' degree)")
    dtype = gaussians.means.dtype if gaussians.means.dtype in (torch.float32, torch.float64) else torch.float32
    np_dtype = np.float32 if dtype == torch.float32 else np.float64

    def arr(x: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(x.detach().cpu().to(dtype).numpy())

    C, N = len(cameras), len(gaussians)
    means2d = np.empty((C, N, 2), np_dtype)
    conics = np.empty((C, N, 3), np_dtype)
    depths = np.empty((C, N), np_dtype)
    radii = np.empty((C, N, 2), np.int32)
    colors = np.empty((C, N, 3), np_dtype)
    opacities = np.empty((C, N), np_dtype)
    shN = gaussians.shN if sh_degree > 0 else gaussians.shN[:, :0]
    args = (
        arr(gaussians.means), arr(gaussians.log_scales), arr(gaussians.quats), arr(gaussians.logit_opacities),
        arr(gaussians.sh0), arr(shN), sh_degree, arr(cameras.viewmats), arr(cameras.Ks),
        arr(cameras.centers), np_dtype(cameras.width), np_dtype(cameras.height), np_dtype(near), np_dtype(far),
        rasterize_mode == "antialiased", np.array(_CONSTANTS, np_dtype),
        means2d, conics, depths, radii, colors, opacities,
    )
    run_split(_KERNEL, args, shares=1 if N < 20_000 else None)
    return Projected(*(torch.from_numpy(x) for x in (means2d, conics, depths, radii, colors, opacities)))
