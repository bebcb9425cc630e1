"""The page (``build_demo``): the photo and the button, the avatar right under them, the details folded.

The components' places are free; the endpoints' inputs and outputs (the API) are fixed by
:mod:`humansplat.app.handlers` and :mod:`humansplat.app.animation`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from . import animation, handlers, sessions, settings, zerogpu
from .handlers import save_png
from .inputs import photo_input
from .mode_plan import mode_plan

HEADER = """\
# HumanSplat: a 3D avatar from one photo

Upload a photo of one person, or pick an example, and press **Reconstruct**: you get an avatar to turn
around, a turntable video and files to download. Then make it walk or wave below.
"""

ABOUT = """\
HumanSplat ([NeurIPS 2024](https://arxiv.org/abs/2406.12459)) finds the person, fits a 3D body model to
them (the *structure prior*) and builds 3D Gaussians that you can turn around, download as `.ply`
(3D Gaussian Splatting) or `.glb`, and watch as a turntable video. In **full** mode a multi-view
diffusion model imagines the unseen sides and a latent reconstruction transformer turns them into
Gaussians; in **views** mode the public human fine-tuned SV3D model (GenHuman3D) imagines the unseen
sides and the Gaussians are fitted to its views and the photo; in **prior** mode the Gaussians are built
from the fitted body and the photo alone (no network weights). Network weights that were not trained
are never used to make a result; every result says which mode and weights produced it.
"""

VIEWER_HEIGHT = 440  # px; the splat viewer's focal length is fixed in pixels, so a taller canvas sees more
ANIMATION_HEIGHT = 360  # px; the rigged avatar's viewer frames the model itself
CSS = """\
#viewer canvas, #rigged canvas { background: #ffffff !important; }  /* the splat viewer clears to black */
"""


def cleared(count: int) -> tuple:
    """``count`` empty outputs (the previous result's files leave the page)."""
    return tuple(None for _ in range(count))


def _examples(cache: Path) -> list[str]:
    """Example photos: the project's own synthetic people (assets/examples) and scikit-image's astronaut
    (public domain, written from the installed package into the app's cache folder)."""
    examples = sorted(str(p) for p in settings.EXAMPLES_DIR.glob("*.png"))
    astronaut = cache / "astronaut.png"
    if not astronaut.exists():
        from skimage.data import astronaut as load_astronaut

        cache.mkdir(parents=True, exist_ok=True)
        save_png(load_astronaut(), astronaut)
    return examples + [str(astronaut)]



def _viewer_and_video(
    viewer_label: str, viewer_id: str, video_label: str, video_id: str, height: int = VIEWER_HEIGHT
) -> tuple:
    """A row of a 3D viewer (white background) and a looping video, ``height`` pixels tall; on a phone
    the viewer comes first. Returns (viewer, video)."""
    with gr.Row(equal_height=True):
        viewer = gr.Model3D(
            label=viewer_label, clear_color=(1, 1, 1, 1), height=height, elem_id=viewer_id, min_width=300
        )
        video = gr.Video(
            label=video_label, autoplay=True, loop=True, interactive=False, height=height, elem_id=video_id,
            min_width=300,
        )
    return viewer, video


def _options(modes: list[str], auto_runs: str) -> tuple:
    """The Options accordion (closed): mode, turntable frames, resolution, seed. Without synthesizer
    weights only prior mode runs, and it is deterministic: mode and seed would change nothing, so they
    are shown disabled with the reason."""
    available = len(modes) > 2  # views or full can run: mode and seed matter
    with gr.Accordion("Options", open=False):
        mode = gr.Radio(
            modes,
            value="auto",
            label="Mode",
            interactive=available,
            info=f"auto runs {auto_runs} mode here (see How this app works)"
            if available
            else "Only prior mode can run here (no synthesizer weights; see How this app works).",
        )
        frames = gr.Slider(
            settings.MIN_FRAMES, settings.MAX_FRAMES, value=settings.DEFAULT_FRAMES, step=1, label="Turntable frames"
        )
        resolution = gr.Radio(
            list(settings.RESOLUTIONS), value=settings.DEFAULT_RESOLUTION, label="Resolution (pixels)"
        )
        seed = gr.Number(
            value=0,
            precision=0,
            minimum=0,
            maximum=settings.MAX_SEED,
            label="Seed",
            interactive=available,
            info="Seeds the synthesizer's sampling and the fit (views and full modes): same seed, same result."
            if available
            else "Used by views and full modes only; prior mode is deterministic, so the seed changes nothing here.",
        )
    return mode, frames, resolution, seed


def _avatar() -> dict[str, Any]:
    """The result, first thing under the button: the 3D viewer and the turntable, the downloads, the plain
    summary; then, folded, how it was made (mask and landmarks, fitted body, views, the body as JSON).
    Returns the components by /reconstruct's output keys."""
    out: dict[str, Any] = {}
    out["model3d"], out["video"] = _viewer_and_video("3D Gaussians (drag to turn)", "viewer", "Turntable", "turntable")
    with gr.Row():
        out["ply"] = gr.File(label="Gaussians (.ply)", interactive=False, height=90, min_width=160)
        out["glb"] = gr.File(label="Mesh (.glb)", interactive=False, height=90, min_width=160)
    out["summary"] = gr.Markdown("Your avatar appears here.", label="Summary", elem_id="summary")
    out["files"] = gr.File(
        label="All files: .ply, .splat, .glb, .mp4, views.png, body.json, report.json",
        file_count="multiple",
        interactive=False,
        height=150,  # px; a scroll bar for the rest
        elem_id="files",
    )
    with gr.Accordion("How it was made: the person found, the fitted body, the views", open=False, elem_id="how"):
        with gr.Row():
            out["person"] = gr.Image(label="Person: mask and landmarks", type="filepath", interactive=False)
            out["body"] = gr.Image(label="Fitted body over the photo", type="filepath", interactive=False)
        out["views"] = gr.Image(
            label="Views: front, left, back, right (views mode: the synthesizer's, shown as soon as generated)",
            type="filepath",
            interactive=False,
            elem_id="views",
        )
        out["body_json"] = gr.JSON(
            label="Body (schema humansplat.body/1; the mesh arrays are in body.json)", elem_id="body-json"
        )
    return out


def _animate_section(motions: list[str]) -> tuple[gr.Dropdown, gr.Button, dict[str, Any]]:
    """The Animate step, a section of its own: motion, button, the animation and the rigged avatar, its
    files and summary. Returns (motion, button, components by :data:`animation.ANIMATE_UI_OUTPUTS` key)."""
    out: dict[str, Any] = {}
    with gr.Group(elem_id="animate-section"):
        gr.Markdown(
            "### Animate the avatar\nMove the last avatar made above with a built-in motion (one cycle, the "
            "camera turning once). The rigged `.glb` holds the skeleton and every motion: Blender, three.js "
            "and `<model-viewer>` play them all."
        )
        with gr.Row():
            motion = gr.Dropdown(motions, value=settings.DEFAULT_MOTION, label="Motion", elem_id="motion", scale=3)
            button = gr.Button("Animate", variant="primary", elem_id="animate", scale=1)
        out["model3d"], out["video"] = _viewer_and_video(
            "Rigged avatar (.glb, plays the motion)", "rigged", "Animation", "animation", height=ANIMATION_HEIGHT
        )
        with gr.Row():
            for key, label in (
                ("glb", "Rigged avatar (avatar_rigged.glb)"),
                ("ply", "Bound Gaussians (avatar_bound.ply)"),
                ("sidecar", "Their binding (avatar_bound.rig.npz)"),
            ):
                out[key] = gr.File(label=label, interactive=False, height=90, min_width=160)
        out["summary"] = gr.Markdown("", elem_id="animation-summary")
    return motion, button, {k: out[k] for k in animation.ANIMATE_UI_OUTPUTS}


def build_demo() -> gr.Blocks:
    """The app's Blocks (not launched, models not loaded); :func:`humansplat.app.server.serve` launches it.

    Laptop: photo, examples, options and buttons on the left; the avatar on the right. Phone (one
    column): photo, examples, options, buttons, then the avatar. Below both: the Animate section, then
    how the app works (the modes this machine offers and why).
    """
    from humansplat.animate import motion_names
    from humansplat.api import network_status
    from humansplat.weights import synthesizer_status

    cache = Path(gr.utils.get_upload_folder())  # read now: GRADIO_TEMP_DIR may have changed since import
    auto_runs, modes, banner = mode_plan(network_status(), synthesizer_status(), zerogpu.gpu_here())

    folders = sessions.SESSIONS
    ttl = max(1, int(folders.ttl_s))  # Gradio deletes its cached files at the sessions' age limit too
    with gr.Blocks(title="HumanSplat", delete_cache=(min(600, ttl), ttl)) as demo:
        gr.Markdown(HEADER)
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                photo = photo_input(
                    label="Photo of a person", sources=["upload", "webcam", "clipboard"], height=360, elem_id="photo"
                )
                gr.Examples(_examples(cache / settings.EXAMPLES_CACHE), inputs=[photo], label="Examples")
                mode, frames, resolution, seed = _options(modes, auto_runs)
                with gr.Row():
                    run = gr.Button("Reconstruct", variant="primary", elem_id="run", scale=2)
                    fit = gr.Button("Fit body only", elem_id="fit", scale=1)
            with gr.Column(scale=2, min_width=320):
                avatar = _avatar()
        motion, animate, animated = _animate_section(list(motion_names()))
        with gr.Accordion("How this app works", open=False, elem_id="about"):
            gr.Markdown(banner, elem_id="mode-banner")
            gr.Markdown(ABOUT)
        anim_frames = gr.Number(value=0, precision=0, visible=False, label="Animation frames")  # /animate only
        animate_api = gr.Button(visible=False)  # /animate: reconstruct a photo and animate it in one call

        run.click(
            handlers.reconstruct_photo,
            inputs=[photo, mode, frames, seed, resolution],
            outputs=[avatar[k] for k in handlers.RECONSTRUCT_OUTPUTS],
            api_name="reconstruct",
            concurrency_id="work",
        )
        run.click(
            lambda: cleared(len(animated)), outputs=list(animated.values()), api_visibility="private", queue=False
        )
        animate.click(
            animation.animate_last,
            inputs=[motion, resolution],
            outputs=[animated[k] for k in animation.ANIMATE_UI_OUTPUTS],
            api_visibility="private",
            concurrency_id="work",
        )
        animate_api.click(
            animation.animate_photo,
            inputs=[photo, motion, anim_frames, resolution],
            outputs=[animated[k] for k in animation.ANIMATE_OUTPUTS],
            api_name="animate",
            concurrency_id="work",
        )
        fit_outputs = [avatar["body"], avatar["body_json"], avatar["files"]]
        stale = [c for c in avatar.values() if c not in fit_outputs]  # the previous photo's results
        stale += list(animated.values())
        fit.click(lambda: cleared(len(stale)), outputs=stale, api_visibility="private", queue=False).then(
            handlers.fit_body_photo, inputs=[photo], outputs=fit_outputs, api_name="fit_body", concurrency_id="work"
        )
        demo.load(folders.open, api_visibility="private")
        demo.unload(folders.close)
    # examples Gradio copied into its cache: the disk cap must not delete them
    folders.keep.update(f for block in demo.blocks.values() for f in getattr(block, "keep_in_cache", ()))
    return demo
