"""The text shown with a result: a plain sentence or two first, the technical details folded under it.

The plain part speaks to the public (no identifiers, no settings, no module names); the folded part
keeps what the tests and curious readers look for (the mode, :meth:`humansplat.result.Result.summary`,
the input-view fidelity) and the notes that concern this photo's result. Notes about this machine
(why ``auto`` chose a mode, which weights are missing) and the opaque-alpha note stay in
``report.json`` only.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import settings

GUESSED = {  # mode -> what the visitor should know about the sides the photo does not show
    "prior": "The back and sides are guessed from a body model fitted to the person, so they are smoother "
    "and plainer than the front.",
    "views": "The back and sides were drawn by an image model that imagines a person from every side, "
    "then joined with your photo in 3D.",
    "full": "The back and sides were drawn by an image model and turned into 3D by a trained network.",
}
HEADLINES = {
    "prior": "**Prior mode**: Gaussians built from the fitted body and the photo (no trained network weights).",
    "views": "**Views mode**: the human SV3D synthesizer generated orbit views; the Gaussians were fitted to "
    "them and the photo (no trained reconstructor).",
    "full": "**Full mode**: multi-view synthesizer + latent reconstruction transformer (trained weights).",
}


def plain_sentences(mode: str, run_s: float, on_gpu: bool, refusal: str | None = None) -> str:
    """One or two sentences for the public: where and how fast the avatar was made, what was guessed;
    a GPU refusal's sentence (already plain) after them."""
    where = "on a graphics card" if on_gpu else "on this computer's processor"
    seconds = f"{run_s:.0f} s" if run_s < 90 else f"{run_s / 60:.1f} minutes"
    text = f"Made from your photo {where} in {seconds}. {GUESSED.get(mode, '')}".strip()
    return f"{text} {refusal}" if refusal else text


def notes_for_people(result, photo_notes: Iterable[str] = ()) -> list[str]:
    """The notes that concern this photo's result: the photo's (``photo_notes``, less the opaque-alpha
    note), the person's (the crop's) and a GPU refusal's; in the result's order, each once."""
    from humansplat.io.images import OPAQUE_ALPHA_NOTE

    from .zerogpu import REFUSALS

    crop_notes = result.body_fit.crop.notes if result.body_fit.crop is not None else []
    concern = (set(photo_notes) | set(crop_notes) | set(REFUSALS.values())) - {OPAQUE_ALPHA_NOTE}
    return [n for n in dict.fromkeys([*result.notes, *crop_notes]) if n in concern]


def summary_markdown(
    result, run_s: float, on_gpu: bool, notice: str | None = None, photo_notes: Iterable[str] = ()
) -> str:
    """The visible summary (Markdown): :func:`plain_sentences`, then a folded "Technical details" with
    the mode headline, ``Result.summary()``, the input-view fidelity and :func:`notes_for_people`
    (and the session's disk ``notice``)."""
    from .zerogpu import REFUSALS

    notes = notes_for_people(result, photo_notes)
    refusal = next((n for n in notes if n in REFUSALS.values()), None)
    q = result.quality
    fidelity = (
        f"Input-view fidelity (the photo's own view only; unseen sides are not measured): PSNR "
        f"{q['input_view_psnr_db']:.1f} dB, alpha IoU {q['input_view_alpha_iou']:.3f}"
        if "input_view_psnr_db" in q and "input_view_alpha_iou" in q
        else ""
    )
    bullets = "\n".join(f"- {n}" for n in [*(n for n in notes if n != refusal), *([notice] if notice else [])])
    details = "\n\n".join(
        part
        for part in (
            HEADLINES.get(result.mode, f"**Mode: {result.mode}**"),
            f"`{result.summary()}` (request {run_s:.1f}s)",
            fidelity,
            bullets,
            "Every file, with all notes and timings in `report.json`, is under *All files*.",
        )
        if part
    )
    plain = plain_sentences(result.mode, run_s, on_gpu, refusal)
    return f"{plain}\n\n<details><summary>Technical details</summary>\n\n{details}\n\n</details>"


def animation_markdown(
    result, motion: str, frames: int | None, resolution: int, run_s: float, binding_notes: list[str] | None = None
) -> str:
    """The visible summary of an animation: motion, frames, the reconstruction's mode and weights, what
    the binding had to guess (``binding_notes``), seconds."""
    from humansplat.animate import get_motion, motion_names

    fps = settings.ANIMATION_FPS
    clips = [motion, *(m for m in motion_names() if m != motion)]  # as animate_result writes them
    count = frames if frames is not None else max(1, round(get_motion(motion).duration_s * fps))
    weights = ", ".join(f"{k}={v}" for k, v in result.weights.items()) or "no network weights"
    steps = ", ".join(
        f"{k.removeprefix('animate_')} {result.timings[k]:.1f}s"
        for k in ("animate_bind", "animate_video", "animate_glb")
        if k in result.timings
    )
    return (
        f"**Animated: {motion}**, {count} frames at {fps} fps, {resolution} px, the camera turning once.\n\n"
        f"Avatar: mode **{result.mode}** | weights: {weights} | {len(result.gaussians):,} Gaussians. "
        f"`avatar_rigged.glb` holds every motion as a clip: {', '.join(clips)}.\n\n"
        + "".join(f"- {note}\n" for note in binding_notes or [])
        + ("\n" if binding_notes else "")
        + f"`{steps}` (request {run_s:.1f}s)"
    )
