"""Errors that carry a message meant for the person using HumanSplat."""


class InputError(ValueError):
    """The input (photo, options) cannot be used; the message says why and what to do."""


class WeightsUnavailableError(RuntimeError):
    """Model weights could not be loaded (offline, missing, gated); the message says what to do."""
