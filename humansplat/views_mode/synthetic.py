"""A textured synthetic person with a known back, for testing and benchmarking the views-mode fit.

The project's synthetic person (:func:`humansplat.prior.synthetic.make_synthetic_person`, its true body)
gets per-vertex colours: a colour per semantic part, the torso's back half mixed with yellow (so the
back differs from what the photo shows) and horizontal stripes (texture). The "photo" is that mesh
rendered flat (:func:`humansplat.render.mesh.render_mesh`, ambient 1) from the input camera; renders
from any other camera are the true views. (The textured evaluation set of :mod:`humansplat.eval`
supersedes this once it is available.)
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ..prior.body_fit import BodyFit
from ..render.mesh import TexturedMesh

__all__ = ["PART_ALBEDO", "textured_synthetic_person"]

PART_ALBEDO = torch.tensor(
    [
        [0.25, 0.15, 0.08],  # head: hair
        [0.90, 0.70, 0.55],  # face
        [0.85, 0.65, 0.50],  # hands
        [0.80, 0.25, 0.20],  # arms: red sleeves
        [0.20, 0.40, 0.75],  # torso: blue shirt (yellowish on the back)
        [0.15, 0.20, 0.35],  # legs
        [0.10, 0.10, 0.10],  # feet
    ]
)
"""(P, 3) albedo of each part of :data:`humansplat.prior.parts.PART_NAMES`."""


def textured_synthetic_person(seed: int = 0, size: int = 128) -> tuple[BodyFit, TexturedMesh]:
    """The synthetic person of ``seed`` as a textured mesh, and its true body fit whose crop (rgb, mask)
    is the mesh rendered from the input camera (``size`` x ``size``, on white)."""
    from ..prior.synthetic import make_synthetic_person
    from ..render.mesh import render_mesh

    person = make_synthetic_person(seed=seed, size=size)
    v, parts = person.vertices, person.parts
    colours = PART_ALBEDO[parts].clone()
    back = (v[:, 2] > (v[:, 2].max() + v[:, 2].min()) / 2).float()[:, None]
    torso = (parts[:, None] == 4).float()
    colours = colours * (1 - 0.5 * back) + 0.5 * back * torso * torch.tensor([0.9, 0.8, 0.2])
    colours = (colours + 0.08 * torch.sin(v[:, 1:2] * 40.0)).clamp(0.0, 1.0)
    mesh = TexturedMesh(v, person.faces, vertex_colors=colours, parts=parts, name=f"synthetic-{seed}")
    fit = person.as_body_fit()
    photo = render_mesh(mesh, fit.camera, supersample=2)
    rgb = (photo.rgb[0].numpy() * 255.0 + 0.5).astype(np.uint8)
    fit.crop = replace(fit.crop, rgb=rgb, mask=photo.alpha[0].numpy().astype(np.float32))
    return fit, mesh
