"""Bridge exceptions: one root, so a host node can catch everything the bridge means to raise.

Errors the server reports arrive as `ServerError` subclasses chosen by the error code on the wire
(see docs/protocol.md); errors of the connection itself (no server, lost server, bad reply) are
raised on this side. Messages are one line a user can act on.
"""


class BridgeError(Exception):
    """Root of every error the bridge raises on purpose."""


class ServerUnavailable(BridgeError):
    """No server answered at the address (and none could be started)."""


class ConnectionLost(BridgeError):
    """The server stopped answering or restarted while a request was in flight; the request is lost."""


class RequestTimeout(BridgeError):
    """A request got no final reply within its time limit."""


class ProtocolError(BridgeError):
    """A message did not follow docs/protocol.md (bad header, buffer sizes, version mismatch)."""


class ServerError(BridgeError):
    """The server answered a request with an error; `code` is the wire error code."""

    code = "error"

    def __init__(self, message, code=None):
        BridgeError.__init__(self, message)
        if code is not None:
            self.code = code
        self.message = message


class BadRequest(ServerError):
    """The server could not make sense of a request (malformed header, wrong buffers, unknown op)."""


class NotFound(ServerError):
    """A clip or request id the server does not know (closed, expired, or the server restarted)."""


class Forbidden(ServerError):
    """A path outside the server's allowed roots, or an operation this client may not perform."""


class ParameterError(ServerError):
    """A parameter is unknown, of the wrong type or out of range."""


class InputError(ServerError):
    """The server cannot read the input clip."""


class OutputError(ServerError):
    """The server cannot write the output."""


class Cancelled(ServerError):
    """The job was cancelled; nothing partial was left behind."""


class Busy(ServerError):
    """The server refused work for now (too many requests in flight, or shutting down)."""


ERROR_CLASSES = {
    "bad-request": BadRequest,
    "unknown-op": BadRequest,
    "duplicate-id": BadRequest,
    "too-large": BadRequest,
    "bad-frame": BadRequest,
    "version": BadRequest,
    "not-ready": BadRequest,
    "unknown-clip": NotFound,
    "unknown-request": NotFound,
    "stale-clip": InputError,
    "forbidden": Forbidden,
    "parameter": ParameterError,
    "input": InputError,
    "output": OutputError,
    "cancelled": Cancelled,
    "busy": Busy,
    "shutting-down": Busy,
}


def server_error(code, message):
    """Build the exception that matches a wire error code (unknown codes give a plain ServerError)."""
    cls = ERROR_CLASSES.get(code, ServerError)
    return cls(message, code)
