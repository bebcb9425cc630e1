"""Photo intake: every kind of input, every bad input's message, limits, EXIF, field of view."""

from __future__ import annotations

import io
import math
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from humansplat.errors import InputError
from humansplat.io import images
from humansplat.io.images import DEFAULT_FOV_DEG, MAX_SIDE, MIN_SIDE, Photo, fov_from_35mm, load_photo

REPO = Path(__file__).resolve().parents[1]


def write_png(path: Path, rows, width: int, height: int, color_type: int = 0, bit_depth: int = 8) -> None:
    """A PNG written by hand, row by row (so huge images cost no memory). ``rows(i)`` -> raw row bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    comp = zlib.compressobj(6)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)))
        parts = [comp.compress(b"\x00" + rows(i)) for i in range(height)]
        parts.append(comp.flush())
        f.write(chunk(b"IDAT", b"".join(parts)))
        f.write(chunk(b"IEND", b""))


def save(img: Image.Image, path: Path, **kwargs) -> Path:
    img.save(path, **kwargs)
    return path


def upright_test_image(width: int = 200, height: int = 100) -> np.ndarray:
    """Red top half, blue bottom half: orientation is easy to read back."""
    arr = np.zeros((height, width, 3), np.uint8)
    arr[: height // 2] = (255, 0, 0)
    arr[height // 2 :] = (0, 0, 255)
    return arr


# ------------------------------------------------------------------------------------------- bad inputs
def test_text_file_named_png(tmp_path):
    path = tmp_path / "person.png"
    path.write_text("hello, I am not a picture\n")
    with pytest.raises(InputError, match=r"'person.png' is not an image file.*looks like text.*JPEG, PNG"):
        load_photo(path)


def test_binary_garbage_is_not_an_image():
    with pytest.raises(InputError, match="is not an image file"):
        load_photo(bytes(range(256)) * 4)


def test_heic_is_named(tmp_path):
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(100))
    with pytest.raises(InputError, match="HEIC.*Export it as JPEG"):
        load_photo(path)


def test_truncated_jpeg(tmp_path):
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(InputError, match=r"'cut.jpg' is corrupt or truncated"):
        load_photo(path)


def test_truncated_and_corrupt_png():
    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(buf, "PNG")
    data = buf.getvalue()
    with pytest.raises(InputError, match="corrupt or truncated"):
        load_photo(data[: len(data) // 2])
    broken = bytearray(data)
    broken[29:33] = b"\x00\x00\x00\x00"  # the header chunk's checksum
    with pytest.raises(InputError, match="corrupt or truncated"):
        load_photo(bytes(broken))


def test_empty_file_and_bytes(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"'empty.jpg' is empty \(0 bytes\)"):
        load_photo(path)
    with pytest.raises(InputError, match=r"empty \(0 bytes\)"):
        load_photo(b"")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match="No such file"):
        load_photo(tmp_path / "nope.jpg")
    with pytest.raises(InputError, match="is a folder"):
        load_photo(tmp_path)
    with pytest.raises(InputError, match="Cannot read a photo from a int"):
        load_photo(3)  # type: ignore[arg-type]


def test_too_small(tmp_path):
    path = save(Image.new("RGB", (1, 1), "red"), tmp_path / "dot.png")
    with pytest.raises(InputError, match=rf"too small: 1x1 pixels; at least {MIN_SIDE} pixels.*short side"):
        load_photo(path)
    with pytest.raises(InputError, match=rf"too small: 200x{MIN_SIDE - 1}"):
        load_photo(np.zeros((MIN_SIDE - 1, 200, 3), np.uint8))
    assert load_photo(np.zeros((MIN_SIDE, MIN_SIDE, 3), np.uint8)).width == MIN_SIDE


def test_huge_png_refused_with_little_memory(tmp_path):
    """A 20000 x 20000 PNG (400 MP) is refused from its header: peak RSS of the process stays small."""
    path = tmp_path / "huge.png"
    row = bytes(20000)
    write_png(path, lambda i: row, 20000, 20000)
    assert path.stat().st_size < 2_000_000
    script = textwrap.dedent(
        f"""
        import resource, sys, time
        sys.path.insert(0, {str(REPO)!r})
        from humansplat.io.images import load_photo
        from humansplat.errors import InputError
        t = time.perf_counter()
        try:
            load_photo({str(path)!r})
            print("LOADED")
        except InputError as exc:
            print("ERROR", exc)
        print("SECONDS", time.perf_counter() - t)
        # VmHWM is this process's own peak; getrusage's ru_maxrss would also count the forking
        # parent's resident memory (Linux keeps it across exec), i.e. pytest's, not ours.
        hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
        print("MAXRSS_KB", int(hwm[0].split()[1]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120
    ).stdout
    assert "ERROR" in out and "400 megapixels" in out and "at most 100 megapixels" in out, out
    rss_kb = int(out.split("MAXRSS_KB")[1].split()[0])
    assert rss_kb < 2_000_000, f"peak RSS {rss_kb / 1e6:.2f} GB"
    assert float(out.split("SECONDS")[1].split()[0]) < 10.0


def test_pixel_limit_without_decoding(tmp_path, monkeypatch):
    """The limit is ours (checked from the header), not only Pillow's bomb guard."""
    monkeypatch.setattr(images, "MAX_PIXELS", 50_000)
    path = save(Image.new("L", (300, 300)), tmp_path / "big.png")
    with pytest.raises(InputError, match=r"300x300 pixels.*at most 0 megapixels"):
        load_photo(path)


# ------------------------------------------------------------------------------------------- downscaling
def test_large_png_is_downscaled_with_a_note(tmp_path):
    width, height = MAX_SIDE + 904, 500
    ramp = (np.arange(width) * 255 // (width - 1)).astype(np.uint8).tobytes()
    path = tmp_path / "wide.png"
    write_png(path, lambda i: ramp, width, height)
    photo = load_photo(path)
    assert photo.original_size == (width, height)
    assert photo.width == MAX_SIDE and photo.height == round(height * MAX_SIDE / width)
    assert any("Downscaled from 5000x500" in n for n in photo.notes)
    # content preserved: still a left-to-right ramp
    assert photo.rgb[:, :10].mean() < 10 and photo.rgb[:, -10:].mean() > 245


def test_large_jpeg_uses_draft(tmp_path):
    arr = np.zeros((600, 9000, 3), np.uint8)
    arr[:, 4500:] = 255
    path = save(Image.fromarray(arr), tmp_path / "pano.jpg", quality=80)
    photo = load_photo(path)
    assert (photo.width, photo.height) == (MAX_SIDE, round(600 * MAX_SIDE / 9000))
    assert photo.rgb[:, : MAX_SIDE // 2 - 20].mean() < 8 and photo.rgb[:, MAX_SIDE // 2 + 20 :].mean() > 247
    assert any("Downscaled from 9000x600 to 4096x273" in n for n in photo.notes)
    # drafted and rotated by EXIF: the upright photo is tall, black on top
    exif = Image.Exif()
    exif[0x0112] = 6
    path = save(Image.fromarray(arr), tmp_path / "pano6.jpg", quality=80, exif=exif.tobytes())
    photo = load_photo(path)
    assert (photo.width, photo.height) == (273, MAX_SIDE) and photo.original_size == (600, 9000)
    assert photo.rgb[: MAX_SIDE // 2 - 20].mean() < 8 and photo.rgb[MAX_SIDE // 2 + 20 :].mean() > 247


# ------------------------------------------------------------------------------------------- colour modes
def test_animated_gif_first_frame(tmp_path):
    frames = [Image.new("P", (80, 80), i) for i in range(3)]
    for i, frame in enumerate(frames):
        frame.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    photo = load_photo(path)
    assert tuple(photo.rgb[40, 40]) == (255, 0, 0)
    assert any("3 frames" in n and "first frame" in n for n in photo.notes)


def test_cmyk_jpeg(tmp_path):
    path = save(Image.new("CMYK", (100, 100), (0, 255, 255, 0)), tmp_path / "cmyk.jpg", quality=95)
    assert Image.open(path).mode == "CMYK"
    photo = load_photo(path)
    assert photo.rgb.dtype == np.uint8 and photo.rgb.shape == (100, 100, 3)
    r, g, b = photo.rgb[50, 50].astype(int)
    assert r > 230 and g < 30 and b < 30


def test_16bit_grey_png_scaled_not_clipped(tmp_path):
    ramp = np.linspace(0, 65535, 256).round().astype(np.uint16)
    arr = np.tile(ramp, (80, 1))
    path = save(Image.fromarray(arr), tmp_path / "grey16.png")
    assert Image.open(path).mode.startswith("I;16")
    photo = load_photo(path)
    expected = np.rint(ramp / 257.0)
    assert np.abs(photo.rgb[0, :, 0].astype(int) - expected).max() <= 1
    assert (photo.rgb[..., 0] == photo.rgb[..., 2]).all()


def test_16bit_rgba_png(tmp_path):
    width, height = 96, 80
    arr = np.zeros((height, width, 4), ">u2")
    arr[..., 0] = 65535  # red
    arr[..., 3] = 0
    arr[20:60, 30:70, 3] = 65535  # an opaque square
    path = tmp_path / "rgba16.png"
    write_png(path, lambda i: arr[i].tobytes(), width, height, color_type=6, bit_depth=16)
    photo = load_photo(path)
    assert tuple(photo.rgb[40, 50]) == (255, 0, 0)
    assert photo.alpha is not None and photo.alpha[40, 50] == 255 and photo.alpha[5, 5] == 0


@pytest.mark.parametrize(
    "mode, peak", [("I", 65535), ("I", 10**6), ("I", 200), ("F", 1.0), ("F", 255.0), ("F", 5000.0)]
)
def test_32bit_modes(mode, peak):
    """Documented scaling: I as 8-bit (<= 255), 16-bit (<= 65535) or by its maximum; F as [0, 1],
    [0, 255] or by its maximum."""
    values = np.tile(np.linspace(0, peak, 128), (70, 1))
    img = Image.fromarray(values.astype(np.int32 if mode == "I" else np.float32), mode=mode)
    photo = load_photo(img)
    expected_top = 200 if (mode, peak) == ("I", 200) else 255
    assert photo.rgb[0, 0, 0] == 0 and photo.rgb[0, -1, 0] == expected_top
    assert abs(int(photo.rgb[0, 64, 0]) - expected_top * 64 / 127) <= 1.5  # scaled linearly, not clipped


def test_grayscale_png(tmp_path):
    arr = np.tile(np.arange(200, dtype=np.uint8), (100, 1))
    photo = load_photo(save(Image.fromarray(arr, "L"), tmp_path / "grey.png"))
    assert photo.rgb.shape == (100, 200, 3) and photo.alpha is None
    assert (photo.rgb == arr[..., None]).all()


def test_palette_with_transparency(tmp_path):
    img = Image.new("P", (100, 100), 0)
    img.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    img.paste(1, (20, 20, 80, 80))
    path = save(img, tmp_path / "pal.png", transparency=0)
    photo = load_photo(path)
    assert photo.alpha is not None
    assert photo.alpha[50, 50] == 255 and photo.alpha[5, 5] == 0
    assert tuple(photo.rgb[50, 50]) == (0, 200, 0)


def test_la_and_rgba_keep_alpha(tmp_path):
    la = np.zeros((100, 100, 2), np.uint8)
    la[..., 0] = 90
    la[30:70, 30:70, 1] = 255
    photo = load_photo(save(Image.fromarray(la, "LA"), tmp_path / "la.png"))
    assert photo.alpha is not None and photo.alpha.sum() == 40 * 40 * 255
    assert (photo.rgb == 90).all()


@pytest.mark.parametrize(
    "alpha_value, phrase", [(0, "fully transparent"), (255, "fully opaque"), ("speckle", "almost fully opaque")]
)
def test_useless_alpha_is_dropped(tmp_path, alpha_value, phrase):
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[..., :3] = (10, 20, 30)
    if alpha_value == "speckle":
        rgba[..., 3] = 255
        rgba[0, :50, 3] = 0  # 0.5 % of the pixels: stray transparency, not a cut-out
    else:
        rgba[..., 3] = alpha_value
    photo = load_photo(save(Image.fromarray(rgba, "RGBA"), tmp_path / "a.png"))
    assert photo.alpha is None
    assert tuple(photo.rgb[50, 50]) == (10, 20, 30)
    assert any(phrase in n for n in photo.notes), photo.notes


def test_exif_rotated_jpeg_lands_upright(tmp_path):
    """Stored landscape (red top), EXIF orientation 6 (rotate 90 deg clockwise to view): the top of
    the stored image ends on the right of the upright photo."""
    img = Image.fromarray(upright_test_image(200, 100))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = save(img, tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=95)
    photo = load_photo(path)
    assert (photo.width, photo.height) == (100, 200) and photo.original_size == (100, 200)
    right, left = photo.rgb[:, 75:].mean(axis=(0, 1)), photo.rgb[:, :25].mean(axis=(0, 1))
    assert right[0] > 200 and right[2] < 50  # red on the right
    assert left[2] > 200 and left[0] < 50  # blue on the left
    # the same through a PIL image the caller opened; the caller's image is not modified
    opened = Image.open(path)
    assert load_photo(opened).rgb.shape == (200, 100, 3) and opened.size == (200, 100)


# ------------------------------------------------------------------------------------------- field of view
def test_fov_from_exif_35mm(tmp_path):
    """3:2 photo, 50 mm equivalent: the longer side spans 36 mm of film -> 2 atan(18 / 50)."""
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 50
    path = save(Image.new("RGB", (300, 200), "grey"), tmp_path / "f50.jpg", exif=exif.tobytes())
    photo = load_photo(path)
    assert photo.fov_source == "exif"
    assert photo.fov_deg == pytest.approx(math.degrees(2 * math.atan(18 / 50)), abs=0.05)
    # portrait orientation of the same frame gives the same longer-side fov
    assert fov_from_35mm(50, 200, 300) == pytest.approx(photo.fov_deg)
    # 4:3 phone photo at 26 mm: the diagonal spans 43.27 mm
    diag_half = math.atan(43.267 / 2 / 26)
    assert fov_from_35mm(26, 4000, 3000) == pytest.approx(
        math.degrees(2 * math.atan(math.tan(diag_half) * 0.8)), rel=1e-6
    )


def test_default_fov_and_camera():
    photo = load_photo(np.zeros((300, 400, 3), np.uint8))
    assert photo.fov_deg == DEFAULT_FOV_DEG and photo.fov_source == "default"
    cam = photo.camera()
    assert (cam.width, cam.height) == (400, 300)
    K = cam.Ks[0]
    focal = 200 / math.tan(math.radians(DEFAULT_FOV_DEG / 2))  # longer side = width
    assert float(K[0, 0]) == pytest.approx(focal, rel=1e-5) and float(K[1, 1]) == pytest.approx(focal, rel=1e-5)
    assert (float(K[0, 2]), float(K[1, 2])) == (200.0, 150.0)
    tall = Photo(rgb=np.zeros((400, 300, 3), np.uint8), fov_deg=60.0).camera()
    assert float(tall.Ks[0, 1, 1]) == pytest.approx(200 / math.tan(math.radians(30)), rel=1e-5)


def test_srgb_icc_profile_keeps_colours(tmp_path):
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = save(Image.new("RGB", (80, 80), (10, 200, 30)), tmp_path / "icc.png", icc_profile=srgb)
    assert tuple(load_photo(path).rgb[5, 5]) == (10, 200, 30)


def test_implausible_exif_focal_ignored(tmp_path):
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 0  # "unknown" per the EXIF standard
    photo = load_photo(save(Image.new("RGB", (100, 100)), tmp_path / "f0.jpg", exif=exif.tobytes()))
    assert photo.fov_source == "default"


# ------------------------------------------------------------------------------------------- other sources
def test_sources_agree(tmp_path):
    arr = upright_test_image(120, 90)
    path = save(Image.fromarray(arr), tmp_path / "p.png")
    expected = load_photo(path).rgb
    assert (expected == arr).all()
    for src in (
        str(path),
        path.read_bytes(),
        bytearray(path.read_bytes()),
        io.BytesIO(path.read_bytes()),
        Image.open(path),
        arr,
    ):
        assert (load_photo(src).rgb == expected).all()
    assert load_photo(path).source == "p.png"
    photo = load_photo(arr)
    assert load_photo(photo) is photo


def test_array_dtypes_and_shapes():
    base = np.linspace(0, 1, 100 * 100, dtype=np.float64).reshape(100, 100)
    f = load_photo(np.stack([base] * 3, -1))
    assert f.rgb[-1, -1, 0] == 255 and f.rgb[0, 0, 0] == 0
    f255 = load_photo((np.stack([base] * 3, -1) * 255).astype(np.float32))
    assert np.abs(f255.rgb.astype(int) - f.rgb.astype(int)).max() <= 1
    u16 = load_photo((base * 65535).astype(np.uint16))
    assert np.abs(u16.rgb.astype(int) - f.rgb.astype(int)).max() <= 1
    assert load_photo(base > 0.5).rgb.max() == 255
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[20:80, 20:80, 3] = 255
    assert load_photo(rgba).alpha is not None
    assert load_photo(np.zeros((100, 100, 1), np.uint8)).rgb.shape == (100, 100, 3)
    assert load_photo(np.zeros((100, 100, 2), np.uint8)).alpha is None  # all transparent: dropped


@pytest.mark.parametrize(
    "arr, pattern",
    [
        (np.zeros((3, 100, 100), np.uint8), r"got shape \(3, 100, 100\).*channels first"),
        (np.zeros((100, 100, 5), np.uint8), r"got shape \(100, 100, 5\)"),
        (np.zeros((10,), np.uint8), r"got shape \(10,\)"),
        (np.full((100, 100), np.nan, np.float32), "NaN"),
        (np.zeros((100, 100), np.complex64), "Unsupported pixel type complex64"),
    ],
)
def test_bad_arrays(arr, pattern):
    with pytest.raises(InputError, match=pattern):
        load_photo(arr)


def test_input_error_is_value_error():
    assert issubclass(InputError, ValueError)
