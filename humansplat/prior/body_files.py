"""A fitted body's files: ``body.json``, the mesh as ``.obj`` and ``.glb``, and the overlays over its crop.

The mesh is written twice: ``body.obj`` in the world frame (OpenCV axes, :mod:`humansplat.cameras`) and
``body.glb`` in glTF axes (:func:`humansplat.geometry.opencv_to_gltf`: y up, facing +z, for viewers);
vertex colours by part (:data:`humansplat.parts.PART_COLORS`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..geometry import opencv_to_gltf
from ..parts import part_color_table
from .body_fit import BodyFit
from .overlay import draw_body_parts, draw_landmarks, draw_mask

__all__ = ["BODY_FILES", "OVERLAY_FILES", "save_body"]

BODY_FILES = {"json": "body.json", "obj": "body.obj", "glb": "body.glb"}
"""Names of the files :func:`save_body` writes (plus the overlays in ``OVERLAY_FILES`` with a crop)."""

OVERLAY_FILES = {"landmarks": "landmarks.png", "mask": "mask.png", "parts": "body.png"}
"""Overlays over the person crop written by :func:`save_body` (see :mod:`humansplat.prior.overlay`)."""


def save_body(fit: BodyFit, folder: str | Path, overlays: bool = True) -> dict[str, Path]:
    """Write the body's files into ``folder`` (created if needed) and return ``key -> path``.

    Files: ``body.json`` (:meth:`BodyFit.to_dict`), ``body.obj`` (the mesh in the world frame, vertex colours
    by part), ``body.glb`` (the same mesh in glTF axes x, -y, -z: y up, facing +z, for viewers), and with
    ``overlays`` and a crop: ``landmarks.png``, ``mask.png``, ``body.png`` (parts over the crop).
    """
    import trimesh  # optional heavy dependencies, needed only to write files
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {key: folder / name for key, name in BODY_FILES.items()}
    fit.write_json(paths["json"])
    verts = fit.vertices.detach().cpu().numpy().astype(np.float64)
    faces = fit.faces.detach().cpu().numpy()
    rgb = (part_color_table()[fit.parts.cpu().numpy()] * 255.0 + 0.5).astype(np.uint8)
    colors = np.concatenate([rgb, np.full((len(rgb), 1), 255, np.uint8)], axis=1)
    trimesh.Trimesh(verts, faces, vertex_colors=colors, process=False).export(paths["obj"])
    gltf = trimesh.Trimesh(opencv_to_gltf(verts), faces, vertex_colors=colors, process=False)
    gltf.export(paths["glb"])
    if overlays and fit.crop is not None:
        images = {"landmarks": draw_landmarks(fit.crop), "mask": draw_mask(fit.crop), "parts": draw_body_parts(fit)}
        for key, image in images.items():
            paths[key] = folder / OVERLAY_FILES[key]
            Image.fromarray(image).save(paths[key])
    return paths
