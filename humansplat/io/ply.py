"""Gaussians to and from files: the 3DGS ``.ply`` layout and the compact ``.splat`` format.

``.ply`` (:func:`save_ply`, :func:`load_ply`) follows the original 3D Gaussian Splatting code, so
SuperSplat, the Inria viewer, gsplat's tools and gradio's ``Model3D`` open the files. One
``vertex`` element, binary little-endian, every property ``float`` (float32), in this order::

    x y z  nx ny nz  f_dc_0 f_dc_1 f_dc_2  f_rest_0 .. f_rest_{3K-1}  opacity  scale_0..2  rot_0..3

* ``f_dc_c`` is the SH DC coefficient of channel c (``rgb = 0.5 + SH_C0 * f_dc``).
* ``f_rest`` is channel-major as in the original code: ``f_rest_{c*K + k} = shN[:, k, c]``.
* ``opacity`` is the logit, ``scale_i`` the log of the standard deviation (metres), ``rot`` the
  quaternion (w, x, y, z), all stored raw as :class:`~humansplat.gaussians.Gaussians` holds them,
  so a float32 round trip is bit-exact. Normals are written as zeros.

:func:`load_ply` also reads files written by other tools: any property order, extra properties
(ignored), float64 or other numeric types, ASCII or big-endian files.

``.splat`` (:func:`save_splat`, :func:`load_splat`) is antimatter15's web-viewer format: 32 bytes
per Gaussian, no header: position float32 x3, scale float32 x3 (activated, metres), colour RGBA
uint8 x4 (DC colour and opacity), rotation uint8 x4 ((w, x, y, z) * 128 + 128 of the unit
quaternion), sorted by importance (volume x opacity, largest first). It is lossy (8-bit colour,
opacity and rotation, no higher SH bands).

Shapes: N Gaussians, K higher SH coefficients per channel.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..gaussians import Gaussians

__all__ = ["load_ply", "load_splat", "ply_property_names", "save_ply", "save_splat"]

_SPLAT_DTYPE = np.dtype([("position", "<f4", (3,)), ("scale", "<f4", (3,)), ("rgba", "u1", (4,)), ("rot", "u1", (4,))])


def ply_property_names(num_rest: int) -> list[str]:
    """The 3DGS vertex property names, in file order, for ``num_rest`` = 3K higher SH values."""
    return (
        ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
        + [f"f_rest_{i}" for i in range(num_rest)]
        + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    )


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float32).numpy()


def save_ply(gaussians: Gaussians, path: str | Path) -> Path:
    """Write ``gaussians`` as a 3DGS ``.ply`` (module docstring) and return the path.

    Values are stored as float32 (float64 Gaussians are rounded). Parent folders must exist.
    """
    from plyfile import PlyData, PlyElement

    path = Path(path)
    g = gaussians
    n, k = len(g), g.shN.shape[1]
    rest = _numpy(g.shN).transpose(0, 2, 1).reshape(n, 3 * k)  # (N, K, 3) -> (N, 3, K) -> channel-major
    columns = np.concatenate(
        [
            _numpy(g.means),
            np.zeros((n, 3), np.float32),
            _numpy(g.sh0),
            rest,
            _numpy(g.logit_opacities)[:, None],
            _numpy(g.log_scales),
            _numpy(g.quats),
        ],
        axis=1,
    )
    names = ply_property_names(3 * k)
    vertex = np.empty(n, dtype=[(name, "<f4") for name in names])
    for i, name in enumerate(names):
        vertex[name] = columns[:, i]
    PlyData([PlyElement.describe(vertex, "vertex")], byte_order="<").write(str(path))
    return path


def _column(data: np.ndarray, name: str) -> np.ndarray:
    return np.asarray(data[name], dtype=np.float32)


def load_ply(path: str | Path) -> Gaussians:
    """Read a 3DGS ``.ply`` (ours or another tool's) into float32 CPU :class:`Gaussians`.

    Raises:
        InputError: the file is not a readable PLY, or lacks a property 3DGS needs (the message
            lists what is missing and what the file has).
    """
    from plyfile import PlyData

    path = Path(path)
    try:
        ply = PlyData.read(str(path))
    except FileNotFoundError:
        raise
    except Exception as exc:  # plyfile raises several types for malformed files
        raise InputError(f"cannot read {path} as a PLY file: {exc}") from exc
    names = [el.name for el in ply.elements]
    if "vertex" not in names:
        hint = " (a compressed SuperSplat .ply: decompress it in SuperSplat first)" if "chunk" in names else ""
        raise InputError(f"{path} has no 'vertex' element (elements: {names}){hint}")
    data = ply["vertex"].data
    have = set(data.dtype.names or ())
    needed = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2",
              "rot_0", "rot_1", "rot_2", "rot_3"]
    missing = [p for p in needed if p not in have]
    if missing:
        raise InputError(
            f"{path} is not a 3D Gaussian Splatting .ply: missing properties {missing}; "
            f"it has {sorted(have)}"
        )
    rest_idx = sorted(int(m.group(1)) for p in have if (m := re.fullmatch(r"f_rest_(\d+)", p)))
    if rest_idx != list(range(len(rest_idx))) or len(rest_idx) not in (0, 9, 24, 45):
        raise InputError(
            f"{path} has {len(rest_idx)} f_rest_* properties (indices {rest_idx[:3]}...{rest_idx[-3:]}); "
            "expected 0, 9, 24 or 45 numbered from 0 (SH degree 0 to 3)"
        )
    n, k = len(data), len(rest_idx) // 3

    def stack(props: list[str]) -> torch.Tensor:
        if not props:
            return torch.zeros(n, 0)
        return torch.from_numpy(np.stack([_column(data, p) for p in props], axis=1))

    rest = stack([f"f_rest_{i}" for i in rest_idx]).reshape(n, 3, k).transpose(1, 2).contiguous()
    return Gaussians(
        means=stack(["x", "y", "z"]),
        log_scales=stack(["scale_0", "scale_1", "scale_2"]),
        quats=stack(["rot_0", "rot_1", "rot_2", "rot_3"]),
        logit_opacities=stack(["opacity"]).reshape(n),
        sh0=stack(["f_dc_0", "f_dc_1", "f_dc_2"]),
        shN=rest,
    )


def save_splat(gaussians: Gaussians, path: str | Path) -> Path:
    """Write ``gaussians`` in antimatter15's ``.splat`` format (module docstring); return the path."""
    g = gaussians.detach().to("cpu", torch.float32)
    scales = g.scales
    opacities = g.opacities
    importance = scales.prod(dim=1) * opacities
    order = torch.argsort(importance, descending=True, stable=True)
    rgba = torch.cat([g.rgb, opacities[:, None]], dim=1)
    rot = g.normalized_quats() * 128.0 + 128.0
    out = np.empty(len(g), dtype=_SPLAT_DTYPE)
    out["position"] = g.means[order].numpy()
    out["scale"] = scales[order].numpy()
    out["rgba"] = torch.round(rgba[order] * 255.0).clamp(0, 255).to(torch.uint8).numpy()
    out["rot"] = torch.round(rot[order]).clamp(0, 255).to(torch.uint8).numpy()
    path = Path(path)
    path.write_bytes(out.tobytes())
    return path


def load_splat(path: str | Path) -> Gaussians:
    """Read a ``.splat`` file into float32 CPU :class:`Gaussians` (SH degree 0).

    Raises:
        InputError: the file size is not a multiple of 32 bytes.
    """
    path = Path(path)
    raw = path.read_bytes()
    if len(raw) % _SPLAT_DTYPE.itemsize:
        raise InputError(
            f"{path} is not a .splat file: {len(raw)} bytes is not a multiple of {_SPLAT_DTYPE.itemsize}"
        )
    data = np.frombuffer(raw, dtype=_SPLAT_DTYPE)
    rgba = torch.from_numpy(data["rgba"].astype(np.float32) / 255.0)
    quats = (torch.from_numpy(data["rot"].astype(np.float32)) - 128.0) / 128.0
    return Gaussians.from_activated(
        means=torch.from_numpy(data["position"].copy()),
        scales=torch.from_numpy(data["scale"].copy()),
        quats=quats,
        opacities=rgba[:, 3],
        rgb=rgba[:, :3],
    )
