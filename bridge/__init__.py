"""Client side of the deflicker server, for host nodes: pure Python 3.7+, pyzmq and msgpack, numpy optional.

    from deflicker_bridge import ensure_server
    with ensure_server() as server, server.connect() as conn:
        effect = conn.describe()                 # Effect: params (Param: type, default, min, max, label)
        clip = conn.open(path="/shots/a/plate.%04d.exr")
        clip.analyse(progress=print)
        for frame in clip.render(10, 20, params={"strength": 0.8}):
            frame.index, frame.shape, frame.dtype, frame.buffer   # frame.array with numpy

The protocol is specified in docs/protocol.md.
"""
from .clip import Clip
from .connection import DEFAULT_ADDRESS, Connection, CurveKeys
from .effect import Effect, Param
from .errors import (BadRequest, BridgeError, Busy, Cancelled, ConnectionLost, Forbidden, InputError, NotFound,
                     OutputError, ParameterError, ProtocolError, RequestTimeout, ServerError, ServerUnavailable)
from .frames import Frame
from .job import HandleRange, Job, JobStatus, RangeError, connector, describe_effect, with_handles
from .launcher import ServerHandle, ensure_server, server_command

__all__ = [
    "BadRequest", "BridgeError", "Busy", "Cancelled", "Clip", "Connection", "ConnectionLost", "CurveKeys",
    "DEFAULT_ADDRESS", "Effect", "Forbidden", "Frame", "InputError", "NotFound", "OutputError", "Param",
    "ParameterError", "ProtocolError", "RequestTimeout", "ServerError", "ServerHandle", "ServerUnavailable",
    "ensure_server", "server_command", "HandleRange", "Job", "JobStatus", "RangeError", "describe_effect",
    "with_handles", "connector",
]
