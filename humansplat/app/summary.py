"""The text shown with a result: the reconstruction's summary and the animation's."""

from __future__ import annotations

from . import settings


def summary_markdown(result, run_s: float, notice: str | None = None) -> str:
    """The visible summary: mode headline, Result.summary(), input-view fidelity, notes."""
    headline = {
        "prior": "**Prior mode**: Gaussians built from the fitted body and the photo (no trained network weights).",
        "views": "**Views mode**: the human SV3D synthesizer generated orbit views; the Gaussians were fitted to "
        "them and the photo (no trained reconstructor).",
        "full": "**Full mode**: multi-view synthesizer + latent reconstruction transformer (trained weights).",
    }.get(result.mode, f"**Mode: {result.mode}**")
    q = result.quality
    fidelity = (
        f"Input-view fidelity (the photo's own view only; unseen sides are not measured): PSNR "
        f"{q['input_view_psnr_db']:.1f} dB, alpha IoU {q['input_view_alpha_iou']:.3f}"
        if "input_view_psnr_db" in q and "input_view_alpha_iou" in q
        else ""
    )
    crop_notes = result.body_fit.crop.notes if result.body_fit.crop is not None else []
    notes = "\n".join(f"- {n}" for n in dict.fromkeys([*crop_notes, *result.notes, *([notice] if notice else [])]))
    return f"{headline}\n\n`{result.summary()}` (request {run_s:.1f}s)\n\n{fidelity}\n\n{notes}".strip()


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
