"""Animatable avatars: bind Gaussians to the fitted body's skeleton, re-pose them, export them.

* :mod:`.rig` - the skeleton (bones, bind pose = the fitted pose) and :class:`Pose`.
* :mod:`.motions` - built-in poses and motions over the body model's own joints.
* :mod:`.bind` - skinning weights (loose cloth between the legs blends both legs), :func:`repose`.
* :mod:`.export` - animation video, rigged ``.glb``, bound ``.ply`` + sidecar, :func:`animate_result`.
"""

from .bind import BindOptions, BoundAvatar, bind, point_skin_weights, repose, skin_gaussians
from .export import animate_result, load_bound_avatar, render_animation, save_animation_video, save_bound_avatar, save_rigged_glb
from .motions import MOTIONS, Motion, get_motion, motion_names
from .rig import Pose, Rig, rig_from_fit

__all__ = [
    "MOTIONS",
    "BindOptions",
    "BoundAvatar",
    "Motion",
    "Pose",
    "Rig",
    "animate_result",
    "bind",
    "load_bound_avatar",
    "render_animation",
    "save_animation_video",
    "save_bound_avatar",
    "save_rigged_glb",
    "get_motion",
    "motion_names",
    "point_skin_weights",
    "repose",
    "rig_from_fit",
    "skin_gaussians",
]
