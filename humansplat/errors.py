"""Errors that carry a message meant for the person using HumanSplat, and the time limit of a run."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

__all__ = [
    "EXIT_STATUS",
    "Deadline",
    "GpuUnavailableError",
    "InputError",
    "TimeLimitError",
    "WeightsUnavailableError",
    "check_deadline",
]

EXIT_STATUS = (
    "exit status: 0 every photo was done; 1 some photos failed or were missing (the others were "
    "written); 2 usage error (a bad option, an unavailable body model, or a mode whose network "
    "weights are missing): nothing was processed"
)
"""The exit status rule of the ``humansplat`` command and ``python -m humansplat.prior``, in words."""


class InputError(ValueError):
    """The input (photo, options) cannot be used; the message says why and what to do."""


class WeightsUnavailableError(RuntimeError):
    """Model weights could not be loaded (offline, missing, gated); the message says what to do."""


class TimeLimitError(RuntimeError):
    """A run went past its :class:`Deadline` and was stopped inside ``stage``.

    Attributes:
        stage: the stage (or step) that was running, e.g. ``"fit"``, ``"multi-view sampling"``.
        limit_s: the time limit in seconds.
    """

    def __init__(self, stage: str, limit_s: float) -> None:
        self.stage = stage
        self.limit_s = float(limit_s)
        super().__init__(
            f"stopped during {stage}: the run took longer than its time limit of {self.limit_s:.0f} s. "
            "Try fewer turntable frames or a lower resolution, or allow more time."
        )

    def __reduce__(self) -> tuple:
        """Pickle with the constructor's arguments (the error may cross a process boundary: ZeroGPU)."""
        return type(self), (self.stage, self.limit_s)


class GpuUnavailableError(RuntimeError):
    """No GPU time for a run's networks: a host that lends GPUs per call refused or stopped the call
    (daily quota used up, no GPU free, the call's time ran out). The message is one plain sentence
    for people; :func:`humansplat.api.iter_reconstruct` then makes the prior-mode result and adds it
    to the result's notes."""


@dataclass(frozen=True)
class Deadline:
    """A point in time (``time.monotonic()`` seconds) after which a run stops with :class:`TimeLimitError`.

    Long loops (body-fit iterations, sampler steps, turntable chunks) call :meth:`check` once per
    iteration, so a run past its limit ends within about one iteration (well under a second on CPU
    for the fit and the renders; one UNet step for the sampler).

    Attributes:
        at: ``time.monotonic()`` value of the deadline.
        limit_s: the limit it was made from (seconds; for messages).
    """

    at: float
    limit_s: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        """The deadline ``seconds`` from now; ``seconds`` must be a positive number."""
        seconds = float(seconds)
        if not seconds > 0 or math.isnan(seconds):
            raise ValueError(f"a time limit must be a positive number of seconds, got {seconds!r}")
        return cls(at=time.monotonic() + seconds, limit_s=seconds)

    def remaining(self) -> float:
        """Seconds left (negative once past)."""
        return self.at - time.monotonic()

    def check(self, stage: str) -> None:
        """Raise :class:`TimeLimitError` naming ``stage`` when the deadline has passed."""
        if time.monotonic() > self.at:
            raise TimeLimitError(stage, self.limit_s)


def check_deadline(deadline: Deadline | None, stage: str) -> None:
    """:meth:`Deadline.check` for an optional deadline (None: no limit)."""
    if deadline is not None:
        deadline.check(stage)
