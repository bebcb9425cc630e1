"""Animatable avatars: bind Gaussians to the fitted body's skeleton, re-pose them, export them.

* :mod:`.rig` - the skeleton (bones, bind pose = the fitted pose) and :class:`Pose`.
* :mod:`.motions` - built-in poses and motions over the body model's own joints.
* :mod:`.regions` - the body region of each Gaussian (depth order in the photo, skirts vs trousers).
* :mod:`.bind` - skinning weights from each Gaussian's own region (a skirt blends both legs), :func:`repose`.
* :mod:`.tears` - how much a motion tears or stretches an avatar (:func:`tear_stats`).
* :mod:`.people` - synthetic people whose parts touch in the photo (tests, benchmark).
* :mod:`.export` - animation video, rigged ``.glb``, bound ``.ply`` + sidecar, :func:`animate_result`.
"""

from .bind import BindOptions, BoundAvatar, SkinBinding, bind, point_skin_weights, repose, skin_binding, skin_gaussians
from .export import (
    animate_result,
    load_bound_avatar,
    render_animation,
    save_animation_video,
    save_bound_avatar,
    save_rigged_glb,
)
from .motions import MOTIONS, Motion, get_motion, motion_names
from .regions import REGION_NAMES, RegionOptions, assign_regions
from .rig import Pose, Rig, rig_from_fit
from .tears import TearStats, tear_stats

__all__ = [
    "MOTIONS",
    "REGION_NAMES",
    "BindOptions",
    "BoundAvatar",
    "Motion",
    "Pose",
    "RegionOptions",
    "Rig",
    "SkinBinding",
    "TearStats",
    "animate_result",
    "assign_regions",
    "bind",
    "get_motion",
    "load_bound_avatar",
    "motion_names",
    "point_skin_weights",
    "render_animation",
    "repose",
    "rig_from_fit",
    "save_animation_video",
    "save_bound_avatar",
    "save_rigged_glb",
    "skin_binding",
    "skin_gaussians",
    "tear_stats",
]
