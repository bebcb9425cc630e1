"""EWA projection of 3D Gaussians to 2D screen-space Gaussians (gsplat's maths, in PyTorch).

Shapes: C cameras, N Gaussians. Pixel convention: :mod:`humansplat.cameras`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from ..cameras import Cameras
from ..gaussians import Gaussians
from ..geometry import quat_to_rotmat, rotmat_to_quat  # re-exported: the renderer's quaternion convention
from .formation import ALPHA_MIN

__all__ = [
    "SH_C1", "Projected", "RasterizeMode", "covariances_3d", "eval_sh", "project_gaussians", "quat_to_rotmat",
    "rotmat_to_quat",
]

RasterizeMode = Literal["classic", "antialiased"]
"""How the 0.3 px^2 low-pass treats opacity: ``"classic"`` keeps it (the original 3DGS, gsplat's default);
``"antialiased"`` multiplies it by ``sqrt(det(S) / det(S + 0.3 I))`` (S the 2D covariance before the
low-pass), so that a Gaussian's integrated opacity does not grow when it is smaller than a pixel
(gsplat's ``rasterize_mode="antialiased"``, Mip-Splatting's 2D filter)."""

LOW_PASS = 0.3  # px^2 added to the 2D covariance (gsplat's eps2d)
EXTEND_MAX = 3.33  # footprint half extent cap, in standard deviations (gsplat)
FOV_MARGIN = 0.3  # the Jacobian clamps x/z, y/z this many half fields of view beyond the image (gsplat's 1.3x)


@dataclass
class Projected:
    """Screen-space Gaussians for C cameras.

    Attributes:
        means2d: (C, N, 2) pixel coordinates of the projected means.
        conics: (C, N, 3) inverse 2D covariance (a, b, c): power = 0.5*(a dx^2 + c dy^2) + b dx dy.
        depths: (C, N) camera-space z of the means (metres).
        radii: (C, N, 2) int32 half extents (x, y) in pixels of the footprint's bounding box (the
            ellipse where ``opacity * exp(-power) >= 1/255``, at most 3.33 sigma); 0 means culled.
        colors: (C, N, 3) view-dependent colour (SH evaluated), >= 0.
        opacities: (C, N) opacities in (0, 1) as each camera composites them (the Gaussians' own in
            ``"classic"`` mode, times the low-pass compensation in ``"antialiased"`` mode).
    """

    means2d: torch.Tensor
    conics: torch.Tensor
    depths: torch.Tensor
    radii: torch.Tensor
    colors: torch.Tensor
    opacities: torch.Tensor

    @property
    def visible(self) -> torch.Tensor:
        """(C, N) bool, Gaussians that can touch a pixel of the image."""
        return self.radii[..., 0] > 0


def covariances_3d(gaussians: Gaussians) -> torch.Tensor:
    """(N, 3, 3) world-space covariances R S S^T R^T (metres^2)."""
    M = quat_to_rotmat(gaussians.quats) * gaussians.scales[:, None, :]
    return M @ M.transpose(-1, -2)


SH_C1 = 0.4886025119029199
_SH_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
_SH_C3 = (-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154,
          -0.4570457994644658, 1.445305721320277, -0.5900435899266435)


def eval_sh(sh: torch.Tensor, dirs: torch.Tensor, degree: int) -> torch.Tensor:
    """Evaluate real SH (3DGS basis) up to ``degree``.

    Args:
        sh: (..., K, 3) coefficients, DC first; K >= (degree + 1)^2.
        dirs: (..., 3) unit view directions (from the camera to the Gaussian).

    Returns:
        (..., 3) colour, ``0.5`` added and clamped at 0 (as gsplat).
    """
    from ..gaussians import SH_C0

    out = SH_C0 * sh[..., 0, :]
    if degree >= 1:
        x, y, z = dirs[..., 0:1], dirs[..., 1:2], dirs[..., 2:3]
        out = out - SH_C1 * y * sh[..., 1, :] + SH_C1 * z * sh[..., 2, :] - SH_C1 * x * sh[..., 3, :]
        if degree >= 2:
            xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
            out = (out + _SH_C2[0] * xy * sh[..., 4, :] + _SH_C2[1] * yz * sh[..., 5, :]
                   + _SH_C2[2] * (2 * zz - xx - yy) * sh[..., 6, :] + _SH_C2[3] * xz * sh[..., 7, :]
                   + _SH_C2[4] * (xx - yy) * sh[..., 8, :])
            if degree >= 3:
                out = (out + _SH_C3[0] * y * (3 * xx - yy) * sh[..., 9, :] + _SH_C3[1] * xy * z * sh[..., 10, :]
                       + _SH_C3[2] * y * (4 * zz - xx - yy) * sh[..., 11, :]
                       + _SH_C3[3] * z * (2 * zz - 3 * xx - 3 * yy) * sh[..., 12, :]
                       + _SH_C3[4] * x * (4 * zz - xx - yy) * sh[..., 13, :]
                       + _SH_C3[5] * z * (xx - yy) * sh[..., 14, :]
                       + _SH_C3[6] * x * (xx - 3 * yy) * sh[..., 15, :])
    return torch.clamp_min(out + 0.5, 0.0)


def project_gaussians(
    gaussians: Gaussians,
    cameras: Cameras,
    near: float = 0.01,
    far: float = 1e10,
    sh_degree: int = 0,
    rasterize_mode: RasterizeMode = "classic",
) -> Projected:
    """Project N Gaussians into C cameras with gsplat's EWA approximation (gsplat >= 1.5).

    The Jacobian clamps x/z and y/z to 1.3x the half field of view (as gsplat), the 0.3 px^2
    low-pass is added to the 2D covariance. The footprint is gsplat's opacity-aware bounding box:
    half extents ``ceil(e * sqrt(cov2d_xx))``, ``ceil(e * sqrt(cov2d_yy))`` with
    ``e = min(3.33, sqrt(2 ln(255 opacity)))``, which holds every pixel where the Gaussian's alpha
    reaches 1/255 (so tiling never truncates a Gaussian). Gaussians with a mean depth outside
    [near, far], opacity below 1/255, a singular 2D covariance or a footprint fully off the image
    get radii 0. In ``"antialiased"`` mode (:data:`RasterizeMode`) the opacity is multiplied by
    ``sqrt(det(cov2d) / det(cov2d + 0.3 I))`` before the footprint and the culling use it (as gsplat).
    Differentiable w.r.t. every Gaussian attribute (radii are not).
    """
    if rasterize_mode not in ("classic", "antialiased"):
        raise ValueError(f"unknown rasterize_mode {rasterize_mode!r}; use 'classic' or 'antialiased'")
    W, H = cameras.width, cameras.height
    dtype = gaussians.means.dtype
    viewmats = cameras.viewmats.to(dtype)
    Ks = cameras.Ks.to(dtype)
    R = viewmats[:, :3, :3]  # (C, 3, 3)
    t = viewmats[:, :3, 3]  # (C, 3)
    means_c = torch.einsum("cij,nj->cni", R, gaussians.means) + t[:, None, :]  # (C, N, 3)
    cov_w = covariances_3d(gaussians)  # (N, 3, 3)
    cov_c = torch.einsum("cij,njk,clk->cnil", R, cov_w, R)  # (C, N, 3, 3)

    fx, fy = Ks[:, 0, 0][:, None], Ks[:, 1, 1][:, None]  # (C, 1)
    cx, cy = Ks[:, 0, 2][:, None], Ks[:, 1, 2][:, None]
    x, y, z = means_c.unbind(-1)
    valid = (z >= near) & (z <= far)
    zs = torch.where(valid, z, torch.ones_like(z))
    tan_x = 0.5 * W / fx
    tan_y = 0.5 * H / fy
    lim_x_pos = (W - cx) / fx + FOV_MARGIN * tan_x
    lim_x_neg = cx / fx + FOV_MARGIN * tan_x
    lim_y_pos = (H - cy) / fy + FOV_MARGIN * tan_y
    lim_y_neg = cy / fy + FOV_MARGIN * tan_y
    tx = zs * torch.minimum(lim_x_pos, torch.maximum(-lim_x_neg, x / zs))
    ty = zs * torch.minimum(lim_y_pos, torch.maximum(-lim_y_neg, y / zs))
    # J = [[j00, 0, j02], [0, j11, j12]]; cov2d = J cov_c J^T written out (no batched 2x3 matmuls)
    j00, j02 = fx / zs, -fx * tx / (zs * zs)
    j11, j12 = fy / zs, -fy * ty / (zs * zs)
    s00, s01, s02 = cov_c[..., 0, 0], cov_c[..., 0, 1], cov_c[..., 0, 2]
    s11, s12, s22 = cov_c[..., 1, 1], cov_c[..., 1, 2], cov_c[..., 2, 2]
    cov_xx = j00 * j00 * s00 + 2.0 * j00 * j02 * s02 + j02 * j02 * s22
    cov_yy = j11 * j11 * s11 + 2.0 * j11 * j12 * s12 + j12 * j12 * s22
    a = cov_xx + LOW_PASS
    b = j00 * j11 * s01 + j00 * j12 * s02 + j02 * j11 * s12 + j02 * j12 * s22
    c = cov_yy + LOW_PASS
    det = a * c - b * b
    valid = valid & (det > 0)
    det_s = torch.where(valid, det, torch.ones_like(det))
    conics = torch.stack([c / det_s, -b / det_s, a / det_s], dim=-1)
    means2d = torch.stack([fx * x / zs + cx, fy * y / zs + cy], dim=-1)
    opacities = gaussians.opacities.expand_as(z)  # (C, N)
    if rasterize_mode == "antialiased":
        det_orig = cov_xx * cov_yy - b * b
        # floored at 1e-6 (then culled below 1/255): the tiled backward divides by the opacity
        opacities = opacities * torch.sqrt((det_orig / det_s).clamp_min(1e-12))
    with torch.no_grad():
        opac = opacities
        valid = valid & (opac >= ALPHA_MIN)
        extend = torch.sqrt(2.0 * torch.log(torch.clamp_min(opac / ALPHA_MIN, 1.0))).clamp_max(EXTEND_MAX)
        rx = torch.ceil(extend * torch.sqrt(torch.where(valid, a, torch.ones_like(a))))
        ry = torch.ceil(extend * torch.sqrt(torch.where(valid, c, torch.ones_like(c))))
        mx, my = means2d[..., 0], means2d[..., 1]
        off = (mx + rx <= 0) | (mx - rx >= W) | (my + ry <= 0) | (my - ry >= H)
        valid = valid & ~off & ((rx > 0) | (ry > 0))
        radii = torch.stack([rx, ry], dim=-1).where(valid[..., None], 0.0).to(torch.int32)

    sh = gaussians.sh[:, : (sh_degree + 1) ** 2]  # (N, K, 3)
    if sh_degree == 0:
        colors = eval_sh(sh, gaussians.means, 0).expand(len(cameras), -1, -1)
    else:
        centers = cameras.centers.to(dtype)
        dirs = torch.nn.functional.normalize(gaussians.means[None] - centers[:, None, :], dim=-1)
        colors = eval_sh(sh[None].expand(len(cameras), -1, -1, -1), dirs, sh_degree)
    return Projected(means2d, conics, z, radii, colors, opacities)
