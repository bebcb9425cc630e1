"""Which modes this machine offers and what ``auto`` runs here: the rule of
:func:`humansplat.modes.choose_mode` applied to the weights found and the GPU, worded for the page."""

from __future__ import annotations

from humansplat.modes import MODES, choose_mode


def mode_plan(network: tuple[bool, str], synthesizer: tuple[bool, str], gpu: bool) -> tuple[str, list[str], str]:
    """(what ``auto`` runs here, the modes offered, the banner Markdown) from ``api.network_status()``,
    ``weights.synthesizer_status()`` and whether a CUDA GPU is here (the rule of ``choose_mode``)."""
    (net_ok, net_msg), (synth_ok, synth_msg) = network, synthesizer
    auto, reasons = choose_mode({"synthesizer": synth_ok, "reconstructor": net_ok}, "cuda" if gpu else "cpu")
    offered = ["auto", "prior"] + (["views"] if synth_ok else []) + (["full"] if synth_ok and net_ok else [])
    what = {
        "full": "the **full** model (synthesizer + trained reconstructor)",
        "views": "**views mode** (the human SV3D synthesizer's views, Gaussians fitted to them)",
        "prior": "**prior mode** (Gaussians from the fitted body and the photo; no network weights)",
    }[auto]
    why = "".join(f"<li>{r}</li>" for r in reasons)
    slow = " `views` is offered but runs on the CPU here (minutes per SV3D step)." if synth_ok and not gpu else ""
    banner = (
        f"`auto` runs {what} here.{slow}\n"
        f"<details><summary>Why</summary><ul>{why}<li>full mode: {net_msg}</li><li>views mode: {synth_msg}</li>"
        "</ul></details>"
    )
    return auto, [m for m in MODES if m in offered], banner
