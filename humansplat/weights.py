"""Where a run's network weights came from, said in words: the one home of weight provenance.

* :func:`origin`: what a loaded component's weights are (``"loaded: <folder or repo>"`` or :data:`UNTRAINED`);
* :func:`describe_source`: a Hugging Face cache path made readable (repo, commit, revision pin);
* :func:`synthesizer_weights`: component -> source of a loaded synthesizer;
* :func:`synthesizer_status`: whether the synthesizer's weights load here without downloading;
* :func:`weight_variant`: the one check of a weight-file variant (``"fp16"``) present in a folder.

Downloads and the Hub configuration live in :mod:`humansplat.hub` (called through the module, so a
patched ``hub`` function is the one used).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from . import hub

__all__ = [
    "UNTRAINED",
    "describe_source",
    "origin",
    "synthesizer_status",
    "synthesizer_weights",
    "weight_variant",
]

UNTRAINED = "random (untrained)"
"""What a component with random weights reports as its source."""

_HUB_SNAPSHOT = re.compile(r"models--(?P<owner>[^/\\]+?)--(?P<name>[^/\\]+)[/\\]snapshots[/\\](?P<commit>[0-9a-f]{7,64})(?:[/\\](?P<sub>.*))?$")


def origin(module: Any) -> str:
    """What a (non-reconstructor) component's weights are: ``"loaded: <folder or repo>"`` from its
    config's ``_name_or_path``, else :data:`UNTRAINED`."""
    config = getattr(module, "config", None)
    source = getattr(config, "_name_or_path", "") if config is not None else ""
    return f"loaded: {source}" if source else UNTRAINED


def describe_source(origin: str, component: str) -> str:
    """A component's ``"loaded: <path>"`` made readable: a Hugging Face cache snapshot
    (``.../models--owner--name/snapshots/<commit>/<subfolder>``) becomes
    ``"loaded: owner/name/<subfolder> (Hub, commit <12 hex>, revision <pin> | main (not pinned))"``;
    anything else (a ``$HUMANSPLAT_WEIGHTS`` folder, ``"random (untrained)"``) is returned as is."""
    match = _HUB_SNAPSHOT.search(origin.replace("\\", "/"))
    if not origin.startswith("loaded: ") or match is None:
        return origin
    files = hub.HubConfig.from_env().component(component)
    pin = files.revision if files is not None and files.revision else "main (not pinned)"
    repo = f"{match['owner']}/{match['name']}" + (f"/{match['sub']}" if match["sub"] else "")
    return f"loaded: {repo} (Hub, commit {match['commit'][:12]}, revision {pin})"


def synthesizer_weights(pipe: Any) -> dict[str, str]:
    """Component -> where its weights came from: ``"loaded: <folder>"`` for a local folder,
    ``"loaded: <repo>/<subfolder> (Hub, commit ..., revision ...)"`` for the Hub (:func:`describe_source`),
    or ``"random (untrained)"``."""
    return {name: describe_source(origin(getattr(pipe, name)), name) for name in hub.SYNTHESIZER_WEIGHTS}


def synthesizer_status(config: Any = None) -> tuple[bool, str]:
    """Whether the SV3D synthesizer's weights (unet, vae, image_encoder) load here without downloading
    (``$HUMANSPLAT_WEIGHTS`` or the Hugging Face cache), and why not. Never contacts the Hub."""
    missing = []
    for name in hub.SYNTHESIZER_WEIGHTS:
        ok, message = hub.is_available(name, config or hub.HubConfig.from_env())
        if not ok:
            missing.append(f"{name}: {' '.join(message.split())}")  # the whole message: it says how to fetch them
    if missing:
        return False, "SV3D weights missing: " + "; ".join(missing)
    return True, "SV3D weights found (unet, vae, image_encoder)"


def weight_variant(folder: Path, variant: str | None) -> str | None:
    """``variant`` (e.g. ``"fp16"``) when ``folder`` holds that variant's weight files
    (``*.<variant>.safetensors`` or its sharded index), else None (the plain files are loaded)."""
    if not variant:
        return None
    found = any(folder.glob(f"*.{variant}.safetensors")) or any(folder.glob(f"*.{variant}.safetensors.index.json"))
    return variant if found else None
