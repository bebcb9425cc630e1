"""What callers send, checked: the photo input and the options, each problem a ``gr.Error`` for people.

The library's own checks decide (``humansplat.io.images.load_photo``, ``humansplat.api.check_options``);
this module only narrows them to the app's ranges (:mod:`humansplat.app.settings`) and words the errors.
"""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import gradio as gr

from . import settings

log = logging.getLogger("humansplat.app")


def _raw_upload(payload: Any) -> str | bytes | None:
    """Preprocessing of the photo input: the uploaded file's path (or an inline data: URL's bytes), undecoded.

    Gradio's own image preprocessing opens the file with PIL and fails with a bare error on files that
    are not images; here :func:`humansplat.io.images.load_photo` reads every file and explains problems.
    Gradio has already checked that the file is one the user uploaded (in its upload folder).
    """
    if payload is None:
        return None
    url = getattr(payload, "url", None)
    if url and url.startswith("data:"):
        return base64.b64decode(url.split(",", 1)[1])
    return payload.path


def photo_input(**kwargs: Any) -> gr.Image:
    """``gr.Image`` (upload, webcam, clipboard) whose value reaches the app as the raw uploaded file.

    (An instance attribute, not a subclass: subclassing a Gradio component writes a ``.pyi`` stub
    beside this file at import time.)
    """
    photo = gr.Image(type="filepath", image_mode=None, **kwargs)
    photo.preprocess = _raw_upload  # type: ignore[method-assign]
    return photo


def load_photo(photo: str | bytes | None):
    """The upload -> :class:`humansplat.io.images.Photo`, or a ``gr.Error`` that says what to do."""
    from humansplat.errors import InputError
    from humansplat.io.images import load_photo as read_photo

    if photo is None:
        raise gr.Error(
            "No photo given. Upload a photo of a person (JPEG or PNG), or pick an example.", print_exception=False
        )
    try:
        return read_photo(photo)
    except InputError as exc:
        raise gr.Error(str(exc), title="This photo cannot be used", print_exception=False) from None


def _app_limits():
    """:class:`humansplat.api.OptionLimits` of the app (the settings' MIN/MAX constants)."""
    from humansplat.api import OptionLimits

    return OptionLimits(
        frames=(settings.MIN_FRAMES, settings.MAX_FRAMES),
        resolution=(min(settings.RESOLUTIONS), max(settings.RESOLUTIONS)),
        seed=(0, settings.MAX_SEED),
    )


def check_options(mode: str, frames: float, seed: float, resolution: float) -> tuple[str, int, int, int]:
    """Validate the options (API callers can send anything) with the pipeline's one check
    -> (mode, frames, seed, resolution); a ``gr.Error`` quoting the bad value otherwise."""
    from humansplat.api import check_options as check
    from humansplat.errors import InputError, WeightsUnavailableError

    try:
        opts = check(mode, frames, resolution, seed, limits=_app_limits())
    except (InputError, WeightsUnavailableError) as exc:
        raise gr.Error(str(exc), title="Options", print_exception=False) from None
    if opts.resolution not in settings.RESOLUTIONS:
        raise gr.Error(
            f"Resolution {opts.resolution} is not offered; use one of {', '.join(map(str, settings.RESOLUTIONS))}.",
            print_exception=False,
        )
    return mode, opts.frames, opts.seed, opts.resolution


def check_motion(motion: Any) -> str:
    """A built-in motion name, or a ``gr.Error`` listing them."""
    from humansplat.animate import motion_names

    if motion not in motion_names():
        raise gr.Error(
            f"Unknown motion {motion!r}; choose one of {', '.join(motion_names())}.",
            title="Options",
            print_exception=False,
        )
    return str(motion)


def check_animation_frames(frames: Any) -> int | None:
    """/animate's frame count: 0 -> None (one cycle of the motion), else a whole number in the app's range."""
    low, high = settings.MIN_ANIMATION_FRAMES, settings.MAX_ANIMATION_FRAMES
    try:
        value = float(frames)
    except (TypeError, ValueError):
        value = float("nan")
    if value == 0:
        return None
    if not (value.is_integer() and low <= value <= high):
        raise gr.Error(
            f"Animation frames {frames!r} cannot be used: give 0 (one cycle of the motion at "
            f"{settings.ANIMATION_FPS} fps) or a whole number from {low} to {high}.",
            title="Options",
            print_exception=False,
        )
    return int(value)


def _time_limit_message(exc, what: str, fewer: str) -> str:
    """The message people see for a :class:`humansplat.errors.TimeLimitError`."""
    return (
        f"The {what} took longer than {exc.limit_s:.0f} s and was stopped (stopped during {exc.stage}). "
        f"Try fewer {fewer} or a lower resolution, or try again when the app is less busy."
    )


@contextlib.contextmanager
def errors_for_people(what: str, fewer: str) -> Iterator[None]:
    """The library's errors inside the block -> ``gr.Error`` messages for people (``what``: "reconstruction",
    "animation"; ``fewer``: what to ask for fewer of past the time limit); any other exception is a bug:
    said plainly, its traceback kept in the server log."""
    from humansplat.errors import InputError, TimeLimitError, WeightsUnavailableError

    try:
        yield
    except TimeLimitError as exc:  # raised inside the stage that ran past the limit
        raise gr.Error(_time_limit_message(exc, what, fewer), title="Time limit", print_exception=False) from None
    except (InputError, WeightsUnavailableError) as exc:
        raise gr.Error(str(exc), title=f"{what.capitalize()} not possible", print_exception=False) from None
    except gr.Error:
        raise
    except Exception as exc:
        log.exception("%s failed", what)
        raise gr.Error(
            f"The {what} failed ({type(exc).__name__}: {exc}). This is a bug; please report it with the photo."
        ) from None


def deadline():
    """A :class:`humansplat.errors.Deadline` ``settings.TIME_LIMIT_S`` from now (None when 0: no limit)."""
    from humansplat.errors import Deadline

    return Deadline.after(settings.TIME_LIMIT_S) if settings.TIME_LIMIT_S > 0 else None
