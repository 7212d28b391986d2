"""Request decoding: nothing a client sends gets past validation unchecked."""
import msgpack
import pytest

from deflicker_server import wire
from deflicker_server.config import Limits
from deflicker_server.errors import RequestError

LIMITS = Limits(max_header_bytes=1024, max_parts=3, max_part_bytes=1 << 20, max_message_bytes=1000)


def _decode(header, *buffers, raw=None):
    data = raw if raw is not None else msgpack.packb(header)
    return wire.decode([b"peer", data, *buffers], LIMITS)


def _code(header, *buffers, raw=None):
    with pytest.raises(RequestError) as caught:
        _decode(header, *buffers, raw=raw)
    return caught.value.code, caught.value.rid


def test_a_good_request_with_a_frame_decodes():
    req = _decode({"v": 1, "op": "echo", "id": "a1", "session": "s", "args": {"x": 1},
                   "parts": [{"dtype": "uint16", "shape": [2, 3, 4]}]}, b"\0" * 48)
    assert (req.op, req.rid, req.session, req.args) == ("echo", "a1", "s", {"x": 1})
    assert req.parts[0].shape == (2, 3, 4) and req.parts[0].dtype == "uint16"


def test_the_session_defaults_to_the_routing_id():
    assert _decode({"v": 1, "op": "status", "id": 7}).session == b"peer".hex()


@pytest.mark.parametrize("raw", [b"\xc1\xc1", b"", b"\x92\x01\x02", msgpack.packb("text")])
def test_garbage_headers_are_bad_requests(raw):
    assert _code(None, raw=raw) == ("bad-request", None)


def test_versions_ops_and_ids_are_checked_and_the_id_is_echoed():
    assert _code({"v": 9, "op": "status", "id": 3}) == ("version", 3)
    assert _code({"v": 1, "op": "rm -rf", "id": "x"}) == ("unknown-op", "x")
    assert _code({"v": 1, "op": "status", "id": 1.5})[0] == "bad-request"
    assert _code({"v": 1, "op": "status", "id": True})[0] == "bad-request"
    assert _code({"v": 1, "op": "status", "id": "x" * 200})[0] == "bad-request"
    assert _code({"v": 1, "op": "status", "id": 2 ** 64 - 1})[0] == "bad-request"
    assert _code({"v": 1, "op": "status", "id": 4, "args": [1]}) == ("bad-request", 4)
    assert _code({"v": 1, "op": "status", "id": 4, "session": 5}) == ("bad-request", 4)
    assert _decode({"v": 1, "op": "heartbeat"}).rid is None   # notices need no id


def test_buffers_must_match_their_descriptors():
    head = {"v": 1, "op": "echo", "id": 1}
    assert _code(head, b"x")[0] == "bad-frame"                                      # no descriptor
    assert _code(dict(head, parts=[{"dtype": "float32", "shape": [2, 2, 1]}]), b"x" * 15)[0] == "bad-frame"
    assert _code(dict(head, parts=[{"dtype": "int64", "shape": [1]}]), b"x" * 8)[0] == "bad-frame"
    assert _code(dict(head, parts=[{"dtype": "uint8", "shape": [-1, 1]}]), b"x")[0] == "bad-frame"
    assert _code(dict(head, parts=[{"dtype": "uint8", "shape": "1"}]), b"x")[0] == "bad-frame"
    assert _code(dict(head, parts=["uint8"]), b"x")[0] == "bad-frame"


def test_sizes_are_limited():
    assert _code({"v": 1, "op": "status", "id": 1, "pad": "x" * 2000}) == ("too-large", None)  # not even decoded
    assert _code({"v": 1, "op": "echo", "id": 2}, b"a", b"b", b"c", b"d") == ("too-large", 2)
    assert _code({"v": 1, "op": "echo", "id": 3}, b"a" * 600, b"b" * 600) == ("too-large", 3)


def test_typed_arguments():
    assert wire.arg({"n": 3}, "n", int) == 3
    assert wire.arg({}, "n", int, 9) == 9
    for bad in ({"n": "3"}, {"n": True}, {}):
        with pytest.raises(RequestError):
            wire.arg(bad, "n", int)
