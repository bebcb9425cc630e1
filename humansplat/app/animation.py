"""``/animate`` (a photo reconstructed and animated in one call) and the page's Animate step (the
session's last reconstruction, read back from its folder with :meth:`humansplat.result.Result.load`).

Nothing is kept in memory between requests: the Animate step finds the session's newest finished run
folder that holds a reconstruction (:meth:`humansplat.app.sessions.SessionFolders.reuse`).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from . import inputs, sessions, settings, zerogpu
from .handlers import NEXT_STAGE
from .summary import animation_markdown

ANIMATE_OUTPUTS = ("video", "glb", "ply", "sidecar", "summary")
"""Output order of /animate (the API returns them in this order)."""
ANIMATE_UI_OUTPUTS = (*ANIMATE_OUTPUTS, "model3d")
"""Outputs of the page's Animate step: /animate's and the rigged .glb again for its 3D viewer."""
_RECONSTRUCTION_FILES = ("ply", "body", "report", "views")  # what Result.load needs of a finished reconstruction


def _animate_stages(
    source: Any, motion: str, frames: int | None, resolution: int, run_dir: Path, deadline=None, report=None
) -> Iterator[tuple[float, str, dict]]:
    """Animate an avatar into ``run_dir``: ``source`` is a finished reconstruction folder (a ``Path``) or a
    :class:`humansplat.io.images.Photo` (reconstructed first: mode "auto", no turntable).

    Yields ``(fraction, stage, files)``; the last ``files`` holds ``video``, ``glb``, ``ply``, ``sidecar``
    (paths, :func:`humansplat.animate.animate_result`'s) and the ``summary`` Markdown. ``deadline`` is
    checked inside the reconstruction's long stages and between the animation's steps (bind, video,
    glb, ply); ``report(fraction, stage)`` (optional) hears the animation's steps. CPU work; a
    reconstruction's networks go to the GPU (:func:`humansplat.app.zerogpu.network_runner`).
    """
    from humansplat.animate import animate_result
    from humansplat.errors import check_deadline
    from humansplat.result import Result

    start = time.perf_counter()
    if isinstance(source, Path):
        yield 0.0, "Loading the last reconstruction", {}
        result, base = Result.load(source, turntable=False), 0.05
    else:
        from humansplat.api import iter_reconstruct

        result, base = None, 0.5
        for update in iter_reconstruct(
            source, mode="auto", frames=0, resolution=resolution, deadline=deadline, **zerogpu.run_devices()
        ):
            yield 0.5 * float(update.fraction), NEXT_STAGE.get(update.stage, update.stage), {}
            result = update.result or result
    yield base, "Binding the Gaussians to the skeleton", {}

    def step(fraction: float, stage: str) -> None:
        check_deadline(deadline, stage)
        if report is not None:
            report(base + (1.0 - base) * fraction, stage)

    notes_before = list(result.notes)
    paths = animate_result(
        result, motion, run_dir, frames=frames, resolution=resolution, fps=settings.ANIMATION_FPS, progress=step
    )
    files: dict[str, Any] = {key: str(path) for key, path in paths.items()}
    binding_notes = [n for n in result.notes if n not in notes_before]
    run_s = time.perf_counter() - start
    files["summary"] = animation_markdown(result, motion, frames, resolution, run_s, binding_notes)
    yield 1.0, "Done", files


def _animate(
    source: Any, motion: str, frames: int | None, resolution: int, request: gr.Request | None, progress: gr.Progress
) -> dict[str, Any]:
    """Run :func:`_animate_stages` into a new run folder of the session, with the app's time limit and
    errors for people; returns its files (deleted again when it fails)."""
    sessions.take_notice_and_warn(request)
    folders = sessions.SESSIONS
    run_dir = folders.new_run(request)

    def report(fraction: float, stage: str) -> None:
        progress(fraction, desc=stage)

    files: dict[str, Any] = {}
    stages = _animate_stages(source, motion, frames, resolution, run_dir, inputs.deadline(), report)
    try:
        with inputs.errors_for_people("animation", "animation frames"):
            for fraction, stage, new in stages:
                progress(fraction, desc=stage)
                files.update(new)
    finally:
        stages.close()
        if "summary" not in files:  # stopped, failed or cancelled: nothing in the folder will be shown
            shutil.rmtree(run_dir, ignore_errors=True)
        folders.finish(run_dir)
    return files


def animate_photo(
    photo: str | bytes | None,
    motion: str = settings.DEFAULT_MOTION,
    frames: float = 0,
    resolution: float = 384,
    request: gr.Request | None = None,
    progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio injects the progress tracker by this default)
) -> tuple:
    """Reconstruct a person from one photo (as /reconstruct with mode "auto") and animate the avatar.

    Args:
        photo: a photo of one person (JPEG, PNG, WebP, ...).
        motion: a built-in motion: "a_pose", "t_pose", "walk", "wave" or "turn".
        frames: frames of the animation video: 0 = one cycle of the motion at 24 fps, else 8-96.
        resolution: side in pixels of the video (256, 384 or 512).

    Returns:
        - video: the avatar playing the motion while the camera turns once (.mp4, H.264, 24 fps).
        - glb: the rigged avatar (.glb): coloured mesh, the body model's skeleton, skin weights, every
          built-in motion as an animation clip (the requested one first).
        - ply: the Gaussians in the bind pose (.ply, standard 3D Gaussian Splatting layout).
        - sidecar: their binding (.rig.npz: weights, bones, bone names, parents, bind poses).
        - summary: motion, frames, mode, weights, per-step seconds (Markdown).
    """
    motion = inputs.check_motion(motion)
    frames_i = inputs.check_animation_frames(frames)
    _, _, _, res_i = inputs.check_options("auto", settings.MIN_FRAMES, 0, resolution)
    progress(0.0, desc=NEXT_STAGE["start"])
    files = _animate(inputs.load_photo(photo), motion, frames_i, res_i, request, progress)
    return tuple(files.get(k) for k in ANIMATE_OUTPUTS)


def animate_last(
    motion: str = settings.DEFAULT_MOTION,
    resolution: float = 384,
    request: gr.Request | None = None,
    progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio injects the progress tracker by this default)
) -> tuple:
    """The page's Animate step: animate the session's last reconstruction (one cycle of ``motion``).

    Returns (:data:`ANIMATE_UI_OUTPUTS`): :func:`animate_photo`'s outputs and the rigged .glb again
    for the 3D viewer.
    """
    from humansplat.result import RESULT_FILES

    motion = inputs.check_motion(motion)
    _, _, _, res_i = inputs.check_options("auto", settings.MIN_FRAMES, 0, resolution)
    folders = sessions.SESSIONS
    source = folders.reuse(request, tuple(RESULT_FILES[k] for k in _RECONSTRUCTION_FILES))
    if source is None:
        raise gr.Error(
            "Reconstruct a photo first: Animate moves the last avatar reconstructed on this page "
            "(if you reconstructed one a while ago, its files may have been deleted to keep the app's disk bounded).",
            title="Nothing to animate",
            print_exception=False,
        )
    try:
        files = _animate(source, motion, None, res_i, request, progress)
    finally:
        folders.finish(source)
    files["model3d"] = files["glb"]
    return tuple(files.get(k) for k in ANIMATE_UI_OUTPUTS)
