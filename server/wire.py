"""The wire format of docs/protocol.md, server side: decode and validate requests, encode replies.

Nothing here trusts the client: every field is type-checked, every buffer matched against its
descriptor, every size held to the configured limits, and anything wrong becomes a RequestError
with a wire code, never an exception that could take the I/O loop down.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import msgpack

from .config import Limits
from .errors import RequestError, error_code

PROTOCOL_VERSIONS = (1,)
DTYPE_SIZES = {"uint8": 1, "uint16": 2, "float16": 2, "float32": 4}
MAX_ID_CHARS = 128
INT64 = 2 ** 63

OPS = frozenset(["hello", "heartbeat", "describe", "open", "put", "analyse", "render", "credit", "cancel",
                 "status", "close", "shutdown", "echo"])
NOTICES = frozenset(["heartbeat", "credit"])   # carry no id and get no reply


@dataclass
class Part:
    """One raw buffer of a request, checked against its descriptor."""

    buffer: Any                 # zmq.Frame (zero copy) or bytes
    shape: Tuple[int, ...]
    dtype: str

    @property
    def nbytes(self) -> int:
        return len(self.buffer)


@dataclass
class Request:
    identity: bytes
    rid: Any
    op: str
    session: str
    version: int
    args: Dict[str, Any] = field(default_factory=dict)
    parts: List[Part] = field(default_factory=list)


def pack(header: Dict[str, Any]) -> bytes:
    return msgpack.packb(header, use_bin_type=True)


def reply(rid: Any, kind: str, version: int = PROTOCOL_VERSIONS[-1], **fields: Any) -> Dict[str, Any]:
    """A reply header: kind is ok | error | progress | frame | heartbeat."""
    header = {"v": version, "id": rid, "kind": kind}
    header.update(fields)
    return header


def error_reply(rid: Any, code: str, message: str) -> Dict[str, Any]:
    return reply(rid, "error", error={"code": code, "message": message})


def final_reply(rid: Any, version: int, result: Any = None, error: Optional[BaseException] = None) -> Dict[str, Any]:
    """The final reply of work done off the I/O thread: ok with `result`, or the error's code and message."""
    if error is None:
        return reply(rid, "ok", version, result=result)
    return error_reply(rid, error_code(error), str(error) or type(error).__name__)


def descriptor(shape: Sequence[int], dtype: str) -> Dict[str, Any]:
    return {"dtype": dtype, "shape": [int(n) for n in shape]}


def _valid_id(rid: Any) -> bool:
    if isinstance(rid, bool):
        return False
    if isinstance(rid, int):
        return -INT64 <= rid < INT64
    return isinstance(rid, str) and 0 < len(rid) <= MAX_ID_CHARS


def peek_id(header_bytes: bytes) -> Any:
    """Best effort: the id of a request whose header is otherwise bad, so the error can name it."""
    try:
        header = msgpack.unpackb(header_bytes, raw=False, strict_map_key=False)
        rid = header.get("id") if isinstance(header, dict) else None
        return rid if _valid_id(rid) else None
    except Exception:
        return None


def check_part(desc: Any, buffer: Any, index: int) -> Part:
    if not isinstance(desc, dict):
        raise RequestError("bad-frame", f"descriptor of buffer {index} is not a map")
    dtype, shape = desc.get("dtype"), desc.get("shape")
    if dtype not in DTYPE_SIZES:
        raise RequestError("bad-frame", f"buffer {index}: sample type {dtype!r} is not one of {sorted(DTYPE_SIZES)}")
    if (not isinstance(shape, (list, tuple)) or not 1 <= len(shape) <= 4
            or any(isinstance(n, bool) or not isinstance(n, int) or not 0 < n < INT64 for n in shape)):
        raise RequestError("bad-frame", f"buffer {index}: shape {shape!r} must be 1 to 4 positive integers")
    expected = DTYPE_SIZES[dtype]
    for n in shape:
        expected *= n
    if expected != len(buffer):
        raise RequestError("bad-frame", f"buffer {index} holds {len(buffer)} bytes but {dtype} {list(shape)} "
                                        f"needs {expected}")
    return Part(buffer, tuple(shape), dtype)


def decode(message: Sequence[Any], limits: Limits) -> Request:
    """[identity, header, buffer...] -> Request, or RequestError (with the request's id when readable)."""
    identity, header_frame, buffers = message[0], message[1], list(message[2:])
    header_bytes = header_frame.bytes if hasattr(header_frame, "bytes") else bytes(header_frame)
    if len(header_bytes) > limits.max_header_bytes:
        raise RequestError("too-large", f"header of {len(header_bytes)} bytes exceeds the limit of "
                                        f"{limits.max_header_bytes}")
    rid = peek_id(header_bytes)
    try:
        if len(buffers) > limits.max_parts:
            raise RequestError("too-large", f"{len(buffers)} buffers exceed the limit of {limits.max_parts}")
        total = sum(len(b) for b in buffers)
        if total > limits.max_message_bytes:
            raise RequestError("too-large", f"message of {total} bytes exceeds the limit of {limits.max_message_bytes}")
        try:
            header = msgpack.unpackb(header_bytes, raw=False, strict_map_key=False)
        except Exception as error:
            raise RequestError("bad-request", f"header is not valid msgpack ({type(error).__name__})")
        if not isinstance(header, dict):
            raise RequestError("bad-request", "header must be a msgpack map")
        version = header.get("v")
        if version not in PROTOCOL_VERSIONS:
            raise RequestError("version", f"protocol version {version!r} is not supported; this server speaks "
                                          f"{list(PROTOCOL_VERSIONS)}")
        op = header.get("op")
        if not isinstance(op, str) or op not in OPS:
            raise RequestError("unknown-op", f"unknown operation {op!r}; known: {sorted(OPS)}")
        raw_id = header.get("id")
        if op in NOTICES:
            rid = None
        elif not _valid_id(raw_id):
            raise RequestError("bad-request", f"request id {raw_id!r} must be a string (1-{MAX_ID_CHARS} chars) "
                                              "or a 64-bit integer")
        session = header.get("session", None)
        if session is None:
            session = identity.hex() if isinstance(identity, bytes) else str(identity)
        if not isinstance(session, str) or not 0 < len(session) <= MAX_ID_CHARS:
            raise RequestError("bad-request", "session must be a string of 1 to 128 characters")
        args = header.get("args") or {}
        if not isinstance(args, dict):
            raise RequestError("bad-request", "args must be a map")
        descriptors = header.get("parts") or []
        if not isinstance(descriptors, list) or len(descriptors) != len(buffers):
            described = len(descriptors) if isinstance(descriptors, list) else "no"
            raise RequestError("bad-frame", f"{len(buffers)} buffers arrived with {described} descriptors")
        parts = [check_part(d, b, i) for i, (d, b) in enumerate(zip(descriptors, buffers))]
        return Request(identity, rid, op, session, version, args, parts)
    except RequestError as error:
        error.rid = rid
        raise


def arg(args: Dict[str, Any], name: str, kind, default: Any = ..., allow_none: bool = False) -> Any:
    """One typed argument, or a bad-request RequestError naming it."""
    if name not in args or (args[name] is None and not allow_none):
        if default is ...:
            raise RequestError("bad-request", f"missing argument '{name}'")
        return default
    value = args[name]
    if value is None and allow_none:
        return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise RequestError("bad-request", f"argument '{name}' must be {' or '.join(k.__name__ for k in kinds)}")
    if not isinstance(value, kinds):
        raise RequestError("bad-request", f"argument '{name}' must be {' or '.join(k.__name__ for k in kinds)}, "
                                          f"got {type(value).__name__}")
    return value


def optional_int(args: Dict[str, Any], name: str) -> Optional[int]:
    value = arg(args, name, int, None, allow_none=True)
    if value is not None and not -INT64 <= value < INT64:
        raise RequestError("bad-request", f"argument '{name}' is out of range")
    return value
