"""The page: photo and options on the left, the results on the right (``build_demo``).

The components' places are free; the endpoints' inputs and outputs (the API) are fixed by
:mod:`humansplat.app.handlers` and :mod:`humansplat.app.animation`.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from . import animation, handlers, sessions, settings, zerogpu
from .handlers import save_png
from .inputs import photo_input
from .mode_plan import mode_plan

HEADER = """\
# HumanSplat: one photo to a 3D Gaussian avatar

Upload a photo of one person. HumanSplat ([NeurIPS 2024](https://arxiv.org/abs/2406.12459)) finds the
person, fits a 3D body model to them (the *structure prior*) and builds 3D Gaussians that you can turn
around, download as `.ply` (3D Gaussian Splatting) or `.glb`, and watch as a turntable video.
In **full** mode a multi-view diffusion model imagines the unseen sides and a latent reconstruction
transformer turns them into Gaussians; in **views** mode the public human fine-tuned SV3D model
(GenHuman3D) imagines the unseen sides and the Gaussians are fitted to its views and the photo; in
**prior** mode the Gaussians are built from the fitted body and the photo alone (no network weights). Network weights that were not trained are never used to
make a result; every result says which mode and weights produced it.
"""



VIEWER_HEIGHT = 480  # px; the splat viewer's focal length is fixed in pixels, so a taller canvas sees more
CSS = "#viewer canvas { background: #ffffff !important; }"  # the splat viewer clears to black otherwise


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



def _video_and_viewer(video_label: str, video_id: str, viewer_label: str, viewer_id: str) -> tuple:
    """A row of a looping video and a 3D viewer (white background) of the same height."""
    with gr.Row():
        video = gr.Video(
            label=video_label, autoplay=True, loop=True, interactive=False, height=VIEWER_HEIGHT, elem_id=video_id
        )
        viewer = gr.Model3D(label=viewer_label, clear_color=(1, 1, 1, 1), height=VIEWER_HEIGHT, elem_id=viewer_id)
    return video, viewer



def build_demo() -> gr.Blocks:
    """The app's Blocks (not launched, models not loaded). ``serve()`` launches it with the app's limits."""
    from humansplat.animate import motion_names
    from humansplat.api import network_status
    from humansplat.views_mode import synthesizer_status

    cache = Path(gr.utils.get_upload_folder())  # read now: GRADIO_TEMP_DIR may have changed since import
    auto_runs, modes, banner = mode_plan(network_status(), synthesizer_status(), zerogpu.gpu_here())
    available = len(modes) > 2  # views or full can run: mode and seed matter

    folders = sessions.SESSIONS
    ttl = max(1, int(folders.ttl_s))  # Gradio deletes its cached files at the sessions' age limit too
    with gr.Blocks(title="HumanSplat", delete_cache=(min(600, ttl), ttl)) as demo:
        gr.Markdown(HEADER)
        gr.Markdown(banner, elem_id="mode-banner")
        with gr.Row():
            with gr.Column(scale=1):
                photo = photo_input(
                    label="Photo of a person", sources=["upload", "webcam", "clipboard"], height=420, elem_id="photo"
                )
                with gr.Accordion("Options", open=False):
                    # Without synthesizer weights only prior mode runs, and it is deterministic: mode and seed
                    # would change nothing, so they are shown disabled with the reason.
                    mode = gr.Radio(
                        modes,
                        value="auto",
                        label="Mode",
                        interactive=available,
                        info=f"auto runs {auto_runs} mode here (see the line above)"
                        if available
                        else "Only prior mode can run here (no synthesizer weights; see the line above).",
                    )
                    frames = gr.Slider(
                        settings.MIN_FRAMES, settings.MAX_FRAMES, value=settings.DEFAULT_FRAMES, step=1,
                        label="Turntable frames",
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
                        else "Used by views and full modes only; prior mode is deterministic, so the seed changes "
                        "nothing here.",
                    )
                with gr.Row():
                    run = gr.Button("Reconstruct", variant="primary", elem_id="run")
                    fit = gr.Button("Fit body only", elem_id="fit")
                gr.Examples(_examples(cache / settings.EXAMPLES_CACHE), inputs=[photo], label="Examples")
            with gr.Column(scale=2):
                summary = gr.Markdown("Results appear here stage by stage.", label="Summary", elem_id="summary")
                with gr.Row():
                    person = gr.Image(label="Person: mask and landmarks", type="filepath", interactive=False)
                    body = gr.Image(label="Fitted body over the photo", type="filepath", interactive=False)
                views = gr.Image(
                    label="Views: front, left, back, right (views mode: the synthesizer's, shown as soon as generated)",
                    type="filepath",
                    interactive=False,
                    elem_id="views",
                )
                video, model3d = _video_and_viewer("Turntable", "turntable", "3D Gaussians (drag to turn)", "viewer")
                with gr.Row():
                    ply = gr.File(label="Gaussians (.ply)", interactive=False, height=90)
                    glb = gr.File(label="Mesh (.glb)", interactive=False, height=90)
                files = gr.File(
                    label="All files: .ply, .splat, .glb, .mp4, views.png, body.json, report.json",
                    file_count="multiple",
                    interactive=False,
                    elem_id="files",
                )
                with gr.Accordion("Fitted body (JSON)", open=False):
                    body_json = gr.JSON(
                        label="Body (schema humansplat.body/1; the mesh arrays are in body.json)", elem_id="body-json"
                    )
                gr.Markdown(
                    "### Animate\nMove the last reconstruction with a built-in motion (one cycle, the camera "
                    "turning once, at the resolution set for the reconstruction). The rigged `.glb` holds the "
                    "skeleton, the skin weights and every motion as a clip: the viewer plays the chosen one; "
                    "Blender, three.js and `<model-viewer>` play them all."
                )
                with gr.Row():
                    motion = gr.Dropdown(
                        list(motion_names()), value=settings.DEFAULT_MOTION, label="Motion", elem_id="motion", scale=3
                    )
                    animate = gr.Button("Animate", variant="primary", elem_id="animate", scale=1)
                anim_video, rigged = _video_and_viewer(
                    "Animation", "animation", "Rigged avatar (.glb, plays the motion)", "rigged"
                )
                with gr.Row():
                    anim_glb = gr.File(label="Rigged avatar (avatar_rigged.glb)", interactive=False, height=90)
                    anim_ply = gr.File(label="Bound Gaussians (avatar_bound.ply)", interactive=False, height=90)
                    anim_rig = gr.File(label="Their binding (avatar_bound.rig.npz)", interactive=False, height=90)
                anim_summary = gr.Markdown("", elem_id="animation-summary")
                anim_frames = gr.Number(value=0, precision=0, visible=False, label="Animation frames")  # /animate only
                animate_api = gr.Button(visible=False)  # /animate: reconstruct a photo and animate it in one call

        components = {
            "ply": ply,
            "glb": glb,
            "video": video,
            "views": views,
            "summary": summary,
            "person": person,
            "body": body,
            "model3d": model3d,
            "files": files,
            "body_json": body_json,
        }
        run.click(
            handlers.reconstruct_photo,
            inputs=[photo, mode, frames, seed, resolution],
            outputs=[components[k] for k in handlers.RECONSTRUCT_OUTPUTS],
            api_name="reconstruct",
            concurrency_id="work",
        )
        animated = {
            "video": anim_video, "glb": anim_glb, "ply": anim_ply, "sidecar": anim_rig, "summary": anim_summary,
            "model3d": rigged,
        }
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
        fit_outputs = [body, body_json, files]
        stale = [c for k, c in components.items() if c not in fit_outputs]  # the previous photo's results
        stale += list(animated.values())
        fit.click(lambda: cleared(len(stale)), outputs=stale, api_visibility="private", queue=False).then(
            handlers.fit_body_photo, inputs=[photo], outputs=fit_outputs, api_name="fit_body", concurrency_id="work"
        )
        demo.load(folders.open, api_visibility="private")
        demo.unload(folders.close)
    # examples Gradio copied into its cache: the disk cap must not delete them
    folders.keep.update(f for block in demo.blocks.values() for f in getattr(block, "keep_in_cache", ()))
    return demo

