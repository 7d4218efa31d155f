"""Errors shared across layers."""


class RunAborted(RuntimeError):
    """A run stopped on purpose for a reason the user must act on (bad data, a non-finite loss).

    The CLI prints these as one clear message, without a traceback.
    """
