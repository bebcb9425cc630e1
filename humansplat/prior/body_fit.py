"""The fitted body: the human structure prior that travels to reconstruction, and its one file format.

``body.json`` (schema ``humansplat.body/1``) is written by :meth:`BodyFit.to_dict` everywhere: the
CLI, ``python -m humansplat.prior``, the app's downloads and its ``/fit_body`` endpoint.
:meth:`BodyFit.from_dict` reads it back. Keys (arrays are nested lists, floats rounded to 1e-6):

==================  ======================================================================================
``schema``          ``"humansplat.body/1"`` (:meth:`BodyFit.from_dict` refuses any other value)
``frame``, ``units``  world = the input photo's camera frame, OpenCV axes (x right, y down, z forward;
                    up is -y); metres, axis-angles in radians, image quantities in crop pixels
``backend``         body model name (``"anny"`` or ``"smplx"``)
``pose``            the backend's pose parameters as fitted (anny/SMPL-X: (P, 3) axis-angles, one row per
                    ``pose_groups`` entry, model-frame axes)
``pose_groups``     the P group names (``humansplat.prior.body_models.POSE_GROUPS``), or ``[]``
``shape``           name -> value(s) of the backend's shape parameters (anny: phenotypes in [0, 1])
``params``          ``global_orient`` (3,) axis-angle model -> camera, ``translation`` (3,) metres (root joint
                    in the camera frame), ``body_pose`` (P, 3), ``shape`` (S,); or null
``mesh``            ``vertex_count``, ``face_count``, ``part_names``, and unless written with
                    ``include_mesh=False``: ``vertices`` (V, 3) metres, ``faces`` (F, 3) vertex indices,
                    ``parts`` (V,) indices into ``part_names``
``joints``          (J, 3) metres, camera frame
``landmarks3d``     (33, 3) metres, MediaPipe-topology points of the fitted body, or null
``camera``          ``width``, ``height`` (pixels), ``K`` (3, 3) intrinsics (pixel centres at +0.5),
                    ``world_to_camera`` (4, 4) (see :mod:`humansplat.cameras`)
``crop``            the person crop the body was fitted to, without its pixels: ``size``, ``box`` (x0, y0,
                    side in photo pixels), ``photo_size`` (w, h), ``cut_off``, ``people_found``, ``notes``,
                    ``mask_source``, ``framing`` (``"full body"``, ``"half body"``, ``"head and
                    shoulders"``, ``"face only"``, or null), ``facing`` (the facing cues, ``facing`` +1
                    faces the camera / -1 turned away, ``margin``, ``basis``; or null), ``lens``
                    (``fov_deg`` across the photo's longer side, ``source``: ``"exif"``, ``"default"``
                    or ``"face"``, ``face_distance_m``; or null),
                    ``landmarks_px`` (``body`` (33, 2) crop pixels, ``body_confidence`` (33,)); or null
``errors``          fit quality: ``landmark_error_pct`` (% of person height), ``silhouette_iou``, ...
``timings``         seconds per fit stage
==================  ======================================================================================
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..cameras import Cameras
from ..parts import PART_NAMES
from .body_models import POSE_GROUPS, BodyParams
from .person import PersonCrop

BODY_SCHEMA = "humansplat.body/1"
"""``schema`` value of :meth:`BodyFit.to_dict` (bump the number after the slash on incompatible changes)."""

_FRAME = "world = the input photo's camera frame, OpenCV axes: x right, y down, z forward (up is -y)"
_UNITS = "metres; axis-angles in radians; image quantities in crop pixels (pixel centres at +0.5)"


def _tolist(x: torch.Tensor | np.ndarray | None, decimals: int | None = 6) -> Any:
    """A tensor/array as nested lists (floats rounded to ``decimals``; integers as int)."""
    if x is None:
        return None
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if a.dtype.kind in "iub":
        return a.astype(np.int64).tolist()
    a = a.astype(np.float64)
    return (np.round(a, decimals) if decimals is not None else a).tolist()


def _tensor(x: Any, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float64 if dtype.is_floating_point else np.int64), dtype=dtype)


@dataclass
class BodyFit:
    """A body model fitted to one photo, in the input camera's frame (world = camera, OpenCV axes).

    Attributes:
        backend: body model name ("anny" or "smplx").
        pose: the backend's pose parameters, (P, 3) axis-angles per
            :data:`~humansplat.prior.body_models.POSE_GROUPS` entry for anny and SMPL-X.
        shape: backend shape parameters (name -> tensor).
        vertices: (V, 3) float32, metres, in the input camera frame.
        faces: (F, 3) int64 triangle indices into ``vertices``.
        parts: (V,) int64 semantic part labels, indices into :data:`humansplat.parts.PART_NAMES`.
        joints: (J, 3) float32 joint positions in the camera frame (metres).
        camera: the crop's one-view :class:`Cameras` (same as ``crop.camera``).
        crop: the photo crop with mask and landmarks the body was fitted to; None for a body read
            back with :meth:`from_dict` without one (``body.json`` does not hold the crop's pixels).
        errors: fit quality, e.g. ``landmark_error_pct`` (mean 2D error, % of person height) and
            ``silhouette_iou`` (fitted body vs. person mask).
        params: the full :class:`~humansplat.prior.body_models.BodyParams` (global orientation and
            translation in the world frame, pose (P, 3) axis-angles, shape (S,)), or None.
        landmarks3d: (33, 3) float32 MediaPipe-topology points of the fitted body (world frame), or None.
        timings: seconds spent, e.g. ``fit_landmarks_s``, ``fit_total_s``.
    """

    backend: str
    pose: torch.Tensor
    shape: dict[str, torch.Tensor]
    vertices: torch.Tensor
    faces: torch.Tensor
    parts: torch.Tensor
    joints: torch.Tensor
    camera: Cameras
    crop: PersonCrop | None
    errors: dict[str, float] = field(default_factory=dict)
    params: BodyParams | None = None
    landmarks3d: torch.Tensor | None = None
    timings: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------------ body.json
    def to_dict(self, include_mesh: bool = True) -> dict[str, Any]:
        """The body as plain JSON data, schema ``humansplat.body/1`` (module docstring).

        Args:
            include_mesh: write the mesh arrays (``vertices``, ``faces``, ``parts``; ~1 MB of JSON for
                anny). Without them the dict is a summary (counts only) that :meth:`from_dict` refuses.
        """
        cam = self.camera
        mesh: dict[str, Any] = {
            "vertex_count": int(self.vertices.shape[0]),
            "face_count": int(self.faces.shape[0]),
            "part_names": list(PART_NAMES),
        }
        if include_mesh:
            mesh.update(vertices=_tolist(self.vertices), faces=_tolist(self.faces), parts=_tolist(self.parts))
        pose_groups = list(POSE_GROUPS) if tuple(self.pose.shape) == (len(POSE_GROUPS), 3) else []
        return {
            "schema": BODY_SCHEMA,
            "frame": _FRAME,
            "units": _UNITS,
            "backend": self.backend,
            "pose": _tolist(self.pose),
            "pose_groups": pose_groups,
            "shape": {k: _tolist(v) for k, v in (self.shape or {}).items()},
            "params": None if self.params is None else {k: _tolist(v) for k, v in self.params.to_dict().items()},
            "mesh": mesh,
            "joints": _tolist(self.joints),
            "landmarks3d": _tolist(self.landmarks3d),
            "camera": {
                "width": cam.width,
                "height": cam.height,
                "K": _tolist(cam.Ks[0]),
                "world_to_camera": _tolist(cam.viewmats[0]),
            },
            "crop": None if self.crop is None else _crop_to_dict(self.crop),
            "errors": {k: float(v) for k, v in (self.errors or {}).items()},
            "timings": {k: float(v) for k, v in (self.timings or {}).items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], crop: PersonCrop | None = None) -> BodyFit:
        """A :class:`BodyFit` from :meth:`to_dict`'s output (e.g. ``json.load`` of a ``body.json``).

        Args:
            data: the dict; its ``schema`` must be ``humansplat.body/1``.
            crop: the person crop to attach (``body.json`` holds only the crop's description); default None.

        Raises:
            ValueError: another schema, or a summary written with ``include_mesh=False``.
        """
        schema = data.get("schema") if isinstance(data, dict) else None
        if schema != BODY_SCHEMA:
            raise ValueError(
                f"not a HumanSplat body ({BODY_SCHEMA}): schema is {schema!r}. Write it with BodyFit.to_dict() "
                "(body.json from the CLI, python -m humansplat.prior or the app)."
            )
        mesh = data["mesh"]
        if "vertices" not in mesh:
            raise ValueError(
                "this body dict has no mesh arrays (written with include_mesh=False, e.g. the app's summary "
                "panel); read the full body.json instead."
            )
        cam = data["camera"]
        camera = Cameras(
            viewmats=_tensor(cam["world_to_camera"]).reshape(1, 4, 4),
            Ks=_tensor(cam["K"]).reshape(1, 3, 3),
            width=int(cam["width"]),
            height=int(cam["height"]),
        )
        params = None
        if data.get("params") is not None:
            params = BodyParams(**{k: _tensor(v) for k, v in data["params"].items()})
        return cls(
            backend=str(data["backend"]),
            pose=_tensor(data["pose"]),
            shape={k: _tensor(v) for k, v in data["shape"].items()},
            vertices=_tensor(mesh["vertices"]).reshape(-1, 3),
            faces=_tensor(mesh["faces"], torch.int64).reshape(-1, 3),
            parts=_tensor(mesh["parts"], torch.int64).reshape(-1),
            joints=_tensor(data["joints"]).reshape(-1, 3),
            camera=camera,
            crop=crop,
            errors={k: float(v) for k, v in data.get("errors", {}).items()},
            params=params,
            landmarks3d=None if data.get("landmarks3d") is None else _tensor(data["landmarks3d"]).reshape(-1, 3),
            timings={k: float(v) for k, v in data.get("timings", {}).items()},
        )

    def write_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` (with the mesh) to ``path`` as JSON; returns the path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), separators=(",", ":")), encoding="utf-8")
        return path


def _crop_to_dict(crop: PersonCrop) -> dict[str, Any]:
    lm = crop.landmarks
    return {
        "size": crop.size,
        "box": [int(v) for v in crop.box],
        "photo_size": [int(v) for v in crop.photo_size],
        "cut_off": list(crop.cut_off),
        "people_found": int(crop.people_found),
        "notes": list(crop.notes),
        "mask_source": crop.mask_source,
        "framing": crop.framing,
        "facing": None if crop.facing is None else crop.facing.as_dict(),
        "lens": None if crop.lens is None else {
            "fov_deg": round(float(crop.lens.fov_deg), 3),
            "source": crop.lens.source,
            "face_distance_m": None if crop.lens.face_distance_m is None else round(float(crop.lens.face_distance_m), 4),
        },
        "landmarks_px": {"body": _tolist(lm.body, 3), "body_confidence": _tolist(lm.body_confidence, 4)},
    }
