"""The client against deliberately misbehaving fake servers: silence, garbage, restarts, lost replies."""
import threading
import time

import msgpack
import numpy as np
import pytest
import zmq

import deflicker_bridge as bridge
from deflicker_bridge.connection import Connection
from tests.server.procs import free_port


class FakePeer:
    """A ROUTER on a thread; `behave(peer, header, buffers)` returns the replies [(header, buffers)]."""

    def __init__(self, behave, heartbeats=True):
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.behave = behave
        self.heartbeats = heartbeats
        self.instance = "first"
        self.seen = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(5)

    def _run(self):
        sock = zmq.Context.instance().socket(zmq.ROUTER)
        sock.linger = 0
        sock.bind(self.address)
        self._ready.set()
        while not self._stop.is_set():
            if not sock.poll(50):
                continue
            identity, head, *buffers = sock.recv_multipart()
            header = msgpack.unpackb(head)
            self.seen.append(header)
            if header.get("op") == "heartbeat":
                if self.heartbeats:
                    sock.send_multipart([identity, msgpack.packb({"v": 1, "id": None, "kind": "heartbeat",
                                                                  "server": self.instance})])
                continue
            for reply, parts in self.behave(self, header, buffers) or []:
                sock.send_multipart([identity, reply if isinstance(reply, bytes) else msgpack.packb(reply), *parts])
        sock.close(0)

    def ops(self):
        return [h.get("op") for h in self.seen if h.get("op") != "heartbeat"]

    def stop(self):
        self._stop.set()
        self._thread.join(5)


def ok(header, result=None, **extra):
    return dict({"v": 1, "id": header["id"], "kind": "ok", "result": result or {}}, **extra), []


def hello_result(version=1):
    return {"version": version, "versions": [version], "instance": "first", "limits": {}}


def polite(peer, header, buffers):
    if header["op"] == "hello":
        return [ok(header, dict(hello_result(), instance=peer.instance))]
    return [ok(header, {"op": header["op"]})]


@pytest.fixture
def peers():
    made = []

    def make(behave, **options):
        peer = FakePeer(behave, **options)
        made.append(peer)
        return peer

    yield make
    for peer in made:
        peer.stop()


@pytest.fixture
def connect():
    made = []

    def make(address, **options):
        options.setdefault("timeout", 2.0)
        options.setdefault("heartbeat_interval", 0.1)
        options.setdefault("heartbeat_timeout", 1.0)
        conn = Connection(address, **options)
        made.append(conn)
        return conn

    yield make
    for conn in made:
        conn.close()


def test_nobody_answering_is_server_unavailable_within_the_timeout(connect):
    started = time.monotonic()
    with pytest.raises(bridge.ServerUnavailable):
        connect(f"tcp://127.0.0.1:{free_port()}", timeout=0.5, retries=0).connect()
    assert time.monotonic() - started < 5


class _NoPeerConnection(Connection):
    """Sockets that queue only to a completed connection: the state a server that refused this client's CURVE
    keys leaves behind (libzmq drops the connection), in which an unbounded send would block for ever."""

    def _configure(self, sock):
        sock.setsockopt(zmq.IMMEDIATE, 1)
        super()._configure(sock)


def test_a_connection_no_server_takes_fails_within_the_timeout_instead_of_blocking():
    conn = _NoPeerConnection(f"tcp://127.0.0.1:{free_port()}", timeout=0.5, heartbeat_interval=0.1,
                             heartbeat_timeout=1.0, retries=0)
    outcome = []

    def attempt():
        try:
            conn.connect()
            outcome.append("connected")
        except bridge.BridgeError as error:
            outcome.append(error)

    worker = threading.Thread(target=attempt, daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(10)
    if worker.is_alive():   # (its socket is left to the blocked thread: closing it from here would hang too)
        pytest.fail("connect() blocked in send")
    conn.close()
    assert isinstance(outcome[0], bridge.ServerUnavailable) and "did not take" in str(outcome[0])
    assert time.monotonic() - started < 5


def test_garbage_and_version_mismatch_are_protocol_errors(peers, connect):
    garbage = peers(lambda peer, header, buffers: [(b"\xc1not msgpack", [])])
    with pytest.raises(bridge.ProtocolError):
        connect(garbage.address).connect()
    future = peers(lambda peer, header, buffers: [ok(header, hello_result(version=7))])
    with pytest.raises(bridge.ProtocolError, match="protocol"):
        connect(future.address).connect()


def test_error_codes_become_exception_classes(peers, connect):
    def refuse(peer, header, buffers):
        if header["op"] == "hello":
            return [ok(header, hello_result())]
        code = header["args"]["code"]
        return [({"v": 1, "id": header["id"], "kind": "error", "error": {"code": code, "message": "no"}}, [])]
    conn = connect(peers(refuse).address)
    for code, cls in (("forbidden", bridge.Forbidden), ("cancelled", bridge.Cancelled),
                      ("unknown-clip", bridge.NotFound), ("something-new", bridge.ServerError)):
        with pytest.raises(cls) as caught:
            conn.call("status", {"code": code})
        assert caught.value.code == code


def test_replies_are_routed_by_id_and_strays_are_ignored(peers, connect):
    held = []

    def out_of_order(peer, header, buffers):
        if header["op"] == "hello":
            return [ok(header, hello_result())]
        held.append(header)
        if len(held) < 2:
            return [({"v": 1, "id": "stray", "kind": "ok", "result": {}}, [])]
        return [ok(h, {"n": h["args"]["n"]}) for h in reversed(held)]

    conn = connect(peers(out_of_order).address)
    first, second = conn.submit("status", {"n": 1}), conn.submit("status", {"n": 2})
    assert conn.wait(first, 5)[0] == {"n": 1} and conn.wait(second, 5)[0] == {"n": 2}


def test_a_frame_that_does_not_match_its_descriptor_is_a_protocol_error(peers, connect):
    def bad_frame(peer, header, buffers):
        if header["op"] == "hello":
            return [ok(header, hello_result())]
        return [({"v": 1, "id": header["id"], "kind": "frame", "index": 0,
                  "parts": [{"dtype": "float32", "shape": [2, 2, 4]}]}, [b"short"])]
    conn = connect(peers(bad_frame).address)
    with pytest.raises(bridge.ProtocolError, match="does not match"):
        conn.call("render")


def test_a_silent_server_loses_the_request_and_idempotent_ones_are_retried(peers, connect):
    state = {"status": 0}

    def drops_first_status(peer, header, buffers):
        if header["op"] == "status":
            state["status"] += 1
            if state["status"] == 1:
                return []                      # lost: the client must time out, reconnect, resend
        return polite(peer, header, buffers)

    conn = connect(peers(drops_first_status).address, timeout=0.5, retries=2)
    assert conn.status() == {"op": "status"} and state["status"] == 2
    assert conn.connect()["instance"] == "first"


def test_a_dead_server_is_noticed_by_heartbeat_during_a_long_job(peers, connect):
    def accepts_and_dies(peer, header, buffers):
        if header["op"] == "analyse":
            peer.heartbeats = False            # the server hangs: no more heartbeats, no reply
            return []
        return polite(peer, header, buffers)

    conn = connect(peers(accepts_and_dies).address, heartbeat_timeout=0.8)
    pending = conn.submit("analyse", {})
    started = time.monotonic()
    with pytest.raises(bridge.ConnectionLost, match="heartbeat"):
        conn.wait(pending, timeout=None)      # a long job has no deadline: only liveness ends it
    assert time.monotonic() - started < 5


def test_a_restarted_server_fails_requests_in_flight_and_the_next_call_says_hello_again(peers, connect):
    def restarts(peer, header, buffers):
        if header["op"] == "render":
            peer.instance = "second"           # what a restarted server's heartbeat looks like
            return []
        return polite(peer, header, buffers)

    peer = peers(restarts)
    conn = connect(peer.address)
    pending = conn.submit("render", {})
    with pytest.raises(bridge.ConnectionLost, match="restarted"):
        conn.wait(pending, timeout=10)
    assert conn.status() == {"op": "status"}
    assert conn.server["instance"] == "second" and peer.ops().count("hello") == 2


def test_stopping_a_render_early_sends_cancel_and_credit_flows(peers, connect):
    def streams(peer, header, buffers):
        if header["op"] == "render":
            return [({"v": 1, "id": header["id"], "kind": "frame", "index": i,
                      "parts": [{"dtype": "uint8", "shape": [1, 2, 3]}]}, [bytes([i]) * 6]) for i in range(3)]
        return polite(peer, header, buffers)

    peer = peers(streams)
    conn = connect(peer.address)
    clip = bridge.Clip(conn, "clip-1", {"start": 0, "stop": 3}, None)
    got = []
    for frame in clip.render():
        got.append(frame.array.copy())
        if len(got) == 2:
            break
    assert [int(g[0, 0, 0]) for g in got] == [0, 1]
    deadline = time.monotonic() + 5
    while "cancel" not in peer.ops() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert peer.ops()[-1] == "cancel" and peer.ops().count("credit") >= 1
    assert [h["args"]["request"] for h in peer.seen if h.get("op") == "cancel"] == [
        next(h["id"] for h in peer.seen if h.get("op") == "render")]


def test_frames_go_out_as_raw_buffers_with_descriptors(peers, connect):
    def echo(peer, header, buffers):
        if header["op"] == "echo":
            return [({"v": 1, "id": header["id"], "kind": "ok", "result": {}, "parts": header["parts"]}, buffers)]
        return polite(peer, header, buffers)

    conn = connect(peers(echo).address)
    image = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    back = conn.echo([image, (b"\x01\x02\x03", (1, 1, 3), "uint8")])
    assert np.array_equal(back[0].array, image) and back[1].tobytes() == b"\x01\x02\x03"
