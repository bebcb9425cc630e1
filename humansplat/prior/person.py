"""The person in a photo: segmentation, landmarks and the square crop the later stages use.

:func:`detect_person` runs MediaPipe (:mod:`.mediapipe_detector`) and returns a :class:`PersonCrop`:

1. **Detection image.** The photo, composited on white where it has an alpha channel, downscaled to a
   longer side of at most ``DETECT_SIDE`` px (MediaPipe works at 256 px internally; landmarks are
   scaled back exactly, as MediaPipe reports them relative to the image size).
2. **People.** MediaPipe Pose finds one person per call. To count people, the person found is blanked
   out (its box painted white) and Pose runs again, up to ``MAX_PEOPLE`` times; a later detection counts
   as another person when it has at least ``MIN_EXTRA_LANDMARKS`` confident landmarks and lies mostly
   outside the boxes already blanked; people whose mask is below ``MIN_RELATIVE_AREA`` of the largest
   one's (passers-by far behind) are not counted.
   The person with the largest mask is used; when there are several, a note says so and where.
   When the first call finds nobody, Pose looks again at the image with its border pixels repeated
   around it (``RETRY_MARGINS``): its detector misses people cut off by the frame and small in it.
   Nobody at all -> :class:`~humansplat.errors.InputError`.
3. **Landmarks.** 33 body points (MediaPipe Pose); a point gets confidence 0 when its visibility is
   below ``VISIBILITY_MIN`` or it lies outside the photo, else its visibility. Optionally (default on)
   Face Mesh (468 points) on a crop around the head and Hands (21 points each) on crops around the
   wrists; a hand is kept only when its wrist lies near the body's wrist. Which way the person faces
   is decided before the hands are looked for (:mod:`.sides`, ``PersonCrop.facing``; left/right
   labels that disagree are exchanged), and how much of the person the photo holds is read from the
   landmarks (:mod:`.photo_framing`, ``PersonCrop.framing``).
4. **Mask.** An alpha channel in the photo wins (kept as is; with several people, only its parts that
   overlap the chosen person). Otherwise Pose's segmentation, cleaned (:func:`clean_mask`: threshold
   0.5, the largest connected component plus components holding a confident landmark, holes filled,
   the interior made opaque, the soft outer edge kept, a Gaussian blur of ``MASK_BLUR_PX`` detection
   pixels).
5. **Crop.** The person's box (mask > 0.5 united with the confident landmarks, face and hands)
   grown by ``margin`` (default 10 %) of its longer side on every side, made square around its
   centre, in whole pixels; parts of it outside the photo are white. The photo and the mask are
   resampled (Lanczos, :func:`crop_square`) to ``size`` x ``size`` and composited on white outside
   the mask (with an alpha channel the photo is composited first, at full resolution, so colours
   under transparent pixels never bleed into the edge).
6. **Camera.** ``photo.camera()`` (field of view from the photo's EXIF, see :mod:`humansplat.io.images`;
   without EXIF widened for a close-up face, :mod:`humansplat.prior.close_range`),
   then ``Cameras.crop(x0, y0, side, side)`` and ``Cameras.resize(size, size)``; landmarks go through
   ``Landmarks.transformed(size / side, x0, y0)``, the same map. A 3D point therefore projects to the
   same image content in the photo and in the crop.

A person touching the photo's border (half-body photos, selfies) is fine: the touched sides are in
``PersonCrop.cut_off`` (mask touching the border, or a body landmark predicted beyond it) with a note.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from ..cameras import Cameras
from .landmarks import Landmarks
from .matting import local_background, refine_mask
from .close_range import CameraChoice, close_range_fov
from .photo_framing import Framing, photo_framing
from .sides import SideVotes, consistent_sides, side_votes

if TYPE_CHECKING:  # pragma: no cover
    from ..io.images import Photo
    from .mediapipe_detector import PoseDetection

__all__ = [
    "MARGIN",
    "VISIBILITY_MIN",
    "PersonCrop",
    "clean_mask",
    "composite_white",
    "crop_square",
    "detect_person",
    "square_box",
    "touching_sides",
]

MARGIN = 0.10  # fraction of the person's longer box side added on every side of the crop
RETRY_MARGINS = (0.15, 0.3)
"""Margins (shares of the photo's longer side) of border pixels added around a photo in which Pose
found nobody, for another look. Pose's detector misses a person who is cut off by the frame and not
large in it (a rendered person cut at the thighs or the neck: 6 of 7 such photos found with 0.15)."""
VISIBILITY_MIN = 0.5  # body landmarks with a lower MediaPipe visibility get confidence 0
DETECT_SIDE = 1024  # longer side of the image MediaPipe sees (pixels)
MAX_PEOPLE = 4  # Pose passes when counting people
MIN_EXTRA_LANDMARKS = 8  # confident body landmarks a further detection needs to count as a person
MIN_RELATIVE_AREA = 0.1  # people with a mask below this fraction of the largest one are not counted
MASK_BLUR_PX = 1.0  # Gaussian sigma of the predicted mask's smoothing, detection pixels
EDGE_MIN_FRACTION = 0.005  # mask pixels on a border row/column (fraction of its length) = touching
BEYOND_EDGE_FRACTION = 0.02  # a body landmark this far outside the photo marks that side as cut off

_HEAD = list(range(11))  # nose, eyes, ears, mouth in BlazePose order
_HANDS = {"left": (15, 17, 19, 21), "right": (16, 18, 20, 22)}  # wrist, pinky, index, thumb


@dataclass
class PersonCrop:
    """The person, recentred and cropped to a square, with the crop's exact camera.

    Attributes:
        rgb: (S, S, 3) uint8, the crop (background composited to white outside the mask).
        mask: (S, S) float32 in [0, 1], person mask (an alpha channel in the file wins over prediction).
        camera: one-view :class:`Cameras` of the crop, S x S pixels (world = the input camera frame).
        landmarks: the person's landmarks in crop pixels.
        people_found: how many people were detected (the largest one is used).
        cut_off: sides of the original photo the person touches ("top", "bottom", "left", "right").
        notes: messages for the user (several people, cut off, alpha used, ...).
        box: (x0, y0, side) the crop's square in photo pixels (top-left pixel edge, side length);
            it may extend beyond the photo (that part is white).
        mask_source: "alpha" (the photo's alpha channel) or "predicted" (MediaPipe segmentation).
        photo_size: (width, height) of the photo the crop was taken from (with ``box``: which crop
            pixels show the photo and which are padding).
        background: (S, S, 3) float32 in [0, 1], the photo's background estimated behind the person
            (:func:`~humansplat.prior.matting.local_background`; NaN where unknown), or None (an alpha
            channel cut the person out: the background is the white of ``rgb``).
        facing: which way the person faces and how sure that is (:mod:`humansplat.prior.sides`), or
            None (a crop made without the pose detector).
        framing: how much of the person the photo shows (:mod:`humansplat.prior.photo_framing`), or
            None (a crop made without the pose detector).
        lens: the field of view the crop's camera was made with and why (:mod:`humansplat.prior.close_range`:
            EXIF, the default, or widened for a close-up face), or None (a crop made without the detector).
    """

    rgb: np.ndarray
    mask: np.ndarray
    camera: Cameras
    landmarks: Landmarks
    people_found: int = 1
    cut_off: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    box: tuple[int, int, int] = (0, 0, 0)
    mask_source: str = "predicted"
    photo_size: tuple[int, int] = (0, 0)
    background: np.ndarray | None = None
    facing: SideVotes | None = None
    framing: Framing | None = None
    lens: CameraChoice | None = None

    @property
    def size(self) -> int:
        return int(self.rgb.shape[0])


@dataclass
class _Candidate:
    """One person found at detection resolution (internal)."""

    points: np.ndarray  # (33, 2) detection pixels
    visibility: np.ndarray  # (33,) MediaPipe visibility
    world: np.ndarray | None  # (33, 3)
    soft: np.ndarray  # (h, w) float32 cleaned mask
    binary: np.ndarray  # (h, w) bool
    box: tuple[float, float, float, float]  # u0, v0, u1, v1 detection pixels

    @property
    def area(self) -> int:
        return int(self.binary.sum())


# ---------------------------------------------------------------------------------------------- public API
def detect_person(
    photo: Photo,
    size: int = 512,
    *,
    margin: float = MARGIN,
    face_and_hands: bool = True,
) -> PersonCrop:
    """Find the person in ``photo`` and crop them to a ``size`` x ``size`` square (module docstring).

    Args:
        photo: a :class:`~humansplat.io.images.Photo` (see :func:`~humansplat.io.images.load_photo`).
        size: side S of the output crop in pixels.
        margin: space around the person's box on each side, as a fraction of its longer side.
        face_and_hands: also run Face Mesh and Hands (adds tens of milliseconds).

    Raises:
        InputError: nobody was found in the photo.
        ValueError: ``size`` < 16 or ``margin`` outside [0, 1].
    """
    from ..errors import InputError

    if int(size) < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    if not 0.0 <= float(margin) <= 1.0:
        raise ValueError(f"margin must be in [0, 1], got {margin}")
    size = int(size)
    height, width = photo.height, photo.width
    detect_rgb = _detection_image(photo)
    people = _find_people(detect_rgb)
    if not people:
        raise InputError(
            f"No person found in '{photo.source}'. Use a photo where one person is clearly visible "
            "(ideally the whole body, facing the camera, not too small in the frame and well lit)."
        )
    person = max(people, key=lambda c: c.area)
    notes: list[str] = []
    if len(people) > 1:
        centre = 0.5 * (person.box[0] + person.box[2]) / detect_rgb.shape[1]
        where = "left" if centre < 0.4 else ("right" if centre > 0.6 else "centre")
        more = " or more" if len(people) == MAX_PEOPLE else ""
        notes.append(
            f"{len(people)}{more} people found; using the largest one (on the {where}). "
            "For best results use a photo of one person."
        )

    # Landmarks at photo resolution (MediaPipe's coordinates are relative to the image size).
    sx, sy = width / detect_rgb.shape[1], height / detect_rgb.shape[0]
    body = (person.points * np.array([sx, sy], np.float32)).astype(np.float32)
    confidence = _confidence(body, person.visibility, width, height)

    # The mask: the alpha channel wins (photo resolution), else the cleaned prediction (detection res.).
    comp = _composite_white(photo.rgb, photo.alpha)
    if photo.alpha is not None:
        mask = photo.alpha.astype(np.float32) / 255.0
        if len(people) > 1:
            mask = _keep_overlapping(mask, _upsample(person.binary.astype(np.float32), width, height) > 0.5)
        mask_source, mask_scale = "alpha", (1.0, 1.0)
        notes.append("The photo's alpha channel was used as the person mask.")
    else:
        mask, mask_source, mask_scale = person.soft, "predicted", (sx, sy)
    binary = mask > 0.5

    cut_off = _cut_off_sides(binary, body, width, height)
    if cut_off:
        notes.append(
            f"The person is cut off at the {', '.join(cut_off)} of the photo; the hidden parts will be guessed."
        )

    face = left = right = None
    if face_and_hands:
        face = _face_landmarks(comp, body, confidence)
    # One facing for every left/right label (MediaPipe sometimes labels a whole arm the wrong way
    # round), before the hands are looked for at the (now right) wrists.
    detected = Landmarks(body=body, body_confidence=confidence, face=face, body_world=person.world)
    facing = side_votes(detected)
    sided, swapped = consistent_sides(detected, facing)
    body, confidence, world = sided.body.astype(np.float32), sided.body_confidence.astype(np.float32), sided.body_world
    if swapped:
        notes.append(
            f"The pose detector's left/right labels of the {' and '.join(swapped)} disagreed with the rest "
            "of the body and were exchanged."
        )
    if not facing.sure:
        notes.append(
            "Which way the person faces is uncertain (no face or feet clear enough to tell); the pose "
            f"detector's reading was kept: {'facing the camera' if facing.facing > 0 else 'turned away'}."
        )
    if face_and_hands:
        left = _hand_landmarks(comp, body, confidence, "left")
        right = _hand_landmarks(comp, body, confidence, "right")

    points = np.concatenate([body[confidence > 0]] + [p[:, :2] for p in (face, left, right) if p is not None])
    box = _person_box(binary, points, mask_scale)
    if box is None:  # pragma: no cover - a detection always has a mask or landmarks
        raise InputError(f"No person found in '{photo.source}'. Use a photo where one person is clearly visible.")
    x0, y0, side = square_box(box, margin)
    # Mask on the crop's grid straight from its own resolution (the same square, in the mask's pixels).
    msx, msy = mask_scale
    mask_box = (x0 / msx, y0 / msy, (x0 + side) / msx, (y0 + side) / msy)
    mask_crop = np.clip(_resample(mask, mask_box, size, fill=0.0), 0.0, 1.0)
    background = None
    if photo.alpha is not None:  # ``comp`` is premultiplied on white: resampling it is exact compositing
        rgb_crop = crop_square(comp, x0, y0, side, size, fill=255)
    else:  # the segmentation's edge corrected against the photo's own background (prior.matting)
        raw_crop = crop_square(photo.rgb, x0, y0, side, size)
        mask_crop = refine_mask(raw_crop, mask_crop)
        rgb_crop = composite_white(raw_crop, mask_crop)
        background = local_background(raw_crop, mask_crop)
    lens = close_range_fov(photo.fov_deg, photo.fov_source, width, height, face)
    if lens.note:
        notes.append(lens.note)
    camera = replace(photo, fov_deg=lens.fov_deg).camera().crop(x0, y0, side, side).resize(size, size)
    landmarks = Landmarks(
        body=body, body_confidence=confidence, face=face, left_hand=left, right_hand=right, body_world=world
    ).transformed(size / side, x0, y0)
    return PersonCrop(
        rgb=rgb_crop,
        mask=mask_crop,
        camera=camera,
        landmarks=landmarks,
        people_found=len(people),
        cut_off=cut_off,
        notes=notes,
        box=(x0, y0, side),
        mask_source=mask_source,
        photo_size=(width, height),
        background=background,
        facing=facing,
        framing=photo_framing(confidence),
        lens=lens,
    )


def square_box(box: tuple[float, float, float, float], margin: float = MARGIN) -> tuple[int, int, int]:
    """The square crop around ``box`` = (u0, v0, u1, v1) pixel edges: (x0, y0, side) in whole pixels,
    centred on the box, side = ceil(longer box side * (1 + 2 * margin)) (at least 16)."""
    u0, v0, u1, v1 = box
    side = max(16, math.ceil(max(u1 - u0, v1 - v0) * (1.0 + 2.0 * margin)))
    x0 = math.floor(0.5 * (u0 + u1) - 0.5 * side + 0.5)
    y0 = math.floor(0.5 * (v0 + v1) - 0.5 * side + 0.5)
    return x0, y0, side


def crop_square(
    image: np.ndarray, x0: float, y0: float, side: float, size: int, fill: float | None = None
) -> np.ndarray:
    """Resample the square [x0, x0 + side) x [y0, y0 + side) of ``image`` (pixel edges, may leave the
    image) to ``size`` x ``size`` pixels (Lanczos; pixel edges aligned, so crop pixel (j, i) covers
    ``x0 + (j + [0, 1]) * side / size``, the map of ``Cameras.crop`` + ``Cameras.resize``).

    Args:
        image: (H, W, 3) uint8 or (H, W) float32.
        fill: value outside the image; None repeats the border pixels.

    Returns:
        (size, size, 3) uint8 or (size, size) float32.
    """
    return _resample(image, (x0, y0, x0 + side, y0 + side), size, fill)


def _resample(image: np.ndarray, box: tuple[float, float, float, float], size: int, fill: float | None) -> np.ndarray:
    """:func:`crop_square` for any rectangle ``box`` = (u0, v0, u1, v1) pixel edges -> size x size."""
    from PIL import Image

    height, width = image.shape[:2]
    u0, v0, u1, v1 = box
    # Only the part of the image under the box, plus the Lanczos kernel's reach (3 output pixels), is
    # copied and padded.
    reach = math.ceil(3.0 * max(1.0, (u1 - u0) / size, (v1 - v0) / size)) + 1
    c0, r0 = math.floor(u0) - reach, math.floor(v0) - reach
    c1, r1 = math.ceil(u1) + reach, math.ceil(v1) + reach
    sub = image[max(r0, 0) : min(r1, height), max(c0, 0) : min(c1, width)]
    pads = [(max(0, -r0), max(0, r1 - height)), (max(0, -c0), max(0, c1 - width))] + [(0, 0)] * (image.ndim - 2)
    if sub.size == 0:
        sub = np.full((r1 - r0, c1 - c0) + image.shape[2:], 0 if fill is None else fill, image.dtype)
    elif fill is None:
        sub = np.pad(sub, pads, mode="edge")
    else:
        sub = np.pad(sub, pads, mode="constant", constant_values=fill)
    pil = Image.fromarray(np.ascontiguousarray(sub))  # uint8 -> "RGB"/"L", float32 -> "F"
    local = (u0 - c0, v0 - r0, u1 - c0, v1 - r0)
    return np.asarray(pil.resize((size, size), Image.Resampling.LANCZOS, box=local, reducing_gap=3.0))


def composite_white(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 over white through the (H, W) mask in [0, 1] -> (H, W, 3) uint8."""
    m = np.clip(mask, 0.0, 1.0)[..., None]
    return np.rint(rgb.astype(np.float32) * m + 255.0 * (1.0 - m)).astype(np.uint8)


def clean_mask(
    probability: np.ndarray, seeds: np.ndarray | None = None, blur_px: float = MASK_BLUR_PX
) -> tuple[np.ndarray, np.ndarray]:
    """Clean a person probability map: keep the largest connected component of ``probability > 0.5``
    plus components containing a ``seeds`` point, fill holes, keep soft edges, blur lightly.

    Args:
        probability: (H, W) float in [0, 1].
        seeds: (K, 2) pixel coordinates (u, v) of confident landmarks, or None.

    Returns:
        soft: (H, W) float32 in [0, 1]; binary: (H, W) bool = soft > 0.5.
    """
    from scipy import ndimage

    prob = np.clip(np.asarray(probability, np.float32), 0.0, 1.0)
    hard = prob > 0.5
    labels, count = ndimage.label(hard, structure=np.ones((3, 3), bool))
    if count == 0:
        return np.zeros_like(prob), np.zeros(prob.shape, bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    keep_ids = {int(np.argmax(sizes))}
    if seeds is not None and len(seeds):
        height, width = prob.shape
        cols = np.clip(np.floor(seeds[:, 0]).astype(int), 0, width - 1)
        rows = np.clip(np.floor(seeds[:, 1]).astype(int), 0, height - 1)
        keep_ids.update(int(i) for i in labels[rows, cols] if i > 0)
    keep = np.isin(labels, sorted(keep_ids))
    filled = ndimage.binary_fill_holes(keep)
    near = ndimage.binary_dilation(filled, iterations=2)
    interior = ndimage.binary_erosion(filled, iterations=2)  # holes and their rims become opaque
    soft = np.maximum(prob * near, interior).astype(np.float32)
    if blur_px > 0:
        soft = ndimage.gaussian_filter(soft, blur_px)
    soft = np.clip(soft, 0.0, 1.0).astype(np.float32)
    return soft, soft > 0.5


def touching_sides(binary: np.ndarray, min_fraction: float = EDGE_MIN_FRACTION) -> tuple[str, ...]:
    """Sides ("top", "bottom", "left", "right") where the (H, W) bool mask reaches the border row/column
    with at least ``max(2, min_fraction * length)`` pixels."""
    height, width = binary.shape
    rows_needed = max(2, round(min_fraction * width))
    cols_needed = max(2, round(min_fraction * height))
    sides = []
    if int(binary[0].sum()) >= rows_needed:
        sides.append("top")
    if int(binary[-1].sum()) >= rows_needed:
        sides.append("bottom")
    if int(binary[:, 0].sum()) >= cols_needed:
        sides.append("left")
    if int(binary[:, -1].sum()) >= cols_needed:
        sides.append("right")
    return tuple(sides)


# ---------------------------------------------------------------------------------------------- internals
def _detection_image(photo: Photo) -> np.ndarray:
    """(h, w, 3) uint8 image for MediaPipe (white behind transparent pixels, longer side <= DETECT_SIDE)."""
    from PIL import Image

    rgb = _composite_white(photo.rgb, photo.alpha)
    scale = min(1.0, DETECT_SIDE / max(photo.width, photo.height))
    if scale < 1.0:
        new = (max(1, round(photo.width * scale)), max(1, round(photo.height * scale)))
        rgb = np.asarray(Image.fromarray(rgb).resize(new, Image.Resampling.LANCZOS, reducing_gap=3.0))
    return np.ascontiguousarray(rgb)


def _composite_white(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """The photo over white through its (H, W) uint8 alpha (the photo itself when it has none)."""
    if alpha is None:
        return rgb
    return composite_white(rgb, alpha.astype(np.float32) / 255.0)


def _confidence(points: np.ndarray, visibility: np.ndarray, width: int, height: int) -> np.ndarray:
    """Visibility where >= VISIBILITY_MIN and inside the image [0, W] x [0, H], else 0."""
    inside = (points[:, 0] >= 0) & (points[:, 0] <= width) & (points[:, 1] >= 0) & (points[:, 1] <= height)
    return np.where(inside & (visibility >= VISIBILITY_MIN), visibility, 0.0).astype(np.float32)


def _detect_pose_retrying(image: np.ndarray) -> PoseDetection | None:
    """MediaPipe Pose on ``image``; when it finds nobody, again on the image with its border pixels
    repeated around it (:data:`RETRY_MARGINS`), the result mapped back to ``image``'s pixels."""
    from .mediapipe_detector import detect_pose

    det = detect_pose(image)
    height, width = image.shape[:2]
    for share in RETRY_MARGINS:
        if det is not None:
            break
        m = round(share * max(height, width))
        found = detect_pose(np.ascontiguousarray(np.pad(image, ((m, m), (m, m), (0, 0)), mode="edge")))
        if found is not None:
            det = replace(found, landmarks=found.landmarks - np.float32(m), mask=found.mask[m : m + height, m : m + width])
    return det


def _find_people(image: np.ndarray) -> list[_Candidate]:
    """People in ``image`` (h, w, 3), found by Pose runs that blank out each person found."""
    from .mediapipe_detector import detect_pose

    height, width = image.shape[:2]
    work = image.copy()
    blanked = np.zeros((height, width), bool)
    people: list[_Candidate] = []
    for _ in range(MAX_PEOPLE):
        det = detect_pose(work) if people else _detect_pose_retrying(work)
        if det is None:
            break
        confidence = _confidence(det.landmarks, det.visibility, width, height)
        seeds = det.landmarks[confidence > 0]
        soft, binary = clean_mask(det.mask, seeds)
        box = _person_box(binary, seeds)
        if box is None:
            break
        if people:
            overlap = float((binary & blanked).sum()) / max(1, int(binary.sum()))
            if int((confidence > 0).sum()) < MIN_EXTRA_LANDMARKS or overlap > 0.5:
                break
        people.append(_Candidate(det.landmarks, det.visibility, det.world, soft, binary, box))
        u0, v0, u1, v1 = box
        pad = 0.03 * max(u1 - u0, v1 - v0)
        r0, r1 = max(0, int(v0 - pad)), min(height, math.ceil(v1 + pad))
        c0, c1 = max(0, int(u0 - pad)), min(width, math.ceil(u1 + pad))
        work[r0:r1, c0:c1] = 255
        blanked[r0:r1, c0:c1] = True
    if people:  # people much smaller than the largest (passers-by far behind) are not counted
        largest = max(p.area for p in people)
        people = [p for p in people if p.area >= MIN_RELATIVE_AREA * largest]
    return people


def _person_box(
    binary: np.ndarray, points: np.ndarray, mask_scale: tuple[float, float] = (1.0, 1.0)
) -> tuple[float, float, float, float] | None:
    """(u0, v0, u1, v1) pixel edges around ``binary`` (h, w) and the (K, 2) ``points``; None if both are
    empty. ``mask_scale`` = photo pixels per mask pixel (u, v); the box is in the points' pixels."""
    us: list[float] = []
    vs: list[float] = []
    rows = np.flatnonzero(binary.any(axis=1))
    cols = np.flatnonzero(binary.any(axis=0))
    if rows.size:
        us += [float(cols[0]) * mask_scale[0], float(cols[-1] + 1) * mask_scale[0]]
        vs += [float(rows[0]) * mask_scale[1], float(rows[-1] + 1) * mask_scale[1]]
    if len(points):
        us += [float(points[:, 0].min()), float(points[:, 0].max())]
        vs += [float(points[:, 1].min()), float(points[:, 1].max())]
    if not us:
        return None
    return min(us), min(vs), max(us), max(vs)


def _upsample(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """(h, w) float32 -> (height, width) float32, bilinear, pixel edges aligned."""
    from PIL import Image

    if mask.shape == (height, width):
        return mask.astype(np.float32)
    resized = Image.fromarray(mask.astype(np.float32)).resize((width, height), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized), 0.0, 1.0).astype(np.float32)


def _keep_overlapping(mask: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Zero the connected parts of ``mask`` > 0.5 that do not overlap the ``chosen`` person (bool)."""
    from scipy import ndimage

    labels, count = ndimage.label(mask > 0.5, structure=np.ones((3, 3), bool))
    if count <= 1:
        return mask
    ids = np.unique(labels[chosen & (labels > 0)])
    if ids.size == 0:
        return mask
    near = ndimage.binary_dilation(np.isin(labels, ids), iterations=3)
    return np.where(near, mask, 0.0).astype(np.float32)


def _cut_off_sides(binary: np.ndarray, body: np.ndarray, width: int, height: int) -> tuple[str, ...]:
    sides = set(touching_sides(binary))
    tol_u, tol_v = BEYOND_EDGE_FRACTION * width, BEYOND_EDGE_FRACTION * height
    if (body[:, 1] < -tol_v).any():
        sides.add("top")
    if (body[:, 1] > height + tol_v).any():
        sides.add("bottom")
    if (body[:, 0] < -tol_u).any():
        sides.add("left")
    if (body[:, 0] > width + tol_u).any():
        sides.add("right")
    return tuple(s for s in ("top", "bottom", "left", "right") if s in sides)


def _crop_for(
    rgb: np.ndarray, centre: np.ndarray, side: float, min_side: int = 192
) -> tuple[np.ndarray, float, float, float]:
    """A square crop of ``side`` px around ``centre`` (clipped to the image), upscaled so its side is at
    least ``min_side``; returns (crop, x0, y0, scale) with photo = crop / scale + (x0, y0)."""
    from PIL import Image

    height, width = rgb.shape[:2]
    x0 = int(max(0, math.floor(centre[0] - side / 2)))
    y0 = int(max(0, math.floor(centre[1] - side / 2)))
    x1 = int(min(width, math.ceil(centre[0] + side / 2)))
    y1 = int(min(height, math.ceil(centre[1] + side / 2)))
    crop = rgb[y0:y1, x0:x1]
    scale = 1.0
    if crop.size and min(crop.shape[:2]) < min_side:
        scale = min_side / min(crop.shape[:2])
        new = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize(new, Image.Resampling.BICUBIC))
        scale = new[0] / (x1 - x0)
    return np.ascontiguousarray(crop), float(x0), float(y0), scale


def _face_landmarks(rgb: np.ndarray, body: np.ndarray, confidence: np.ndarray) -> np.ndarray | None:
    """Face Mesh on a crop around the head (needs the nose and 2 more confident head points): (468, 3)
    (u, v, z) photo pixels (:func:`~.mediapipe_detector.detect_face_mesh`), or None."""
    from .mediapipe_detector import detect_face_mesh

    head = [i for i in _HEAD if confidence[i] > 0]
    if 0 not in head or len(head) < 3:
        return None
    pts = body[head]
    spread = float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1])))
    shoulders = float(np.linalg.norm(body[11] - body[12])) if confidence[11] > 0 and confidence[12] > 0 else 0.0
    side = max(3.0 * spread, 0.8 * shoulders, 48.0)
    crop, x0, y0, scale = _crop_for(rgb, pts.mean(axis=0), side)
    if min(crop.shape[:2]) < 16:
        return None
    face = detect_face_mesh(crop)
    if face is None:
        return None
    face = (face / scale + np.array([x0, y0, 0.0], np.float32)).astype(np.float32)  # (u, v, z) photo pixels
    if float(np.linalg.norm(face[:, :2].mean(axis=0) - body[0])) > 0.5 * side:  # another face
        return None
    return face


def _hand_landmarks(rgb: np.ndarray, body: np.ndarray, confidence: np.ndarray, which: str) -> np.ndarray | None:
    """Hands on a crop around the ``which`` ("left"/"right", the person's) wrist of the body landmarks."""
    from .mediapipe_detector import detect_hand

    wrist_i, *finger_ids = _HANDS[which]
    if confidence[wrist_i] <= 0:
        return None
    wrist = body[wrist_i]
    reach = max(float(np.linalg.norm(body[i] - wrist)) for i in finger_ids)
    shoulders = float(np.linalg.norm(body[11] - body[12])) if confidence[11] > 0 and confidence[12] > 0 else 0.0
    side = max(7.0 * reach, 0.8 * shoulders, 48.0)  # tuned on the shared photos: 25 of 34 wrists
    centre = np.mean(np.concatenate([wrist[None], body[list(finger_ids)]]), axis=0)
    crop, x0, y0, scale = _crop_for(rgb, centre, side, min_side=256)
    if min(crop.shape[:2]) < 16:
        return None
    offset = np.array([x0, y0], np.float32)
    hand = detect_hand(crop, near=tuple((wrist - offset) * scale))
    if hand is None:
        return None
    hand = (hand / scale + offset).astype(np.float32)
    if float(np.linalg.norm(hand[0] - wrist)) > 0.35 * side:  # the other hand, or someone else's
        return None
    return hand
