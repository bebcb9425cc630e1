"""Photo intake: any image file or array -> :class:`Photo` (RGB + optional alpha), with clear errors.

:func:`load_photo` accepts a path, the bytes of a file, a file object, a numpy array or a PIL image and
returns a :class:`Photo`: (H, W, 3) uint8 sRGB, an (H, W) uint8 alpha when the image has a useful one,
and the photo's field of view. Everything it cannot use raises :class:`~humansplat.errors.InputError`
with a message that says what is wrong and what to do.

Limits (module constants)
-------------------------
* ``MAX_PIXELS`` (100 megapixels): larger images are refused *before* decoding (the header is read, the
  pixels are not), so a 20000 x 20000 PNG costs no memory. Pillow's own decompression-bomb guard stays
  on as a second line (we never change ``PIL.Image.MAX_IMAGE_PIXELS``).
* ``MAX_SIDE`` (4096 px): photos with a longer side above it are downscaled to it (Lanczos), with a
  note. JPEGs are decoded at reduced scale (``Image.draft``: 1/2, 1/4, 1/8) first, so a 100-megapixel
  JPEG never exists in memory at full size.
* ``MIN_SIDE`` (64 px): the short side, after any downscaling, must be at least this.

Colour handling
---------------
EXIF orientation is applied. Every Pillow mode becomes RGB uint8: ``1``/``L`` (grey replicated),
``P`` (palette; its transparency becomes alpha), ``LA``/``PA``/``RGBA``/``RGBa`` (alpha kept), ``CMYK``
and ``YCbCr`` (converted; an embedded ICC profile, of any mode, is honoured through LittleCMS when
Pillow has it), 16-bit greys ``I;16*`` (value / 257), 32-bit ``I`` (8-bit if its values are <= 255,
else 16-bit if <= 65535, else scaled by its maximum) and float ``F`` (values in [0, 1] if its maximum is
<= 1, else [0, 255], else scaled by its maximum). 16-bit RGB(A) PNGs are read at 8 bits by Pillow.
An alpha channel that is entirely opaque (all 255), almost so (fewer than ``ALPHA_MIN_TRANSPARENT``
= 1 % of its pixels below 128: not a cut-out, e.g. a few stray transparent pixels) or entirely
transparent (all 0) carries no segmentation and is dropped (with a note). Animated or multi-page files (GIF, APNG, WebP, TIFF): the
first frame is used, with a note.

Arrays: (H, W), (H, W, 1) grey, (H, W, 2) grey + alpha, (H, W, 3) RGB, (H, W, 4) RGBA; dtype uint8,
uint16 (/ 257), bool, other integers (as mode ``I`` above) or floats (as mode ``F`` above; NaN refused).

Field of view and camera
------------------------
``Photo.fov_deg`` is the field of view across the photo's *longer* side, in degrees. It comes from the
EXIF tag FocalLengthIn35mmFilm when present: the 35 mm equivalent focal length f35 refers to the
diagonal of a 36 x 24 mm frame (43.27 mm), so ``tan(fov / 2) = (43.27 / (2 f35)) * L / sqrt(W^2 + H^2)``
for a photo W x H with longer side L (independent of the photo's aspect ratio and orientation).
Otherwise ``DEFAULT_FOV_DEG`` (45 deg, a mild telephoto typical of full-body photos) is assumed.
:meth:`Photo.camera` turns it into a pinhole camera with square pixels and a centred principal point
(world = this camera's frame); the person crop derives its camera from that one with
``Cameras.crop`` and ``Cameras.resize`` (see :mod:`humansplat.prior.person`). Downscaling at intake
keeps the field of view.

Pixel convention: :mod:`humansplat.cameras`.
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Union

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image as PILImage

    from ..cameras import Cameras

__all__ = [
    "ALPHA_MIN_TRANSPARENT",
    "DEFAULT_FOV_DEG",
    "MAX_PIXELS",
    "MAX_SIDE",
    "MIN_SIDE",
    "Photo",
    "fov_from_35mm",
    "load_photo",
]

MAX_PIXELS = 100_000_000  # images with more pixels than this are refused before decoding
MAX_SIDE = 4096  # longer side above this -> downscaled to this (pixels)
MIN_SIDE = 64  # short side below this (after downscaling) -> refused (pixels)
DEFAULT_FOV_DEG = 45.0  # field of view across the longer side when EXIF has no focal length (degrees)
FILM_DIAGONAL_MM = 43.267  # diagonal of a 36 x 24 mm frame, the reference of 35 mm equivalent focal lengths
ALPHA_MIN_TRANSPARENT = 0.01  # an alpha with fewer transparent (< 128) pixels than this fraction is ignored
OPAQUE_ALPHA_NOTE = "The alpha channel is fully opaque; it was ignored."
"""The note of an entirely opaque alpha: an ordinary photo (many programs write one), kept for the
report (``report.json``) but not worth showing to people (the app leaves it out)."""
_F35_RANGE_MM = (8.0, 2000.0)  # plausible 35 mm equivalent focal lengths; others are ignored

_EXIF_IFD = 0x8769  # Exif sub-IFD
_TAG_F35 = 0xA405  # FocalLengthIn35mmFilm

PhotoSource = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO, np.ndarray, "PILImage.Image", "Photo"]


@dataclass
class Photo:
    """A decoded photo, ready for the structure prior.

    Attributes:
        rgb: (H, W, 3) uint8, sRGB, EXIF orientation applied.
        alpha: (H, W) uint8 alpha channel when the file had a useful one (255 = opaque), else None.
        source: file name or a short description of where it came from.
        original_size: (width, height) of the upright photo (EXIF orientation applied) before any
            downscaling.
        notes: what intake did that the user should know (downscaled, first frame of an animation, ...).
        fov_deg: field of view across the longer side, degrees (EXIF or ``DEFAULT_FOV_DEG``).
        fov_source: ``"exif"`` when ``fov_deg`` comes from the EXIF focal length, else ``"default"``.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    source: str = "array"
    original_size: tuple[int, int] = (0, 0)
    notes: list[str] = field(default_factory=list)
    fov_deg: float = DEFAULT_FOV_DEG
    fov_source: str = "default"

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    def camera(self) -> Cameras:
        """The photo's camera: one view, identity pose (world = this camera's frame), W x H pixels,
        square pixels, centred principal point, ``fov_deg`` across the longer side."""
        from ..cameras import Cameras, focal_to_fov, fov_to_focal

        focal = fov_to_focal(self.fov_deg, max(self.width, self.height))
        return Cameras.from_fov(focal_to_fov(focal, self.height), self.width, self.height)


def fov_from_35mm(focal_35mm: float, width: int, height: int) -> float:
    """Field of view (degrees) across the longer side of a ``width`` x ``height`` photo whose 35 mm
    equivalent focal length is ``focal_35mm`` millimetres (diagonal-based, see the module docstring)."""
    half_diag = 0.5 * FILM_DIAGONAL_MM / float(focal_35mm)
    return math.degrees(2.0 * math.atan(half_diag * max(width, height) / math.hypot(width, height)))


# ---------------------------------------------------------------------------------------------- entry point
def load_photo(src: PhotoSource) -> Photo:
    """Decode a photo from a path, bytes, a file object, a numpy array or a PIL image.

    See the module docstring for limits, colour handling and the field of view.

    Raises:
        InputError: missing/empty/corrupt/truncated file, not an image, too large, too small, or an
            array of an unusable shape or dtype (the message says which and what to do).
    """
    from ..errors import InputError

    if isinstance(src, Photo):
        return src
    if isinstance(src, np.ndarray):
        return _from_array(src, "array")
    from PIL import Image

    if isinstance(src, Image.Image):
        return _from_pil(src, f"image ({src.format or src.mode})")
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
        if not data:
            raise InputError("The photo is empty (0 bytes). Upload a JPEG or PNG photo of a person.")
        return _open_and_decode(io.BytesIO(data), "uploaded bytes", data[:32])
    if hasattr(src, "read"):
        data = src.read()
        if not data:
            raise InputError("The photo is empty (0 bytes). Upload a JPEG or PNG photo of a person.")
        return _open_and_decode(io.BytesIO(data), str(getattr(src, "name", "file object")), data[:32])
    if isinstance(src, (str, os.PathLike)):
        path = Path(src)
        if not path.exists():
            raise InputError(f"No such file: '{path}'. Check the path of the photo.")
        if path.is_dir():
            raise InputError(f"'{path}' is a folder, not a photo. Give the path of an image file.")
        size = path.stat().st_size
        if size == 0:
            raise InputError(f"'{path.name}' is empty (0 bytes). Use a JPEG or PNG photo of a person.")
        with open(path, "rb") as handle:
            head = handle.read(32)
        return _open_and_decode(path, path.name, head)
    raise InputError(
        f"Cannot read a photo from a {type(src).__name__}; give a file path, the file's bytes, "
        "a numpy array (H, W, 3) or a PIL image."
    )


# ---------------------------------------------------------------------------------------------- decoding
def _open_and_decode(fp: Path | io.BytesIO, source: str, head: bytes) -> Photo:
    from PIL import Image, UnidentifiedImageError

    from ..errors import InputError

    try:
        with warnings.catch_warnings():
            # Between Pillow's warning threshold (89 MP) and our MAX_PIXELS: our own check decides.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(fp)
    except Image.DecompressionBombError as exc:  # Pillow's guard (over twice its limit) refused the header
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)) / 1e6:.0f} megapixels" if found else "too many pixels"
        raise InputError(
            f"'{source}' is far too large to decode ({size}); at most {MAX_PIXELS / 1e6:.0f} megapixels are "
            f"accepted. Resize it (a longer side of {MAX_SIDE} px is plenty) and try again."
        ) from None
    except UnidentifiedImageError:
        raise InputError(_not_an_image_message(source, head)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(
            f"'{source}' could not be opened as an image ({exc}); the file is corrupt or truncated."
        ) from None
    try:
        return _from_pil(im, source, owned=True)
    finally:
        im.close()


_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF8", "GIF"),
    (b"RIFF", "WebP"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


def _not_an_image_message(source: str, head: bytes) -> str:
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc", b"ftypavif"):
        return (
            f"'{source}' is a HEIC/AVIF photo, which this app cannot read. Export it as JPEG "
            "(on iPhone: Settings > Camera > Formats > Most Compatible) and try again."
        )
    for magic, kind in _SIGNATURES:
        if head.startswith(magic) and (kind != "WebP" or head[8:12] == b"WEBP"):
            return (
                f"'{source}' looks like a {kind} file but is corrupt or truncated and cannot be opened. "
                "Re-export or re-download the photo and try again."
            )
    text = head.decode("utf-8", errors="replace")
    looks_text = head and all(32 <= b < 127 or b in (9, 10, 13) for b in head)
    what = f" (it starts with {text[:20]!r}, which looks like text)" if looks_text else ""
    return f"'{source}' is not an image file{what}. Use a photo in JPEG, PNG, WebP, BMP, GIF or TIFF format."


def _check_pixel_count(width: int, height: int, source: str) -> None:
    from ..errors import InputError

    if width * height > MAX_PIXELS:
        raise InputError(
            f"'{source}' is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels); at most "
            f"{MAX_PIXELS / 1e6:.0f} megapixels are accepted. Resize it (a longer side of {MAX_SIDE} px is "
            "plenty) and try again."
        )


def _from_pil(im: PILImage.Image, source: str, owned: bool = False) -> Photo:
    from PIL import Image, ImageOps

    from ..errors import InputError

    notes: list[str] = []
    width, height = im.size
    _check_pixel_count(width, height, source)
    frames = int(getattr(im, "n_frames", 1) or 1)
    if frames > 1:
        im.seek(0)
        notes.append(f"The file has {frames} frames (animated or multi-page); the first frame was used.")
    focal_35 = _exif_focal_35mm(im)
    if im.format == "JPEG" and max(width, height) > MAX_SIDE:
        # Decode at 1/2, 1/4 or 1/8 scale, keeping the longer side >= MAX_SIDE (resized exactly below).
        scale = MAX_SIDE / max(width, height)
        im.draft(im.mode, (math.ceil(width * scale), math.ceil(height * scale)))
    try:
        im.load()
    except Image.DecompressionBombError as exc:  # pragma: no cover - caught at open for files
        raise InputError(f"'{source}' is too large to decode ({exc}).") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(
            f"'{source}' is corrupt or truncated and cannot be decoded ({exc}). Re-export or re-download "
            "the photo and try again."
        ) from None
    im = _pre_reduce(im)
    try:
        if _exif_orientation(im) in (5, 6, 7, 8):  # a quarter turn: the upright photo is height x width
            width, height = height, width
        # In place for files we opened; a caller's PIL image is left as it is.
        im = ImageOps.exif_transpose(im, in_place=owned) or im
    except Exception as exc:  # noqa: BLE001 - a malformed EXIF block must not make a good photo unusable
        notes.append(f"The EXIF orientation could not be applied ({type(exc).__name__}); the photo is used as stored.")
    im = _apply_icc_profile(im, notes)
    rgb, alpha = _pil_to_rgb_alpha(im, source)
    photo = _finish(rgb, alpha, source, (width, height), notes)
    if focal_35 is not None:
        photo.fov_deg = fov_from_35mm(focal_35, photo.width, photo.height)
        photo.fov_source = "exif"
    return photo


def _pre_reduce(im: PILImage.Image) -> PILImage.Image:
    """Box-reduce a decoded image by an integer factor while its longer side stays >= ``MAX_SIDE``,
    before any copy at full size is made (the exact resize to ``MAX_SIDE`` comes later)."""
    factor = max(im.size) // MAX_SIDE
    if factor < 2:
        return im
    if im.mode in ("1", "P", "PA"):
        im = im.convert(
            "RGBA" if ("transparency" in im.info or im.mode == "PA") else ("L" if im.mode == "1" else "RGB")
        )
    try:
        return im.reduce(factor)
    except ValueError:  # a mode without reduce (16-bit greys): resized exactly later
        return im


def _exif_orientation(im: PILImage.Image) -> int:
    try:
        return int(im.getexif().get(0x0112) or 1)
    except (TypeError, ValueError):
        return 1


def _exif_focal_35mm(im: PILImage.Image) -> float | None:
    try:
        value = im.getexif().get_ifd(_EXIF_IFD).get(_TAG_F35)
        value = float(value) if value is not None else None
    except Exception:  # noqa: BLE001 - unreadable EXIF: no focal length
        return None
    if value is None or not (_F35_RANGE_MM[0] <= value <= _F35_RANGE_MM[1]):
        return None
    return value


def _apply_icc_profile(im: PILImage.Image, notes: list[str]) -> PILImage.Image:
    """Convert RGB(A)/CMYK pixels to sRGB through the embedded ICC profile, when there is one that is
    not sRGB already and Pillow has LittleCMS; otherwise the colours are used as stored."""
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in ("RGB", "RGBA", "CMYK"):
        return im
    try:
        from PIL import ImageCms

        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in (ImageCms.getProfileDescription(profile) or "").lower():
            return im
        out_mode = "RGBA" if im.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(im, profile, ImageCms.createProfile("sRGB"), outputMode=out_mode)
        return converted if converted is not None else im
    except Exception:  # noqa: BLE001 - no LittleCMS or a broken profile: use the colours as stored
        if im.mode == "CMYK":
            notes.append("The photo's CMYK colour profile could not be applied; colours may be slightly off.")
        return im


def _pil_to_rgb_alpha(im: PILImage.Image, source: str) -> tuple[np.ndarray, np.ndarray | None]:
    from ..errors import InputError

    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _grey_to_uint8(np.asarray(im)), None
    if "transparency" in im.info or mode in ("RGBA", "RGBa", "LA", "La", "PA"):
        arr = np.asarray(im.convert("RGBA"))
        return np.ascontiguousarray(arr[..., :3]), np.ascontiguousarray(arr[..., 3])
    try:
        return np.asarray(im.convert("RGB")), None
    except (ValueError, OSError) as exc:
        raise InputError(
            f"'{source}' uses the colour mode {mode!r}, which cannot be converted to RGB ({exc}). "
            "Save the photo as an RGB JPEG or PNG and try again."
        ) from None


def _grey_to_uint8(arr: np.ndarray) -> np.ndarray:
    """(H, W) any dtype -> (H, W, 3) uint8 by the rules in the module docstring."""
    from ..errors import InputError

    if arr.dtype == np.uint8:
        out = arr
    elif arr.dtype == np.bool_:
        out = arr.astype(np.uint8) * 255
    elif arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise InputError("The image has NaN or infinite values; give finite values in [0, 1] or [0, 255].")
        peak = float(arr.max()) if arr.size else 0.0
        scale = 255.0 if peak <= 1.0 else (1.0 if peak <= 255.0 else 255.0 / peak)
        out = np.clip(np.rint(arr.astype(np.float32) * scale), 0, 255).astype(np.uint8)
    elif arr.dtype.kind in "ui":
        peak = int(arr.max()) if arr.size else 0
        if arr.dtype.itemsize == 2 and arr.dtype.kind == "u":
            divisor = 257.0
        else:
            divisor = 1.0 if peak <= 255 else (257.0 if peak <= 65535 else peak / 255.0)
        out = np.clip(np.rint(arr.astype(np.float32) / divisor), 0, 255).astype(np.uint8)
    else:
        raise InputError(f"Unsupported pixel type {arr.dtype}; use uint8, uint16 or float values.")
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=-1)
    return np.ascontiguousarray(out)


def _from_array(arr: np.ndarray, source: str) -> Photo:
    from ..errors import InputError

    shape = tuple(arr.shape)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (2, 3, 4)):
        hint = " (channels first? use arr.transpose(1, 2, 0))" if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) else ""
        raise InputError(f"Expected an image array (H, W), (H, W, 3) or (H, W, 4); got shape {shape}{hint}.")
    height, width = arr.shape[:2]
    if height == 0 or width == 0:
        raise InputError(f"The image array is empty (shape {shape}).")
    _check_pixel_count(width, height, source)
    if arr.ndim == 2:
        return _finish(_grey_to_uint8(arr), None, source, (width, height), [])
    channels = [_grey_to_uint8(arr[..., c])[..., 0] for c in range(arr.shape[-1])]
    if len(channels) == 2:  # grey + alpha
        rgb, alpha = np.repeat(channels[0][..., None], 3, axis=-1), channels[1]
    else:
        rgb = np.stack(channels[:3], axis=-1)
        alpha = channels[3] if len(channels) == 4 else None
    return _finish(rgb, alpha, source, (width, height), [])


# ---------------------------------------------------------------------------------------------- finishing
def _finish(
    rgb: np.ndarray, alpha: np.ndarray | None, source: str, original_size: tuple[int, int], notes: list[str]
) -> Photo:
    """Drop a useless alpha, downscale to ``MAX_SIDE``, check ``MIN_SIDE``."""
    from ..errors import InputError

    if alpha is not None:
        transparent = float(np.count_nonzero(alpha < 128)) / alpha.size
        if bool((alpha == 255).all()):
            notes.append(OPAQUE_ALPHA_NOTE)
            alpha = None
        elif transparent < ALPHA_MIN_TRANSPARENT:
            notes.append(
                f"The alpha channel is almost fully opaque ({100 * (1 - transparent):.2f} % of the pixels); "
                "it is not a cut-out and was ignored."
            )
            alpha = None
        elif not bool(alpha.any()):
            notes.append("The alpha channel is fully transparent; it was ignored and the colours used as they are.")
            alpha = None
    height, width = rgb.shape[:2]
    if max(width, height) > MAX_SIDE:
        scale = MAX_SIDE / max(width, height)
        new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
        rgb = _resize(rgb, new_size)
        alpha = _resize(alpha, new_size) if alpha is not None else None
        notes.append(
            f"Downscaled from {original_size[0]}x{original_size[1]} to {new_size[0]}x{new_size[1]} pixels "
            f"(longer side limited to {MAX_SIDE})."
        )
        height, width = rgb.shape[:2]
    if min(width, height) < MIN_SIDE:
        raise InputError(
            f"The photo is too small: {width}x{height} pixels; at least {MIN_SIDE} pixels are needed on the "
            f"short side (and a person a few hundred pixels tall gives good results). Use a larger photo."
        )
    return Photo(
        rgb=np.ascontiguousarray(rgb, dtype=np.uint8),
        alpha=None if alpha is None else np.ascontiguousarray(alpha, dtype=np.uint8),
        source=source,
        original_size=(int(original_size[0]), int(original_size[1])),
        notes=notes,
    )


def _resize(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Lanczos resize of an (H, W) or (H, W, 3) uint8 array to ``size`` = (width, height)."""
    from PIL import Image

    return np.asarray(Image.fromarray(arr).resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0))
