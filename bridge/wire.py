"""The wire format of docs/protocol.md, client side: msgpack headers and raw buffer descriptors.

Kept apart from sockets so that it can be tested (and read) on its own. Pure Python 3.7+,
msgpack only.
"""
import msgpack

from .errors import ProtocolError

PROTOCOL_VERSIONS = (1,)
DTYPE_SIZES = {"uint8": 1, "uint16": 2, "float16": 2, "float32": 4}
FINAL_KINDS = ("ok", "error")
EVENT_KINDS = ("progress", "frame")


def pack(header):
    """Serialise a header map (str keys, plain values)."""
    return msgpack.packb(header, use_bin_type=True)


def unpack(data):
    """Deserialise a header; anything but a map is a protocol error."""
    try:
        header = msgpack.unpackb(bytes(data), raw=False, strict_map_key=False)
    except Exception as error:  # msgpack raises several unrelated types on garbage
        raise ProtocolError("unreadable message header from the server ({})".format(error))
    if not isinstance(header, dict):
        raise ProtocolError("message header from the server is not a map")
    return header


def request(op, rid, session, version, args=None, parts=None):
    """Header of a request; `parts` describes the buffers that follow it, one descriptor each."""
    header = {"v": version, "op": op, "id": rid, "session": session}
    if args:
        header["args"] = args
    if parts:
        header["parts"] = list(parts)
    return header


def notice(op, session, version, args=None):
    """Header of a notification (heartbeat, credit): no id, and no reply."""
    header = {"v": version, "op": op, "id": None, "session": session}
    if args:
        header["args"] = args
    return header


def descriptor(shape, dtype):
    """Describe one image buffer: dtype name and shape (height, width, channels)."""
    if dtype not in DTYPE_SIZES:
        raise ValueError("unsupported sample type {!r}; use one of {}".format(dtype, sorted(DTYPE_SIZES)))
    return {"dtype": dtype, "shape": [int(n) for n in shape]}


def expected_nbytes(desc):
    """Bytes a buffer must hold to match its descriptor."""
    size = DTYPE_SIZES[desc["dtype"]]
    for n in desc["shape"]:
        size *= int(n)
    return size


def check_part(desc, nbytes):
    """Validate a descriptor from the server against its buffer; return (shape tuple, dtype)."""
    if not isinstance(desc, dict):
        raise ProtocolError("buffer descriptor is not a map")
    dtype, shape = desc.get("dtype"), desc.get("shape")
    if dtype not in DTYPE_SIZES or not isinstance(shape, (list, tuple)) or not shape:
        raise ProtocolError("bad buffer descriptor {!r}".format(desc))
    if any(not isinstance(n, int) or n <= 0 for n in shape):
        raise ProtocolError("bad buffer shape {!r}".format(shape))
    if expected_nbytes(desc) != nbytes:
        raise ProtocolError("buffer of {} bytes does not match {} {}".format(nbytes, dtype, shape))
    return tuple(shape), dtype
