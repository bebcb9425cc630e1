"""The app's 3D viewer: Gradio's ``Model3D`` shows the ``viewer.ply`` the app gives it like our renderer does.

Gradio 6 draws ``.ply`` and ``.splat`` files with its bundled copy of gsplat.js (``Canvas3DGS`` in the
installed package's ``templates/frontend/assets``). Its camera ignores ``camera_position``: gsplat.js'
``OrbitControls`` start at yaw 0.5 rad, pitch 0.5 rad and 5 m from the world origin and look at it
without roll (in our y-down world: above the body, on the input camera's side, towards +x, i.e. the
subject's left), with fx = fy = 1132 px and the principal point at the centre of the canvas (the
canvas' CSS size in pixels). The app moves its copy of the Gaussians onto the body's centre
(``handlers._centred``), so the viewer orbits the body. :func:`viewer_camera` is that camera in our
convention.

A tiny Blocks app (the app's viewer component, CSS and launch options) shows the file that
``handlers._write_result`` writes for the project's synthetic clothed person (160 px photo); headless
Chromium (software WebGL) draws it; the canvas is read back on white and on black (the page shows
through where the splats are transparent), which gives the viewer's colour and opacity. Compared with
our classic render from :func:`viewer_camera` (``tests/test_web_viewers.py``'s measures):

* silhouette IoU >= 0.95: the same place, upright (head at the top), not mirrored, facing the same way.
  The app's file measures 0.983; mirrored upside down about the body's centre 0.32 (tested), and, measured
  once, mirrored left-right 0.52 and turned half a turn to show its back 0.40.
* PSNR over the person's box >= 30 dB: colours, shading and layering agree. gsplat.js draws like our
  classic renderer (the 0.3 px^2 low-pass without opacity compensation), so the app's file measures
  37.1 dB; colours stored as raw RGB in ``f_dc`` 17.1 dB (tested).
* mean viewer opacity inside the body >= 0.98: solid at the viewer's 2.9x magnification of the photo's
  grid. The app's file measures 0.997.

Each view takes about 20 s in software WebGL (5 frames a second: the fade-in alone is 100 frames).
Needs /usr/bin/chromium and Playwright (skips with the reason otherwise); no npm packages.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from _fixtures_app import free_port
from test_web_viewers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Agreement,
    ViewerImage,
    _flipped_y,
    _raw_rgb_dc,
    agreement,
    our_view,
)

from humansplat.cameras import Cameras, look_at
from humansplat.gaussians import Gaussians

VIEWER_YAW, VIEWER_PITCH = 0.5, 0.5  # radians: gsplat.js OrbitControls' starting angles
VIEWER_DISTANCE = 5.0  # metres from the orbit's target, the world origin
VIEWER_FOCAL = 1132.0  # pixels, fx = fy of gsplat.js' Camera
PAGE = {"width": 1000, "height": 800}  # CSS pixels: the viewer canvas is a third of the width, 440 px tall
HIDE_OVERLAYS = "#viewer * { visibility: hidden !important; } #viewer canvas { visibility: visible !important; }"
MIN_IOU = 0.95
MIN_PSNR = 30.0  # dB
MIN_OPACITY = 0.98
STILL_S = 90.0  # seconds to wait for the viewer's fade-in and depth sort to settle

gr = pytest.importorskip("gradio")  # module level: the page's load function names gr.Request

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium: apt-get install -y chromium"),
]


def viewer_camera(width: int, height: int) -> Cameras:
    """The camera gsplat.js starts with in a ``width`` x ``height`` canvas (CSS pixels): at
    ``VIEWER_DISTANCE`` * (sin yaw cos pitch, -sin pitch, -cos yaw cos pitch) looking at the origin, image
    up = world up (-y), focal ``VIEWER_FOCAL`` px, principal point at the canvas' centre."""
    eye = VIEWER_DISTANCE * torch.tensor(
        [
            [
                math.sin(VIEWER_YAW) * math.cos(VIEWER_PITCH),
                -math.sin(VIEWER_PITCH),
                -math.cos(VIEWER_YAW) * math.cos(VIEWER_PITCH),
            ]
        ]
    )
    K = torch.tensor([[[VIEWER_FOCAL, 0.0, width / 2], [0.0, VIEWER_FOCAL, height / 2], [0.0, 0.0, 1.0]]])
    return Cameras(viewmats=look_at(eye, torch.zeros(3)), Ks=K, width=width, height=height)


def _agrees(got: Agreement) -> bool:
    return got.iou >= MIN_IOU and got.psnr >= MIN_PSNR and got.opacity >= MIN_OPACITY


# ----------------------------------------------------------------------------- the page
class Model3DPage:
    """The app's viewer component in a tiny Blocks app; :meth:`render` shows one file of ``folder`` in it."""

    def __init__(self, url: str, folder: Path, browser) -> None:
        self.url = url
        self.folder = folder
        self.browser = browser

    def render(self, name: str) -> ViewerImage:
        """The viewer's still image of ``folder``/``name`` on white, and its opacity (white vs black page)."""
        page = self.browser.new_page(viewport=PAGE)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            page.goto(f"{self.url}?file={name}")
            page.add_style_tag(content=HIDE_OVERLAYS)
            canvas = page.locator("#viewer canvas")
            canvas.wait_for(timeout=60_000)
            white = _still(page, canvas)
            canvas.evaluate("c => c.style.setProperty('background', '#000', 'important')")
            page.wait_for_timeout(100)
            black = _shot(page, canvas)
            assert not errors, errors
        finally:
            page.close()
        alpha = np.clip(1.0 - (white - black).mean(-1), 0.0, 1.0)
        return ViewerImage(white, alpha)


def _shot(page, canvas) -> np.ndarray:
    """The canvas as the page shows it: (H, W, 3) in [0, 1], H x W its drawing buffer."""
    from PIL import Image

    size = canvas.evaluate("c => [c.width, c.height, c.clientWidth, c.clientHeight]")
    assert size[:2] == size[2:], f"canvas buffer {size[:2]} != CSS size {size[2:]}: the camera would not match"
    box = canvas.bounding_box()
    assert box is not None
    clip = {"x": box["x"], "y": box["y"], "width": size[0], "height": size[1]}
    png = page.screenshot(clip=clip)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.float32) / 255.0


def _still(page, canvas) -> np.ndarray:
    """The canvas once two screenshots 0.3 s apart are the same and show something (gsplat.js fades the
    splats in over 100 frames and sorts them in a worker)."""
    previous = None
    for _ in range(int(STILL_S / 0.3)):
        shot = _shot(page, canvas)
        if previous is not None and np.array_equal(shot, previous) and (shot < 0.9).any():
            return shot
        previous = shot
        page.wait_for_timeout(300)
    raise AssertionError(f"the viewer did not settle within {STILL_S} s")


@contextlib.contextmanager
def _viewer_app(folder: Path) -> Iterator[str]:
    """The app's viewer row (``layout._viewer_and_video``) in a Blocks app served like the app
    (``server.serve``); the page's ``?file=NAME`` loads ``folder``/NAME into the viewer. Yields the URL."""
    from humansplat.app import layout, server

    def shown(request: gr.Request) -> str:
        return str(folder / Path(request.query_params["file"]).name)

    with gr.Blocks() as demo:
        viewer, _ = layout._viewer_and_video("3D Gaussians", "viewer", "Turntable", "turntable")
        demo.load(shown, outputs=viewer)
    server.serve(
        demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
        allowed_paths=[str(folder)],
    )
    try:
        yield demo.local_url
    finally:
        demo.close()


@pytest.fixture(scope="module")
def model3d(tmp_path_factory) -> Iterator[Model3DPage]:
    sync_api = pytest.importorskip("playwright.sync_api")
    folder = tmp_path_factory.mktemp("viewer_files")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio_tmp")))
        mp.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        with _viewer_app(folder) as url, sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            try:
                yield Model3DPage(url, folder, browser)
            finally:
                browser.close()


@pytest.fixture(scope="module")
def app_file(model3d) -> tuple[str, Gaussians]:
    """The name and the Gaussians of the app's ``viewer.ply`` of the synthetic clothed person, written in
    ``model3d.folder`` by ``handlers._write_result`` (the other result files are not written)."""
    from humansplat.app.handlers import _write_result
    from humansplat.io.ply import load_ply
    from humansplat.prior.synthetic import make_synthetic_person
    from humansplat.prior_mode.build import gaussians_from_prior

    fit = make_synthetic_person(seed=0, size=160).as_body_fit()
    result = SimpleNamespace(gaussians=gaussians_from_prior(fit), body_fit=fit, save=lambda run_dir: {})
    path = Path(_write_result(result, model3d.folder)["model3d"])
    return path.name, load_ply(path)


# ----------------------------------------------------------------------------- tests
def _compare(model3d: Model3DPage, name: str, reference: Gaussians) -> Agreement:
    """Model3D's view of ``name`` against our render of ``reference`` from the viewer's camera."""
    theirs = model3d.render(name)
    height, width = theirs.alpha.shape
    return agreement(our_view(reference, viewer_camera(width, height)), theirs)


def test_model3d_shows_the_apps_file_like_our_renderer(model3d, app_file):
    name, gaussians = app_file
    got = _compare(model3d, name, gaussians)
    need = f"IoU >= {MIN_IOU}, PSNR >= {MIN_PSNR}, opacity >= {MIN_OPACITY}"
    assert _agrees(got), f"Model3D vs our render from its camera: {got} (need {need})"


@pytest.mark.parametrize("wrong", [_flipped_y, _raw_rgb_dc], ids=["upside-down", "raw-rgb-dc"])
def test_a_wrong_file_fails_the_check(model3d, app_file, wrong):
    from humansplat.io.ply import save_ply

    _, gaussians = app_file
    name = f"wrong{wrong.__name__}.ply"
    save_ply(wrong(gaussians), model3d.folder / name)
    got = _compare(model3d, name, gaussians)
    assert not _agrees(got), f"Model3D passed a wrong file ({wrong.__doc__}): {got}"
