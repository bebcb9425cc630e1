"""Cameras: the one camera convention of HumanSplat.

Convention (used everywhere in the project; nothing else builds a projection matrix)
------------------------------------------------------------------------------------
* **Camera frame: OpenCV.** x right, y down, z forward (the camera looks along +z).
* **Extrinsics: world-to-camera** 4x4 matrices ``viewmats`` (C, 4, 4):
  ``x_cam = R @ x_world + t`` with ``viewmats[:, :3, :3] = R``, ``viewmats[:, :3, 3] = t``.
  This is gsplat's ``viewmats`` argument as is.
* **Intrinsics** ``Ks`` (C, 3, 3) in pixels: ``u = fx * x/z + cx``, ``v = fy * y/z + cy``.
* **Pixels: continuous coordinates with (0, 0) at the top-left corner's outer edge**, so the
  centre of pixel (row i, column j) is at ``(u, v) = (j + 0.5, i + 0.5)`` (gsplat's convention).
  An image of width W spans u in [0, W]; a centred principal point is ``cx = W / 2``.
* **World frame of a reconstruction: the input camera's frame.** The fitted body, the Gaussians and
  every generated view live in the frame of the input photo's camera (x right, y down, z forward),
  so "up" in the world is **-y**.
* **Orbits** (:meth:`Cameras.orbit`) turn around a centre about an **up axis** ``up`` (default the
  world's up, -y; reconstructions use the fitted body's up axis, :mod:`humansplat.orbit`, so a photo
  taken from above or below still gives a level turntable). With ``f0`` = the world's -z made
  perpendicular to ``up`` (towards the input camera) and ``r = up x f0`` (the world's +x for
  ``up = -y``), the camera of azimuth ``a``, elevation ``e`` sits at
  ``centre + radius * (cos e (cos a f0 + sin a r) + sin e up)``, looks at the centre, and its image
  "up" is ``up``. So azimuth 0, elevation 0 is the input camera's side (``centre - radius * z`` when
  ``up = -y``); azimuth 90 deg the +x side (the subject's left when the subject faces the input
  camera); 180 deg sees the back; elevation > 0 raises the camera along ``up`` so it looks down.
  Angles are in degrees in this API.

Shape glossary (project-wide): C cameras/views, N points or Gaussians, H, W image height and width.
Units: metres in the world, pixels on the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import torch

__all__ = ["Cameras", "look_at", "fov_to_focal", "focal_to_fov"]


def fov_to_focal(fov_deg: float, size: float) -> float:
    """Focal length in pixels for a field of view ``fov_deg`` (degrees) across ``size`` pixels."""
    return 0.5 * size / math.tan(0.5 * math.radians(fov_deg))


def focal_to_fov(focal: float, size: float) -> float:
    """Field of view in degrees across ``size`` pixels for a focal length in pixels."""
    return math.degrees(2.0 * math.atan(0.5 * size / focal))


def look_at(eyes: torch.Tensor, targets: torch.Tensor, up: Sequence[float] = (0.0, -1.0, 0.0)) -> torch.Tensor:
    """World-to-camera matrices for OpenCV cameras at ``eyes`` looking at ``targets``.

    Args:
        eyes: (C, 3) camera centres in the world frame.
        targets: (C, 3) or (3,) points looked at.
        up: the world's up direction (default -y, see the module docstring).

    Returns:
        (C, 4, 4) world-to-camera matrices (``viewmats``).
    """
    eyes = torch.as_tensor(eyes, dtype=torch.float32)
    targets = torch.as_tensor(targets, dtype=eyes.dtype, device=eyes.device).expand_as(eyes)
    up_t = torch.as_tensor(up, dtype=eyes.dtype, device=eyes.device).expand_as(eyes)
    forward = torch.nn.functional.normalize(targets - eyes, dim=-1)
    down = -up_t
    right = torch.linalg.cross(down, forward, dim=-1)
    norm = right.norm(dim=-1, keepdim=True)
    if bool((norm < 1e-8).any()):
        raise ValueError("look_at: a camera looks along the up axis; its orientation is undefined")
    right = right / norm
    down_cam = torch.linalg.cross(forward, right, dim=-1)
    c2w = torch.zeros(eyes.shape[0], 4, 4, dtype=eyes.dtype, device=eyes.device)
    c2w[:, :3, 0] = right
    c2w[:, :3, 1] = down_cam
    c2w[:, :3, 2] = forward
    c2w[:, :3, 3] = eyes
    c2w[:, 3, 3] = 1.0
    return invert_rigid(c2w)


def invert_rigid(mats: torch.Tensor) -> torch.Tensor:
    """Inverse of rigid 4x4 transforms (..., 4, 4) without a general matrix inverse."""
    rot = mats[..., :3, :3]
    trans = mats[..., :3, 3:]
    out = torch.zeros_like(mats)
    out[..., :3, :3] = rot.transpose(-1, -2)
    out[..., :3, 3:] = -rot.transpose(-1, -2) @ trans
    out[..., 3, 3] = 1.0
    return out


@dataclass
class Cameras:
    """A batch of C pinhole cameras sharing one image size (convention: module docstring).

    Attributes:
        viewmats: (C, 4, 4) float32, world-to-camera (OpenCV axes).
        Ks: (C, 3, 3) float32, intrinsics in pixels (pixel centres at +0.5).
        width: image width W in pixels.
        height: image height H in pixels.
    """

    viewmats: torch.Tensor
    Ks: torch.Tensor
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.viewmats.ndim != 3 or self.viewmats.shape[-2:] != (4, 4):
            raise ValueError(f"viewmats must be (C, 4, 4), got {tuple(self.viewmats.shape)}")
        if self.Ks.ndim != 3 or self.Ks.shape[-2:] != (3, 3):
            raise ValueError(f"Ks must be (C, 3, 3), got {tuple(self.Ks.shape)}")
        if self.Ks.shape[0] != self.viewmats.shape[0]:
            raise ValueError(f"{self.Ks.shape[0]} intrinsics for {self.viewmats.shape[0]} viewmats")
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        self.width = int(self.width)
        self.height = int(self.height)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_fov(
        cls,
        fov_y_deg: float,
        width: int,
        height: int,
        viewmats: torch.Tensor | None = None,
    ) -> "Cameras":
        """Cameras with a vertical field of view ``fov_y_deg`` (square pixels, centred principal
        point). ``viewmats`` (C, 4, 4) default to one identity camera (the world frame)."""
        if viewmats is None:
            viewmats = torch.eye(4).unsqueeze(0)
        focal = fov_to_focal(fov_y_deg, height)
        K = torch.tensor([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])
        Ks = K.to(viewmats).expand(viewmats.shape[0], 3, 3).clone()
        return cls(viewmats=viewmats.float(), Ks=Ks.float(), width=width, height=height)

    @classmethod
    def orbit(
        cls,
        center: Sequence[float] | torch.Tensor,
        radius: float,
        azimuths_deg: Sequence[float] | torch.Tensor,
        elevations_deg: Sequence[float] | torch.Tensor | float = 0.0,
        fov_y_deg: float = 30.0,
        width: int = 512,
        height: int = 512,
        up: Sequence[float] | torch.Tensor = (0.0, -1.0, 0.0),
    ) -> "Cameras":
        """Cameras on an orbit of ``radius`` metres around ``center`` (3,) about the axis ``up`` (3,)
        through it, looking at it (formula in the module docstring).

        Azimuth 0 / elevation 0 is the input camera's side; azimuth 90 the subject's left (+x);
        elevation > 0 looks down. ``elevations_deg`` broadcasts. ``up`` need not be unit length but
        must not be parallel to the world's z (the input camera's viewing axis).
        """
        az = torch.as_tensor(azimuths_deg, dtype=torch.float32).reshape(-1)
        el = torch.as_tensor(elevations_deg, dtype=torch.float32).reshape(-1).expand_as(az)
        centre = torch.as_tensor(center, dtype=torch.float32).reshape(3)
        u = torch.as_tensor(up, dtype=torch.float32).reshape(3)
        u = u / u.norm().clamp_min(1e-12)
        f0 = torch.tensor([0.0, 0.0, -1.0]) - (-u[2]) * u  # -z made perpendicular to up
        if float(f0.norm()) < 1e-3:
            raise ValueError(f"orbit up axis {u.tolist()} is parallel to the input camera's viewing axis (z)")
        f0 = f0 / f0.norm()
        r = torch.linalg.cross(u, f0, dim=-1)
        a, e = torch.deg2rad(az)[:, None], torch.deg2rad(el)[:, None]
        offset = torch.cos(e) * (torch.cos(a) * f0 + torch.sin(a) * r) + torch.sin(e) * u
        eyes = centre + radius * offset
        return cls.from_fov(fov_y_deg, width, height, viewmats=look_at(eyes, centre, up=u))

    @classmethod
    def turntable(
        cls,
        center: Sequence[float] | torch.Tensor,
        radius: float,
        frames: int,
        elevation_deg: float = 0.0,
        fov_y_deg: float = 30.0,
        width: int = 512,
        height: int = 512,
        up: Sequence[float] | torch.Tensor = (0.0, -1.0, 0.0),
    ) -> "Cameras":
        """``frames`` cameras evenly spaced in azimuth over 360 deg about ``up``, starting at the input side."""
        az = torch.arange(frames, dtype=torch.float32) * (360.0 / frames)
        return cls.orbit(center, radius, az, elevation_deg, fov_y_deg, width, height, up=up)

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return self.viewmats.shape[0]

    def __getitem__(self, index: int | slice | torch.Tensor) -> "Cameras":
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return replace(self, viewmats=self.viewmats[index], Ks=self.Ks[index])

    def to(self, device: torch.device | str) -> "Cameras":
        return replace(self, viewmats=self.viewmats.to(device), Ks=self.Ks.to(device))

    @property
    def device(self) -> torch.device:
        return self.viewmats.device

    @property
    def camtoworlds(self) -> torch.Tensor:
        """(C, 4, 4) camera-to-world matrices."""
        return invert_rigid(self.viewmats)

    @property
    def centers(self) -> torch.Tensor:
        """(C, 3) camera centres in the world frame."""
        return self.camtoworlds[:, :3, 3]

    @staticmethod
    def cat(cameras: Sequence["Cameras"]) -> "Cameras":
        """Concatenate camera batches of the same image size."""
        sizes = {(c.width, c.height) for c in cameras}
        if len(sizes) != 1:
            raise ValueError(f"cannot concatenate cameras of different image sizes: {sorted(sizes)}")
        return Cameras(
            viewmats=torch.cat([c.viewmats for c in cameras]),
            Ks=torch.cat([c.Ks for c in cameras]),
            width=cameras[0].width,
            height=cameras[0].height,
        )

    # ------------------------------------------------------------------ image-space edits
    def crop(self, x0: float, y0: float, width: int, height: int) -> "Cameras":
        """The cameras of the sub-image whose top-left corner is at pixel edge (x0, y0)."""
        Ks = self.Ks.clone()
        Ks[:, 0, 2] -= x0
        Ks[:, 1, 2] -= y0
        return replace(self, Ks=Ks, width=width, height=height)

    def resize(self, width: int, height: int) -> "Cameras":
        """The cameras of the same images resampled to ``width`` x ``height`` pixels."""
        sx, sy = width / self.width, height / self.height
        Ks = self.Ks.clone()
        Ks[:, 0, :] *= sx
        Ks[:, 1, :] *= sy
        return replace(self, Ks=Ks, width=width, height=height)

    # ------------------------------------------------------------------ geometry
    def world_to_camera(self, points: torch.Tensor) -> torch.Tensor:
        """(N, 3) world points -> (C, N, 3) points in each camera's frame."""
        R = self.viewmats[:, :3, :3]
        t = self.viewmats[:, :3, 3]
        return torch.einsum("cij,nj->cni", R, points) + t[:, None, :]

    def project(self, points: torch.Tensor, eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor]:
        """Project world points into every camera.

        Args:
            points: (N, 3) world points.

        Returns:
            uv: (C, N, 2) continuous pixel coordinates (pixel centres at +0.5).
            depth: (C, N) z in the camera frame (metres; <= 0 means behind the camera).
        """
        cam = self.world_to_camera(points)
        z = cam[..., 2]
        zs = torch.where(z.abs() < eps, torch.full_like(z, eps), z)
        fx, fy = self.Ks[:, 0, 0, None], self.Ks[:, 1, 1, None]
        cx, cy = self.Ks[:, 0, 2, None], self.Ks[:, 1, 2, None]
        uv = torch.stack([fx * cam[..., 0] / zs + cx, fy * cam[..., 1] / zs + cy], dim=-1)
        return uv, z

    def pixel_grid(self) -> torch.Tensor:
        """(H, W, 2) pixel-centre coordinates (u, v) = (j + 0.5, i + 0.5)."""
        v, u = torch.meshgrid(
            torch.arange(self.height, dtype=torch.float32, device=self.device) + 0.5,
            torch.arange(self.width, dtype=torch.float32, device=self.device) + 0.5,
            indexing="ij",
        )
        return torch.stack([u, v], dim=-1)

    def rays(self, uv: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """World-space rays through pixels.

        Args:
            uv: (..., 2) pixel coordinates, shared by all cameras; default every pixel centre (H, W, 2).

        Returns:
            origins: (C, ..., 3) camera centres, broadcast.
            directions: (C, ..., 3) unit directions in the world frame.
        """
        if uv is None:
            uv = self.pixel_grid()
        Kinv = torch.linalg.inv(self.Ks)  # (C, 3, 3)
        homog = torch.cat([uv, torch.ones_like(uv[..., :1])], dim=-1)  # (..., 3)
        flat = homog.reshape(-1, 3)
        dirs_cam = torch.einsum("cij,nj->cni", Kinv, flat)  # (C, M, 3), z = 1
        c2w = self.camtoworlds
        dirs = torch.einsum("cij,cnj->cni", c2w[:, :3, :3], dirs_cam)
        dirs = torch.nn.functional.normalize(dirs, dim=-1)
        shape = (len(self),) + tuple(uv.shape[:-1]) + (3,)
        origins = c2w[:, None, :3, 3].expand(-1, flat.shape[0], 3)
        return origins.reshape(shape), dirs.reshape(shape)

    def plucker(self, uv: torch.Tensor | None = None) -> torch.Tensor:
        """Plücker ray embedding (C, ..., 6) = (d, o x d) with unit direction d (default (C, H, W, 6))."""
        origins, dirs = self.rays(uv)
        return torch.cat([dirs, torch.linalg.cross(origins, dirs, dim=-1)], dim=-1)
