"""The app's GPU side: on a ZeroGPU Space only the networks run inside ``spaces.GPU``.

One decorated function, :func:`gpu_networks` (the synthesizer's sampling and the Gaussian fit to its
views, or full mode's network), whose duration is computed from the request
(:func:`humansplat.gpu_stage.gpu_seconds`: 56 s for a default views-mode request). Photo intake,
detection, the body fit, prior mode, the views, the turntable, animation and file writing run on the
CPU outside it; a prior-mode request asks for no GPU time. A refused or stopped GPU call (quota used
up, no GPU free, time run out) gives the prior-mode result and one sentence saying so
(:func:`refusal_sentence`).

Other modules use this one as ``zerogpu.NAME`` (looked up when called), so that importing it again
with another ``spaces`` module (tests simulate ZeroGPU so) takes effect everywhere.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import gradio as gr

try:  # ZeroGPU Spaces: GPU work must run inside functions decorated with spaces.GPU.
    import spaces  # type: ignore[import-not-found]
except ImportError:  # everywhere else (CPU, a dedicated GPU): the same code, undecorated
    spaces = None

ZERO_GPU = spaces is not None and (
    bool(getattr(getattr(getattr(spaces, "config", None), "Config", None), "zero_gpu", False))
    or os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true")
)
"""True on a ZeroGPU Space (``spaces`` installed is not enough: requirements-gpu.txt installs it anywhere)."""

NETWORK_DEVICE = "cuda"
"""Where the networks run on ZeroGPU (inside :func:`gpu_networks`); everything else renders on the CPU."""

log = logging.getLogger("humansplat.app")


def gpu_here() -> bool:
    """Whether networks would run on a CUDA GPU here (on ZeroGPU the GPU is attached per call, inside
    ``spaces.GPU``; ``spaces.config.Config.zero_gpu`` says whether this Space has ZeroGPU hardware)."""
    import torch

    return torch.cuda.is_available() or ZERO_GPU


def ran_on_gpu(mode: str) -> bool:
    """Whether a run in ``mode`` did its main work on a GPU: the networks (views, full modes) wherever a
    GPU is here; prior mode on a dedicated GPU only (on ZeroGPU it renders on the CPU)."""
    return gpu_here() and (mode != "prior" or not ZERO_GPU)


def _gpu(duration: Any):
    """``spaces.GPU(duration=duration)`` on ZeroGPU Spaces (``duration``: seconds, or a callable taking
    the decorated function's arguments), the identity elsewhere."""
    if not ZERO_GPU:
        return lambda fn: fn
    return spaces.GPU(duration=duration)


def _gpu_request_seconds(request) -> int:
    """ZeroGPU's duration of :func:`gpu_networks` (the same arguments): :func:`humansplat.gpu_stage.gpu_seconds`."""
    from humansplat.gpu_stage import gpu_seconds

    return gpu_seconds(request)


@_gpu(_gpu_request_seconds)
def gpu_networks(request) -> Iterator[Any]:
    """The one function that runs on ZeroGPU's GPU: :func:`humansplat.gpu_stage.run_networks` of a
    :class:`~humansplat.gpu_stage.NetworkRequest` (the models are already placed: :func:`place_models`).

    Yields its updates; an exception is yielded as a value, not raised (ZeroGPU turns exceptions other
    than ``gr.Error`` into a bare "worker error"), and :func:`network_runner` raises it again.
    """
    from humansplat.errors import InputError, TimeLimitError, WeightsUnavailableError
    from humansplat.gpu_stage import run_networks

    try:
        yield from run_networks(request)
    except Exception as exc:  # handed over whole, raised again outside
        if not isinstance(exc, (gr.Error, InputError, TimeLimitError, WeightsUnavailableError)):
            log.exception("the GPU call failed")  # a bug: its traceback stays in this process's log
        yield exc


REFUSALS = {  # a ZeroGPU error's title -> what the visitor is told (the avatar is then made in prior mode)
    "ZeroGPU quota exceeded": "The free GPU time for today is used up, so this avatar was made without the view "
    "synthesizer; sign in for more, or try again later.",
    "ZeroGPU pending credits exceeded": "Too many GPU runs of this account are still going, so this avatar was "
    "made without the view synthesizer; try again when they have finished.",
    "ZeroGPU queue timeout": "No GPU was free in time, so this avatar was made without the view synthesizer; "
    "try again in a few minutes.",
    "ZeroGPU illegal duration": "This request needs more GPU time than the Space may ask for, so this avatar was "
    "made without the view synthesizer.",
    "ZeroGPU worker error": "The GPU run was stopped before it finished, so this avatar was made without the view "
    "synthesizer; try again when the Space is less busy.",
}
NO_GPU_FREE = "No GPU was available"  # ZeroGPU's message when the queue gave up (under the quota title)


def refusal_sentence(exc: Exception) -> str | None:
    """The sentence for a ZeroGPU refusal (``gr.Error`` titled ``ZeroGPU ...``), None for any other error."""
    title = str(getattr(exc, "title", "") or "")
    if not (ZERO_GPU and isinstance(exc, gr.Error) and title.startswith("ZeroGPU")):
        return None
    if NO_GPU_FREE in str(getattr(exc, "message", exc)):
        return REFUSALS["ZeroGPU queue timeout"]
    return REFUSALS.get(title, REFUSALS["ZeroGPU worker error"])


def network_runner(request) -> Iterator[Any]:
    """The library's ``network_runner``: :func:`gpu_networks`, its yielded exceptions raised again, a
    ZeroGPU refusal turned into :class:`humansplat.errors.GpuUnavailableError` (the run then ends in
    prior mode) and shown to the visitor."""
    from humansplat.errors import GpuUnavailableError

    try:
        for item in gpu_networks(request):
            if isinstance(item, BaseException):
                raise item
            yield item
    except gr.Error as exc:
        sentence = refusal_sentence(exc)
        if sentence is None:
            raise
        log.info("GPU call refused (%s: %s); prior mode instead", getattr(exc, "title", ""), exc)
        gr.Warning(sentence)
        raise GpuUnavailableError(sentence) from None


def run_devices() -> dict[str, Any]:
    """``iter_reconstruct``'s keyword arguments for devices and networks: on ZeroGPU the CPU renders and
    the networks run on :data:`NETWORK_DEVICE` inside the GPU call; elsewhere the library's default
    devices (CUDA when here). The networks always go through :func:`network_runner`."""
    devices = {"device": "cpu", "network_device": NETWORK_DEVICE} if ZERO_GPU else {}
    return {"network_runner": network_runner, **devices}


def place_models() -> list[str]:
    """Load the networks whose weights are here and put them on the GPU, at start-up, as ZeroGPU asks
    (models moved to ``cuda`` outside the decorated function; each call finds them placed). Only on a
    ZeroGPU Space or a Space with a CUDA GPU; does nothing without the weights; never raises (a
    failure is logged and leaves them to load on first use). Returns the names of what was placed."""
    from humansplat.api import network_status
    from humansplat.gpu_stage import preload
    from humansplat.weights import synthesizer_status

    if not (ZERO_GPU or (os.environ.get("SPACE_ID") and gpu_here())):
        return []
    modes = tuple(m for m, ok in (("views", synthesizer_status()[0]), ("full", network_status()[0])) if ok)
    try:
        placed = preload(modes, NETWORK_DEVICE if ZERO_GPU else "cuda")
    except Exception:  # the page still runs; the first request loads them
        log.exception("placing the networks at start-up failed")
        return []
    log.info("networks placed at start-up: %s", ", ".join(placed) or "none")
    return placed
