"""``/reconstruct`` and ``/fit_body``: the library run stage by stage, each artefact written into the
session's run folder and shown as soon as it exists.

The endpoints' parameters and outputs are the app's API (``gradio_client``): their order is
:data:`RECONSTRUCT_OUTPUTS` and :func:`fit_body_photo`'s return value; the page may place the
components anywhere.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from . import inputs, sessions, settings, zerogpu
from .summary import summary_markdown

log = logging.getLogger("humansplat.app")

NEXT_STAGE = {  # iter_reconstruct's stage that just ended -> what runs next (progress bar text)
    "start": "Reading the photo",
    "load": "Finding the person",
    "detect": "Fitting the body model",
    "fit": "Building the 3D Gaussians (views mode: generating the views first)",
    "synthesize": "Fitting the Gaussians to the generated views",
    "reconstruct": "Rendering the views",
    "views": "Rendering the turntable",
    "turntable": "Rendering the turntable",
    "writing": "Writing the files",
    "done": "Done",
}

RECONSTRUCT_OUTPUTS = ("ply", "glb", "video", "views", "summary", "person", "body", "model3d", "files", "body_json")
"""Output order of /reconstruct (the API returns them in this order)."""


def save_png(image, path: Path) -> str:
    """(H, W, 3) uint8 -> PNG file (zlib level 1: a third of level 6's time, ~1.4x the bytes); returns the
    path as str."""
    from PIL import Image

    Image.fromarray(image).save(path, compress_level=1)
    return str(path)


def _person_overlay(crop) -> Any:
    """The person mask beside the landmarks, one (S, 2S, 3) uint8 image."""
    import numpy as np

    from humansplat.prior.overlay import draw_landmarks, draw_mask

    return np.concatenate([draw_mask(crop), draw_landmarks(crop)], axis=1)


def _centred(result):
    """The avatar moved so the fitted body's centre is at the origin, which the 3D viewer orbits.

    The downloadable .ply keeps the library's world frame (the input camera at the origin, OpenCV axes,
    y down), which is also the viewer's convention; only the translation differs.
    """
    from dataclasses import replace

    from humansplat.avatar_views import orbit_framing

    centre, _, _ = orbit_framing(result.gaussians, result.body_fit)
    return replace(result.gaussians, means=result.gaussians.means - centre.to(result.gaussians.means))


def _write_result(result, run_dir: Path) -> dict[str, Any]:
    """The final files of a reconstruction: every file of ``Result.save`` (the CLI's names; all offered
    under ``files``), and the Gaussians centred on the body for the 3D viewer (``viewer.ply``)."""
    from humansplat.io.ply import save_ply

    paths = result.save(run_dir)
    files: dict[str, Any] = {key: str(paths[key]) for key in ("ply", "glb", "video", "views") if key in paths}
    files["files"] = [str(path) for path in paths.values()]
    files["model3d"] = str(save_ply(_centred(result), run_dir / "viewer.ply"))
    return files


def run_stages(
    photo, mode: str, frames: int, seed: int, resolution: int, run_dir: Path, deadline=None,
    notice: str | None = None,
) -> Iterator[tuple[str, float, dict]]:
    """Run the pipeline on ``photo`` (a :class:`humansplat.io.images.Photo`) stage by stage, writing each
    artefact into ``run_dir`` as soon as it exists.

    Yields ``(stage, fraction, files)`` with ``files`` the new outputs: ``person``, ``body``, ``views``
    (PNG paths), ``body_json`` (the body's summary dict), and at the end ``ply``, ``glb``, ``video``,
    ``model3d`` paths, ``files`` (every file's path) and the ``summary`` Markdown.
    Runs on the CPU; only the networks go to the GPU (:func:`humansplat.app.zerogpu.network_runner`).
    ``deadline`` (:class:`humansplat.errors.Deadline`) is checked inside the long stages.
    """
    from humansplat.api import iter_reconstruct
    from humansplat.prior.overlay import draw_body_parts
    from humansplat.result import views_strip

    start = time.perf_counter()
    shown: set[str] = set()
    for update in iter_reconstruct(
        photo, mode=mode, frames=frames, resolution=resolution, seed=seed, deadline=deadline, **zerogpu.run_devices()
    ):
        files: dict[str, str] = {}
        if update.crop is not None and "person" not in shown:
            files["person"] = save_png(_person_overlay(update.crop), run_dir / "person.png")
        if update.body_fit is not None and "body" not in shown:
            files["body"] = save_png(draw_body_parts(update.body_fit), run_dir / "body.png")
            files["body_json"] = update.body_fit.to_dict(include_mesh=False)
        if update.views is not None and "views" not in shown:
            files["views"] = save_png(views_strip(update.views), run_dir / "views.png")
        if update.result is not None:
            yield "writing", 1.0, files
            files = _write_result(update.result, run_dir)
            run_s, on_gpu = time.perf_counter() - start, zerogpu.ran_on_gpu(update.result.mode)
            files["summary"] = summary_markdown(update.result, run_s, on_gpu, notice, photo.notes)
        shown.update(files)
        yield update.stage, float(update.fraction), files


def reconstruct_photo(
    photo: str | bytes | None,
    mode: str = "auto",
    frames: float = settings.DEFAULT_FRAMES,
    seed: float = 0,
    resolution: float = settings.DEFAULT_RESOLUTION,
    request: gr.Request | None = None,
    progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio injects the progress tracker by this default)
) -> Iterator[tuple]:
    """Reconstruct a person from one photo as 3D Gaussians, streaming each stage's output as it is ready.

    Args:
        photo: a photo of one person (JPEG, PNG, WebP, ...; up to the app's upload limit).
        mode: "auto" (on a GPU: full with trained weights, views with the synthesizer's weights; else prior),
            "prior" (fitted body + photo, no network weights), "views" (SV3D's generated views + a Gaussian
            fit; an error without its weights) or "full" (network; an error when its weights are not available).
        frames: number of frames of the 360 degree turntable video (8-72).
        seed: random seed of the generative stages (views and full modes; 0 to 2**31-1); same seed, same result.
        resolution: side in pixels of the views and the video (256, 384 or 512).

    Returns:
        - ply: the 3D Gaussians (.ply, standard 3D Gaussian Splatting layout).
        - glb: a coloured mesh of the avatar (.glb, binary glTF).
        - video: the turntable video (.mp4, H.264).
        - views: the front, left, back and right views side by side (PNG; in views mode the synthesizer's
          generated views, streamed as soon as they are decoded, before the fit).
        - summary: mode, weights, number of Gaussians, per-stage seconds and notes (Markdown).
        - person: the person mask beside the detected landmarks (PNG).
        - body: the fitted body's parts drawn over the photo (PNG).
        - model3d: the Gaussians centred on the body (.ply), for the 3D viewer.
        - files: every file of the result, as the CLI writes them: gaussians.ply, gaussians.splat,
          mesh.glb, turntable.mp4, views.png, body.json, report.json.
        - body_json: the fitted body (schema humansplat.body/1) without its mesh arrays (in body.json).
    """
    mode, frames_i, seed_i, res_i = inputs.check_options(mode, frames, seed, resolution)
    progress(0.0, desc=NEXT_STAGE["start"])
    loaded = inputs.load_photo(photo)
    notice = sessions.take_notice_and_warn(request)
    folders = sessions.SESSIONS
    run_dir = folders.new_run(request)
    outputs: dict[str, Any] = {}
    yield tuple(None for _ in RECONSTRUCT_OUTPUTS)  # clear the previous run's outputs
    stages = run_stages(loaded, mode, frames_i, seed_i, res_i, run_dir, inputs.deadline(), notice)
    finished = False
    try:
        with inputs.errors_for_people("reconstruction", "turntable frames"):
            for stage, fraction, files in stages:
                progress(fraction, desc=NEXT_STAGE.get(stage, stage))
                outputs.update(files)
                if stage == "done":
                    break
                if files:  # everything ready so far (API clients see whole tuples, the page keeps what it has)
                    yield tuple(outputs.get(k) for k in RECONSTRUCT_OUTPUTS)
            finished = "summary" in outputs
    finally:
        stages.close()
        if not finished:  # stopped, failed or cancelled: nothing in the folder will be shown
            shutil.rmtree(run_dir, ignore_errors=True)
        folders.finish(run_dir)
    yield tuple(outputs.get(k) for k in RECONSTRUCT_OUTPUTS)


def _fit(photo):
    from humansplat.prior.fit import fit_body
    from humansplat.prior.person import detect_person

    return fit_body(detect_person(photo))


def fit_body_photo(photo: str | bytes | None, request: gr.Request | None = None) -> tuple[str, dict, list[str]]:
    """Fit the 3D body model (the structure prior) to the person in a photo; no Gaussians are built.

    Args:
        photo: a photo of one person (JPEG, PNG, WebP, ...).

    Returns:
        - overlay: the fitted body's semantic parts drawn over the person crop (PNG).
        - body: the fit as JSON, schema humansplat.body/1 without the mesh arrays: backend, pose, shape,
          params, joints (metres, camera frame), camera, crop (people_found, cut_off, notes), errors.
        - files: [body.json], the same body with its mesh (vertices, faces, parts).
    """
    from humansplat.errors import InputError
    from humansplat.prior.overlay import draw_body_parts

    loaded = inputs.load_photo(photo)
    try:
        fit = _fit(loaded)
    except InputError as exc:
        raise gr.Error(str(exc), title="This photo cannot be used", print_exception=False) from None
    except Exception as exc:  # a bug: say so plainly, keep the traceback in the server log
        log.exception("body fit failed")
        raise gr.Error(
            f"The body fit failed ({type(exc).__name__}: {exc}). This is a bug; please report it with the photo."
        ) from None
    fit.crop.notes = list(dict.fromkeys([*loaded.notes, *fit.crop.notes]))  # the photo's notes travel too
    sessions.take_notice_and_warn(request)
    folders = sessions.SESSIONS
    run_dir = folders.new_run(request)
    try:
        overlay = save_png(draw_body_parts(fit), run_dir / "body.png")
        body_file = str(fit.write_json(run_dir / "body.json"))
    finally:
        folders.finish(run_dir)
    return overlay, fit.to_dict(include_mesh=False), [body_file]
