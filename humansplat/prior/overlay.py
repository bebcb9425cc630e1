"""Overlays of the structure prior for people: landmarks, the person mask and the fitted body's parts.

Every ``draw_*`` function returns a uint8 (S, S, 3) image the size of the crop. The body is drawn
with :func:`humansplat.render.mesh.render_mesh`. Pixel convention: :mod:`humansplat.cameras`.
"""

from __future__ import annotations

import numpy as np

from ..parts import part_color_table  # re-exported (overlay API)
from ..render.mesh import TexturedMesh, render_mesh
from .body_fit import BodyFit
from .person import PersonCrop

__all__ = [
    "POSE_CONNECTIONS",
    "draw_body_parts",
    "draw_landmarks",
    "draw_mask",
    "part_color_table",
]

POSE_CONNECTIONS: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
    (11, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
    (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28),
    (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32),
)
"""Skeleton edges between MediaPipe Pose landmarks (indices into the 33 points)."""


# ---------------------------------------------------------------------------------------------- drawings
_LEFT = (255, 140, 0)  # the subject's left side
_RIGHT = (0, 150, 255)  # the subject's right side
_CENTRE = (255, 255, 255)
_LEFT_IDS = {1, 2, 3, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31}
_HAND_CONNECTIONS = (
    (0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11), (11, 12),
    (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19), (19, 20),
)


def _landmark_color(i: int) -> tuple[int, int, int]:
    if i in _LEFT_IDS:
        return _LEFT
    if i == 0:
        return _CENTRE
    return _RIGHT


def draw_landmarks(crop: PersonCrop, min_confidence: float = 0.2) -> np.ndarray:
    """The crop with its landmarks: the 33-point skeleton (subject's left orange, right blue;
    landmarks below ``min_confidence`` are left out), face mesh points and hand skeletons when present.

    Returns:
        (S, S, 3) uint8.
    """
    from PIL import Image, ImageDraw

    S = crop.size
    ss = 2  # drawn at twice the size, then downsampled: smooth lines
    scale = S / 512.0
    base = Image.fromarray(np.ascontiguousarray(crop.rgb)).resize((S * ss, S * ss), Image.BILINEAR)
    # Dim the photo a little so the skeleton stands out.
    base = Image.blend(base, Image.new("RGB", base.size, (0, 0, 0)), 0.25)
    draw = ImageDraw.Draw(base)
    lm = crop.landmarks
    pts = np.asarray(lm.body, dtype=np.float64) * ss
    ok = np.asarray(lm.body_confidence) >= min_confidence
    width = max(2, round(3 * scale * ss))
    radius = max(2.0, 4.5 * scale * ss)
    if lm.face is not None:  # faint dots: the face stays visible under the 468 points
        layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
        fdraw = ImageDraw.Draw(layer)
        r = max(1.0, 0.8 * scale * ss)
        for u, v in np.asarray(lm.face, dtype=np.float64)[:, :2] * ss:
            fdraw.ellipse([u - r, v - r, u + r, v + r], fill=(170, 255, 170, 110))
        base = Image.alpha_composite(base.convert("RGBA"), layer).convert("RGB")
        draw = ImageDraw.Draw(base)
    for hand, color in ((lm.left_hand, _LEFT), (lm.right_hand, _RIGHT)):
        if hand is None:
            continue
        hp = np.asarray(hand, dtype=np.float64) * ss
        for a, b in _HAND_CONNECTIONS:
            draw.line([tuple(hp[a]), tuple(hp[b])], fill=color, width=max(1, width // 2))
    for a, b in POSE_CONNECTIONS:
        if ok[a] and ok[b]:
            ca, cb = _landmark_color(a), _landmark_color(b)
            color = ca if ca == cb else _CENTRE  # edges across the body (shoulders, hips) are white
            draw.line([tuple(pts[a]), tuple(pts[b])], fill=(20, 20, 20), width=width + 2 * ss)
            draw.line([tuple(pts[a]), tuple(pts[b])], fill=color, width=width)
    for i in np.nonzero(ok)[0]:
        u, v = pts[i]
        draw.ellipse([u - radius - ss, v - radius - ss, u + radius + ss, v + radius + ss], fill=(20, 20, 20))
        draw.ellipse([u - radius, v - radius, u + radius, v + radius], fill=_landmark_color(int(i)))
    return np.asarray(base.resize((S, S), Image.LANCZOS), dtype=np.uint8)


def _contour(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels of ``mask`` (bool) next to a pixel outside it."""
    pad = np.pad(mask, 1, mode="constant")
    inner = pad[1:-1, 1:-1] & pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
    return mask & ~inner


def draw_mask(crop: PersonCrop, color: tuple[int, int, int] = (0, 200, 255)) -> np.ndarray:
    """The crop with the person mask: background darkened, the person tinted with ``color`` in
    proportion to the mask, and the mask's outline (mask > 0.5) drawn.

    Returns:
        (S, S, 3) uint8.
    """
    rgb = crop.rgb.astype(np.float32)
    m = np.clip(np.asarray(crop.mask, dtype=np.float32), 0.0, 1.0)[..., None]
    tint = np.asarray(color, dtype=np.float32)
    person = 0.7 * rgb + 0.3 * tint
    background = 0.35 * rgb
    out = m * person + (1.0 - m) * background
    edge = _contour(crop.mask > 0.5)
    out[edge] = tint
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def draw_body_parts(fit: BodyFit, alpha: float = 0.6, outline: bool = True) -> np.ndarray:
    """The fitted body, its parts coloured (``PART_COLORS``) and shaded, blended over the photo.

    Args:
        fit: a :class:`~humansplat.prior.body_fit.BodyFit` (its crop's photo and camera are used).
        alpha: opacity of the body over the photo, in [0, 1].
        outline: draw the body's silhouette outline in white.

    Returns:
        (S, S, 3) uint8.
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    crop = fit.crop
    parts = fit.parts.detach().cpu().long()
    albedo = part_color_table()[parts.numpy()]
    mesh = TexturedMesh(fit.vertices.detach(), fit.faces, vertex_colors=albedo, name="fitted body")
    body = render_mesh(mesh, fit.camera, supersample=2, background=0.0, ambient=0.45)
    shaded = body.rgb[0].numpy().astype(np.float32) * 255.0  # shaded body * coverage, antialiased
    cov = body.alpha[0].numpy()[..., None]
    photo = crop.rgb.astype(np.float32) if crop is not None else np.full(shaded.shape, 255.0, np.float32)
    out = (1.0 - alpha * cov) * photo + alpha * shaded
    if outline:
        out[_contour(cov[..., 0] > 0.5)] = 255.0
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
