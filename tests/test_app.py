"""The Gradio app through its API (gradio_client against the app launched in-process on 127.0.0.1).

Covers: /reconstruct returns files that parse (.ply, .mp4, .glb, PNGs) and a summary naming the mode;
/fit_body returns its overlay and the body as JSON; every kind of bad input is answered by a clear
message while the app keeps serving; 8 clients at once all get complete results and their per-session
folders are deleted when their sessions end; clients that never close stay under the disk cap; mode and
seed are disabled where they change nothing; importing app.py has no side effects.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from _fixtures_app import FAST, PERSON_PNG, REPO, running_app
from PIL import Image

from humansplat.app import handlers, sessions, settings
from humansplat.app.layout import build_demo
from humansplat.result import RESULT_FILES

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(url, sessions root, Gradio's temp folder) of the app, launched once for this module."""
    temp = tmp_path_factory.mktemp("gradio_tmp")
    with running_app(temp) as (url, sessions):
        yield url, sessions, temp


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    c = Client(server[0], download_files=str(tmp_path_factory.mktemp("downloads")), verbose=False)
    yield c
    c.close()


def _reconstruct(client: Client, photo: Path, mode: str = "prior", **options):
    opts = {**FAST, **options}
    return client.predict(
        handle_file(str(photo)), mode, opts["frames"], opts["seed"], opts["resolution"], api_name="/reconstruct"
    )


def _check_reconstruction(outputs, frames: int, resolution: int) -> dict:
    """Open every file /reconstruct returned; returns facts about them."""
    import imageio.v3 as iio
    import trimesh

    from humansplat.io.ply import load_ply

    ply, glb, video, views, summary, person, body, model3d, files, body_json = outputs
    gaussians = load_ply(ply)
    assert len(gaussians) > 1000
    assert np.isfinite(gaussians.means.numpy()).all()
    centred = load_ply(model3d)  # the viewer's copy: the same Gaussians, centred on the body
    assert len(centred) == len(gaussians)
    offset = (gaussians.means - centred.means).numpy()
    assert np.allclose(offset, offset[0], atol=1e-4) and np.linalg.norm(offset[0]) > 0.5  # a pure translation
    assert np.linalg.norm(np.median(centred.means.numpy(), axis=0)) < 0.5  # near the origin the viewer orbits
    clip = iio.imread(video, plugin="pyav") if _has_pyav() else np.stack(list(iio.imiter(video)))
    assert clip.shape == (frames, resolution, resolution, 3), clip.shape
    assert clip.std() > 5  # not a blank video
    strip = np.asarray(Image.open(views))
    assert strip.shape == (resolution, 4 * resolution, 3), strip.shape
    mesh = trimesh.load(glb, force="mesh")
    assert len(mesh.vertices) > 100 and len(mesh.faces) > 100
    for overlay in (person, body):
        assert np.asarray(Image.open(overlay)).std() > 5
    assert re.search(r"\bprior\b", summary, re.IGNORECASE), summary
    assert re.search(r"Input-view fidelity.*PSNR [\d.]+ dB", summary), summary
    # every file the CLI writes is offered, under the CLI's names
    names = sorted(Path(f).name for f in files)
    assert names == sorted(RESULT_FILES.values()), names
    body_file = next(f for f in files if Path(f).name == "body.json")
    from humansplat.prior.body_fit import BodyFit

    fit = BodyFit.from_dict(json.loads(Path(body_file).read_text()))
    assert len(fit.vertices) == body_json["mesh"]["vertex_count"] > 1000  # the panel: the same body, no mesh
    assert body_json["schema"] == "humansplat.body/1" and "vertices" not in body_json["mesh"]
    return {"gaussians": len(gaussians), "summary": summary}


def _has_pyav() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


# ------------------------------------------------------------------------------------------ import
def test_import_has_no_side_effects(tmp_path):
    """Importing app.py loads no model and no humansplat stage, launches nothing, writes nothing."""
    code = (
        "import sys, os; sys.path.insert(0, sys.argv[1]); import app, gradio as gr;"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('mediapipe', 'anny', 'warp', 'diffusers', 'transformers')"
        " or m.startswith(('humansplat.api', 'humansplat.prior.fit', 'humansplat.network'))];"
        "assert not heavy, heavy; assert not gr.Blocks.get_instances(), 'a Blocks was built at import';"
        "assert not os.listdir(os.environ['GRADIO_TEMP_DIR']), 'files written at import';"
        "assert not os.path.exists(os.path.join(sys.argv[1], 'app.pyi')), 'a .pyi stub was written'; print('ok')"
    )
    env = {**os.environ, "GRADIO_TEMP_DIR": str(tmp_path), "GRADIO_ANALYTICS_ENABLED": "False"}
    out = subprocess.run(
        [sys.executable, "-c", code, str(REPO)], check=False, capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]


# ------------------------------------------------------------------------------------------ bad inputs
def _png(array: np.ndarray, **save) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", **save)
    return buf.getvalue()


def _gradient(h: int = 480, w: int = 640) -> np.ndarray:
    """A smooth colour gradient: a valid photo with nobody in it."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([255 * x / w, 255 * y / h, 128 + 0 * x], axis=-1).astype(np.uint8)


def _person_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.open(PERSON_PNG).convert("RGB").save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _huge_png_header(width: int = 20_000, height: int = 20_000) -> bytes:
    """A PNG that declares 20000 x 20000 pixels (a decompression bomb): header + a little data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" + b"\x00" * (3 * width) * 1)  # first row only: the header is what matters
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def _cmyk_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(_gradient()).convert("CMYK").save(buf, format="JPEG")
    return buf.getvalue()


def _png16() -> bytes:
    grey16 = _gradient()[..., 0].astype(np.uint16) * 257
    buf = io.BytesIO()
    Image.fromarray(grey16).save(buf, format="PNG")  # mode I;16
    return buf.getvalue()


def _animated_gif() -> bytes:
    frames = [Image.fromarray(np.roll(_gradient(), 40 * i, axis=1)).convert("P") for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


def _rgba_empty_alpha() -> bytes:
    rgba = np.concatenate([_gradient(), np.zeros((480, 640, 1), np.uint8)], axis=-1)
    return _png(rgba)


NO_PERSON = r"no (one|person|people|body)|nobody|could not find|did not find|cannot find|not find a person|person"
DECODE = r"image|photo|corrupt|truncated|read|open|format"

BAD_INPUTS = {
    # name: (file name, bytes maker, what the message must say)
    "not_an_image": ("notes.zip", lambda: b"PK\x03\x04" + bytes(200), DECODE),
    "text_renamed_png": ("text.png", lambda: b"This is not a picture, just some words.\n" * 20, DECODE),
    "truncated_jpeg": ("cut.jpg", lambda: _person_jpeg()[:2000], r"truncated|corrupt|incomplete|damaged"),
    "empty_file": ("empty.png", lambda: b"", r"empty|0 bytes"),
    "one_pixel": ("dot.png", lambda: _png(np.full((1, 1, 3), 90, np.uint8)), r"small|tiny|at least|pixels"),
    "huge_20000px": ("huge.png", _huge_png_header, r"large|megapixels|too big"),
    "gradient_no_person": ("gradient.png", lambda: _png(_gradient()), NO_PERSON),
    "all_white": ("white.png", lambda: _png(np.full((512, 512, 3), 255, np.uint8)), NO_PERSON),
    # decodable odd formats of a photo with nobody in it: the answer must be "no person", which shows
    # the file was decoded correctly and reached the person detector
    "cmyk_jpeg": ("cmyk.jpg", _cmyk_jpeg, NO_PERSON),
    "png_16bit": ("grey16.png", _png16, NO_PERSON),
    "grayscale": ("grey.png", lambda: _png(_gradient()[..., 1]), NO_PERSON),
    "animated_gif": ("anim.gif", _animated_gif, NO_PERSON),
    "rgba_empty_alpha": ("clear.png", _rgba_empty_alpha, NO_PERSON),
}


def _assert_clear(message: str, pattern: str) -> None:
    assert len(message) >= 20, f"message too short to help: {message!r}"
    assert "Traceback" not in message and "Error raised" not in message, message
    assert re.search(pattern, message, re.IGNORECASE), f"{message!r} does not match {pattern!r}"


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_clear_message(client, tmp_path, case):
    name, make, pattern = BAD_INPUTS[case]
    path = tmp_path / name
    path.write_bytes(make())
    with pytest.raises(AppError) as info:
        _reconstruct(client, path)
    _assert_clear(str(info.value), pattern)
    # the app still answers the next request (a missing photo is refused at once, without any work)
    with pytest.raises(AppError, match="No photo"):
        client.predict(None, "prior", 8, 0, 256, api_name="/reconstruct")


def test_file_over_size_limit_is_refused(server, client, tmp_path):
    import httpx

    big = tmp_path / "big.png"
    big.write_bytes(_png(_gradient(64, 64)) + bytes(settings.MAX_FILE_MB * 1024 * 1024 + 1))
    with pytest.raises(Exception, match=r"(?i)maximum file size|too large|413"):  # gradio_client checks first
        _reconstruct(client, big)
    with big.open("rb") as fh:  # and the server refuses it from any other client
        response = httpx.post(
            f"{server[0]}gradio_api/upload", files={"files": ("big.png", fh, "image/png")}, timeout=60
        )
    assert response.status_code == 413 and "maximum allowed size" in response.text, (
        response.status_code,
        response.text,
    )
    with pytest.raises(AppError, match="No photo"):
        client.predict(None, "prior", 8, 0, 256, api_name="/reconstruct")


def test_bad_options_are_refused(client):
    with pytest.raises(AppError, match=r"10000.*72|72.*10000"):  # frames out of the slider's range
        _reconstruct(client, PERSON_PNG, frames=10_000)
    with pytest.raises(AppError, match=r"100\b.*256"):  # a resolution that is not offered
        _reconstruct(client, PERSON_PNG, resolution=100)
    from humansplat.api import network_status

    if not network_status()[0]:  # full mode is not offered where its weights are missing
        with pytest.raises(AppError, match=r"'full'"):
            _reconstruct(client, PERSON_PNG, mode="full")


def test_time_limit_stops_the_request_with_a_message(client, monkeypatch):
    monkeypatch.setattr(settings, "TIME_LIMIT_S", 0.001)  # past at once: stopped in the first stage
    with pytest.raises(AppError, match=r"longer than 0 s and was stopped"):
        _reconstruct(client, PERSON_PNG)


# ------------------------------------------------------------------------------------------ results
def _readme_client_example() -> str:
    """The Python block of README.md's app section."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("<!-- app:start -->") : readme.index("<!-- app:end -->")]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 1, "README's app section should have one Python example"
    return blocks[0]


def test_readme_client_example_works_as_written(server, tmp_path, monkeypatch):
    """README's gradio_client example, run as written (only the URL and the client's download folder differ)."""
    url = server[0]
    code = _readme_client_example()
    assert 'Client("http://127.0.0.1:7860/")' in code
    monkeypatch.chdir(REPO)  # the example's photo path is relative to the repository root
    code = code.replace('Client("http://127.0.0.1:7860/")', f"Client({url!r}, download_files={str(tmp_path)!r})")
    namespace: dict = {"print": lambda *a, **k: None}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 (the README example is the test)
    frames = int(re.search(r"frames=(\d+)", code).group(1))
    resolution = int(re.search(r"resolution=(\d+)", code).group(1))
    outputs = tuple(
        namespace[k] for k in ("ply", "glb", "video", "views", "summary", "person", "body", "viewer", "files", "body_json")
    )
    _check_reconstruction(outputs, frames, resolution)
    overlay, fit, fit_files = namespace["overlay"], namespace["fit"], namespace["fit_files"]  # /fit_body
    image = np.asarray(Image.open(overlay))
    assert image.ndim == 3 and image.shape[0] == image.shape[1] and image.std() > 5
    assert fit["schema"] == "humansplat.body/1" and fit["backend"] == "anny" and fit["mesh"]["vertex_count"] > 1000
    assert fit["crop"]["people_found"] == 1
    assert fit["crop"]["framing"] == "full body" and fit["crop"]["facing"]["facing"] == 1  # the example faces us
    assert len(fit["joints"]) > 10 and all(len(j) == 3 for j in fit["joints"])
    assert 0.0 <= fit["errors"]["silhouette_iou"] <= 1.0
    from humansplat.prior.body_fit import BodyFit

    full = BodyFit.from_dict(json.loads(Path(fit_files[0]).read_text()))  # body.json: the same body, with its mesh
    assert len(full.vertices) == fit["mesh"]["vertex_count"] and np.allclose(full.joints.numpy(), fit["joints"], atol=1e-5)
    # /animate (tests/test_app_animate.py checks its files in depth)
    import imageio.v3 as iio

    motion = re.search(r'motion="(\w+)"', code).group(1)
    animation_frames = int(re.search(r"frames=(\d+),\s+# frames over one cycle", code).group(1))
    clip = np.stack(list(iio.imiter(namespace["animation"])))
    assert clip.shape == (animation_frames, resolution, resolution, 3), clip.shape
    names = [Path(namespace[k]).name for k in ("animation", "rigged_glb", "bound_ply", "rig_npz")]
    assert names == [f"animation_{motion}.mp4", "avatar_rigged.glb", "avatar_bound.ply", "avatar_bound.rig.npz"]
    assert f"**Animated: {motion}**" in namespace["animation_summary"]


def test_several_people_uses_the_largest(client, tmp_path):
    person = Image.open(PERSON_PNG).convert("RGB")
    canvas = Image.new("RGB", (1024, 640), "white")
    canvas.paste(person.resize((320, 320)), (40, 300))  # a small person
    canvas.paste(person.resize((640, 640)), (384, 0))  # a large one
    path = tmp_path / "two_people.png"
    canvas.save(path)
    _, body, _ = client.predict(handle_file(str(path)), api_name="/fit_body")
    assert body["crop"]["people_found"] >= 2, body["crop"]
    assert any(re.search(r"(?i)people|persons|largest", n) for n in body["crop"]["notes"]), body["crop"]["notes"]


# ------------------------------------------------------------------------------------------ load
def test_eight_clients_at_once_then_sessions_cleaned(server, tmp_path):
    url, sessions, temp = server
    clients = [Client(url, download_files=str(tmp_path / f"c{i}"), verbose=False) for i in range(8)]
    t0 = time.perf_counter()
    jobs = [
        c.submit(handle_file(str(PERSON_PNG)), "prior", FAST["frames"], i, FAST["resolution"], api_name="/reconstruct")
        for i, c in enumerate(clients)
    ]
    results = [job.result(timeout=900) for job in jobs]
    elapsed = time.perf_counter() - t0
    for job, outputs in zip(jobs, results):
        _check_reconstruction(outputs, FAST["frames"], FAST["resolution"])
        # streamed: the person overlay arrived before the final result
        stream = job.outputs()
        assert all(len(o) == len(RECONSTRUCT_KEYS) for o in stream)
        firsts = [next((i for i, o in enumerate(stream) if o[k] is not None), None) for k in (5, 6, 3, 0)]
        assert None not in firsts and firsts == sorted(firsts) and firsts[0] < len(stream) - 1, firsts
    hashes = [c.session_hash for c in clients]
    assert all((sessions / h).is_dir() for h in hashes), "each session got its own output folder"
    print(f"8 clients: {elapsed:.1f}s for all results")

    for c in clients:
        c.close()  # ends the session: the heartbeat stops, demo.unload deletes the folder
    deadline = time.monotonic() + 30
    while any((sessions / h).exists() for h in hashes) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = [h for h in hashes if (sessions / h).exists()]
    assert not left, f"session folders not deleted after their sessions ended: {left}"
    produced = [
        p for p in temp.rglob("*") if p.suffix in (".ply", ".splat", ".mp4", ".glb") and any(h in str(p) for h in hashes)
    ]
    assert not produced, produced


# ------------------------------------------------------------------------------------------ disk
def test_disk_cap_bounds_clients_that_never_close(tmp_path, monkeypatch):
    """30 requests from 3 clients that never close: the app's outputs and Gradio's cached copies stay under
    the cap (oldest deleted first, examples kept), and a client whose files went is told so."""
    import gradio as gr

    cache = tmp_path / "gradio"
    cap = 20 * 2**20
    folders = sessions.SessionFolders(cache=cache, max_bytes=cap, ttl_s=3600)
    monkeypatch.setattr(sessions, "SESSIONS", folders)
    example = cache / ("e" * 64) / "example.png"  # an example Gradio copied at start: never deleted
    example.parent.mkdir(parents=True)
    example.write_bytes(bytes(100_000))
    folders.keep.add(str(example))
    notices: list[str] = []

    def fake_stages(photo, mode, frames, seed, resolution, run_dir, deadline=None, notice=None):  # 3 MB of files
        notices.extend([notice] if notice else [])
        for name in ("gaussians.ply", "turntable.mp4"):
            (run_dir / name).write_bytes(os.urandom(1_500_000))
        yield "done", 1.0, {"summary": "done", "ply": str(run_dir / "gaussians.ply")}

    monkeypatch.setattr(handlers, "run_stages", fake_stages)
    sizes = []
    for i in range(30):
        upload = cache / f"{i:064x}" / "photo.png"  # Gradio's cached copy of this request's upload
        upload.parent.mkdir(parents=True)
        upload.write_bytes(os.urandom(500_000))
        request = gr.Request(session_hash=f"client{i % 3}")
        *_, last = handlers.reconstruct_photo(
            str(PERSON_PNG), "prior", 8, 0, 256, request, progress=lambda *a, **k: None
        )
        assert last[RECONSTRUCT_KEYS.index("summary")] == "done"
        sizes.append(sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()))
    assert max(sizes) <= cap and sizes[-1] > cap - 4 * 2**20, sizes  # bounded, and filled up to the bound
    assert example.is_file()
    runs = sorted(folders.root.glob("client*/*"))
    assert 3 <= len(runs) < 10, runs  # the newest runs of every client remain
    assert all(any(p.parent.name == f"client{k}" for p in runs) for k in range(3))
    assert not (cache / f"{0:064x}").exists() and (cache / f"{29:064x}").exists()  # oldest copies went first
    assert notices and all("deleted to keep the app's files under 20 MB" in n for n in notices), notices


RECONSTRUCT_KEYS = ("ply", "glb", "video", "views", "summary", "person", "body", "model3d", "files", "body_json")


def test_options_that_change_nothing_are_disabled(monkeypatch, tmp_path):
    """Without synthesizer weights, mode and seed change nothing: shown disabled, with the reason."""
    import humansplat.api
    import humansplat.weights

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    monkeypatch.setattr(sessions, "SESSIONS", sessions.SessionFolders())
    assert handlers.RECONSTRUCT_OUTPUTS == RECONSTRUCT_KEYS
    monkeypatch.setattr(humansplat.api, "network_status", lambda: (False, "no trained weights here"))
    monkeypatch.setattr(humansplat.weights, "synthesizer_status", lambda: (False, "no SV3D weights here"))
    demo = build_demo()
    by_label = {getattr(b, "label", None): b for b in demo.blocks.values()}
    mode, seed = by_label["Mode"], by_label["Seed"]
    assert mode.interactive is False and "Only prior mode" in mode.info
    assert [v for _, v in mode.choices] == ["auto", "prior"]
    assert seed.interactive is False and "changes nothing" in seed.info
    monkeypatch.setattr(humansplat.api, "network_status", lambda: (True, "weights found"))
    monkeypatch.setattr(humansplat.weights, "synthesizer_status", lambda: (True, "SV3D weights found"))
    by_label = {getattr(b, "label", None): b for b in build_demo().blocks.values()}
    assert by_label["Mode"].interactive is not False and by_label["Seed"].interactive is not False
    assert [v for _, v in by_label["Mode"].choices] == ["auto", "prior", "views", "full"]


def test_warm_up_loads_the_models_in_the_background_and_never_raises(monkeypatch, caplog, tmp_path):
    """``serve()`` starts one small reconstruction in a thread so the first visitor finds the models
    loaded; a failing warm-up is logged, not raised, and ``HUMANSPLAT_APP_WARM_UP=0`` switches it off."""
    import logging

    from humansplat.app import server

    monkeypatch.setattr(settings, "WARM_UP", True)
    thread = server.start_warm_up()
    assert thread is not None and thread.name == "humansplat-warm-up" and thread.daemon
    thread.join(timeout=300)
    assert not thread.is_alive()
    with caplog.at_level(logging.INFO, logger="humansplat.app"):
        assert server.warm_up() > 0.0
        assert server.warm_up(tmp_path / "missing.png") >= 0.0
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("warm-up: models loaded") for m in messages)
    assert any(m.startswith("warm-up failed") for m in messages)
    monkeypatch.setattr(settings, "WARM_UP", False)
    assert server.start_warm_up() is None
