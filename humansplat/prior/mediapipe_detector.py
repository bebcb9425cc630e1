"""MediaPipe models (the legacy ``mp.solutions`` API of mediapipe 0.10.21; their weights ship in the wheel).

Every model is created lazily on first use, once per process, and every call goes through one lock:
MediaPipe graphs are not thread-safe, so concurrent callers (e.g. several app sessions) are serialised.
Only models bundled in the wheel are used (no download): Pose with ``model_complexity=1`` (the "full"
model; "lite" and "heavy" would be downloaded), Face Mesh (468 points, no iris refinement) and Hands
(``model_complexity=0``, the bundled "lite" model).

All functions take an (H, W, 3) uint8 RGB array and return pixel coordinates (u, v) in the convention
of :mod:`humansplat.cameras` (MediaPipe's normalised x, y times W, H); Face Mesh's points also keep
their depth ``z`` (MediaPipe's normalised z times W: the same scale as u, relative to the face's centre,
negative towards the camera).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

__all__ = ["PoseDetection", "detect_face_mesh", "detect_hand", "detect_pose", "models_loaded"]

T = TypeVar("T")
_LOCK = threading.RLock()
_MODELS: dict[str, Any] = {}

POSE_MIN_DETECTION_CONFIDENCE = 0.5
FACE_MIN_DETECTION_CONFIDENCE = 0.5
HAND_MIN_DETECTION_CONFIDENCE = 0.4


# name -> (mp.solutions module, class, options besides static_image_mode=True); bundled models only.
_CONFIGS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "pose": (
        "pose",
        "Pose",
        {
            "model_complexity": 1,
            "enable_segmentation": True,
            "smooth_segmentation": False,
            "min_detection_confidence": POSE_MIN_DETECTION_CONFIDENCE,
        },
    ),
    "face_mesh": (
        "face_mesh",
        "FaceMesh",
        {"max_num_faces": 1, "refine_landmarks": False, "min_detection_confidence": FACE_MIN_DETECTION_CONFIDENCE},
    ),
    "hands": (
        "hands",
        "Hands",
        {"max_num_hands": 2, "model_complexity": 0, "min_detection_confidence": HAND_MIN_DETECTION_CONFIDENCE},
    ),
}


@dataclass
class PoseDetection:
    """MediaPipe Pose on one image (the most prominent person).

    Attributes:
        landmarks: (33, 2) float32 pixels (u, v), BlazePose order; may lie outside the image.
        visibility: (33,) float32 in [0, 1], MediaPipe's likelihood that the point is visible.
        world: (33, 3) float32 metres, MediaPipe's hip-centred 3D landmarks (x right, y down, z away
            from the camera, roughly), or None.
        mask: (H, W) float32 in [0, 1], the person's segmentation probability.
    """

    landmarks: np.ndarray
    visibility: np.ndarray
    world: np.ndarray | None
    mask: np.ndarray


def _model(name: str) -> Any:
    """The named model, created on first use (call with ``_LOCK`` held)."""
    model = _MODELS.get(name)
    if model is not None:
        return model
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ INFO/WARNING lines
    try:
        import mediapipe as mp
    except ImportError as exc:  # pragma: no cover - mediapipe is a dependency
        raise ImportError("Person detection needs mediapipe==0.10.21 (pip install mediapipe==0.10.21).") from exc
    module, cls, options = _CONFIGS[name]
    model = getattr(getattr(mp.solutions, module), cls)(static_image_mode=True, **options)
    _MODELS[name] = model
    return model


def models_loaded() -> tuple[str, ...]:
    """Names of the models created so far in this process."""
    with _LOCK:
        return tuple(sorted(_MODELS))


def _as_input(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim != 3 or rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {rgb.shape} {rgb.dtype}")
    return np.ascontiguousarray(rgb)


def _points(landmarks: Any, width: int, height: int) -> np.ndarray:
    return np.array([[p.x * width, p.y * height] for p in landmarks.landmark], dtype=np.float32)


def _points_with_depth(landmarks: Any, width: int, height: int) -> np.ndarray:
    """(n, 3) float32 (u, v, z) pixels: MediaPipe's relative depth z scaled like x (times ``width``)."""
    return np.array([[p.x * width, p.y * height, p.z * width] for p in landmarks.landmark], dtype=np.float32)


def _run(name: str, rgb: np.ndarray, read: Callable[[Any, int, int], T]) -> T:
    """Run model ``name`` on ``rgb`` and ``read(result, width, height)`` its outputs, under the lock
    (outputs may view the graph's buffers, so they are copied before the next call)."""
    image = _as_input(rgb)
    with _LOCK:
        return read(_model(name).process(image), image.shape[1], image.shape[0])


def _read_pose(result: Any, width: int, height: int) -> PoseDetection | None:
    if result.pose_landmarks is None:
        return None
    points = _points(result.pose_landmarks, width, height)
    visibility = np.array([p.visibility for p in result.pose_landmarks.landmark], dtype=np.float32)
    world = None
    if result.pose_world_landmarks is not None:
        world = np.array([[p.x, p.y, p.z] for p in result.pose_world_landmarks.landmark], dtype=np.float32)
    mask = result.segmentation_mask
    mask = np.zeros((height, width), np.float32) if mask is None else np.array(mask, dtype=np.float32)
    return PoseDetection(points, np.clip(visibility, 0.0, 1.0), world, np.clip(mask, 0.0, 1.0))


def detect_pose(rgb: np.ndarray) -> PoseDetection | None:
    """MediaPipe Pose (33 landmarks + segmentation) on an (H, W, 3) uint8 image; None if nobody."""
    return _run("pose", rgb, _read_pose)


def detect_face_mesh(rgb: np.ndarray) -> np.ndarray | None:
    """MediaPipe Face Mesh on an image showing one face: (468, 3) float32 (u, v, z) pixels, or None.

    ``z`` is Face Mesh's depth relative to the face's centre, negative towards the camera, in pixels of
    the same scale as u (a weak-perspective reading: metres = pixels x distance / focal length)."""
    faces = _run(
        "face_mesh", rgb, lambda r, w, h: [_points_with_depth(f, w, h) for f in r.multi_face_landmarks or []]
    )
    return faces[0] if faces else None


def detect_hand(rgb: np.ndarray, near: tuple[float, float] | None = None) -> np.ndarray | None:
    """MediaPipe Hands on an image showing a hand: (21, 2) float32 pixels of the hand whose wrist is
    nearest to ``near`` (u, v) (default: the most confident hand), or None."""
    hands = _run("hands", rgb, lambda r, w, h: [_points(x, w, h) for x in r.multi_hand_landmarks or []])
    if not hands:
        return None
    if near is None:
        return hands[0]
    target = np.asarray(near, dtype=np.float32)
    return min(hands, key=lambda hand: float(np.linalg.norm(hand[0] - target)))
