"""The one home of the mode words: which modes exist, which a run can ask for, and the rule of ``"auto"``.

* ``"prior"``: Gaussians from the fitted body and the photo (CPU, no weights);
* ``"views"``: prior mode refined on the SV3D synthesizer's orbit views (its weights, a CUDA GPU for speed);
* ``"full"``: the synthesizer then the trained reconstruction transformer;
* ``"auto"`` (asked for only): the best of the three that can run here (:func:`choose_mode`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["MODES", "RUN_MODES", "Mode", "RequestedMode", "choose_mode"]

Mode = Literal["prior", "views", "full"]
"""A mode that runs (what :class:`~humansplat.result.Result` records)."""

RequestedMode = Literal["auto", "prior", "views", "full"]
"""A mode a run can ask for."""

MODES: tuple[str, ...] = ("auto", "prior", "views", "full")
"""The modes a run can ask for, in the order menus show them (the values of :data:`RequestedMode`)."""

RUN_MODES: tuple[str, ...] = ("prior", "views", "full")
"""The modes that run (the values of :data:`Mode`)."""


def choose_mode(
    available: dict[str, bool],
    device: torch.device | str,
    requested: RequestedMode = "auto",
) -> tuple[Mode, list[str]]:
    """Which mode runs, and why.

    Args:
        available: ``{"synthesizer": bool, "reconstructor": bool}``: whether the SV3D weights
            (unet, vae, image_encoder) and trained reconstructor weights can be loaded here.
        device: where the networks would run.
        requested: the user's mode. ``"auto"``: trained reconstructor + synthesizer + CUDA -> ``"full"``;
            synthesizer + CUDA -> ``"views"``; else ``"prior"``. An explicit ``"views"``/``"full"``
            needs its weights (a CPU is allowed, slowly); ``"prior"`` always runs.

    Returns:
        (mode, reasons): one line per reason a better mode did not run (empty when nothing was left out).

    Raises:
        ValueError: unknown ``requested``, or an explicit mode whose weights are missing (the message
            says which).
    """
    import torch  # here, not at import: the command line reads MODES before torch starts

    if requested not in MODES:
        raise ValueError(f"unknown mode {requested!r}; use 'auto', 'prior', 'views' or 'full'")
    synth = bool(available.get("synthesizer", False))
    recon = bool(available.get("reconstructor", False))
    cuda = torch.device(device).type == "cuda"
    if requested == "prior":
        return "prior", []
    if requested in ("views", "full"):
        missing = [n for n, ok in (("synthesizer", synth), ("reconstructor", recon)) if not ok]
        missing = missing if requested == "full" else [m for m in missing if m == "synthesizer"]
        if missing:
            raise ValueError(
                f"mode {requested!r} needs the {' and '.join(missing)} weights, which cannot be loaded here; "
                "use mode='auto' or 'prior'"
            )
        return requested, ([] if cuda else [f"{requested} mode on the CPU is slow (minutes per step of SV3D)"])
    reasons = []
    if not cuda:
        reasons.append("no CUDA GPU: views and full modes need one")
    if not synth:
        reasons.append("the SV3D synthesizer weights are not available (views and full modes need them)")
    if not recon:
        reasons.append("no trained reconstructor weights (full mode needs them; none were published)")
    if cuda and synth and recon:
        return "full", []
    if cuda and synth:
        return "views", reasons
    return "prior", reasons
