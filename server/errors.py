"""Request errors: what the server answers when a request cannot be served, with its wire code.

They derive from the engine's DeflickerError so that one root still covers everything; engine
errors are mapped to wire codes by `error_code`.
"""
from __future__ import annotations

from deflicker_engine.errors import (Cancelled, DeflickerError, DeviceError, InputError, OutputError,
                                     ParameterError, WeightsError)


class RequestError(DeflickerError):
    """A request the server refuses; `code` is the error code sent on the wire (docs/protocol.md)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.rid = None  # the request it answers, when known


_ENGINE_CODES = (
    (Cancelled, "cancelled"),
    (ParameterError, "parameter"),
    (InputError, "input"),
    (OutputError, "output"),
    (DeviceError, "device"),
    (WeightsError, "weights"),
)


def error_code(error: BaseException) -> str:
    """The wire code of an exception: its own for RequestError, by class for engine errors."""
    if isinstance(error, RequestError):
        return error.code
    for cls, code in _ENGINE_CODES:
        if isinstance(error, cls):
            return code
    return "internal"
