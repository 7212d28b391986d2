"""Reliability and security against real server processes: nothing a client sends may crash it."""
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading

import msgpack
import numpy as np
import pytest
import zmq

import deflicker_bridge as bridge
from tests.conftest import flicker, textured_scene
from tests.server.procs import (CHEAP, FAKE_ENGINE, REPO, ServerProcess, free_port, wait_until as _wait_until,
                               write_png_sequence)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One server for the tests that do not kill it (startup costs seconds with the real engine)."""
    tmp = tmp_path_factory.mktemp("shared")
    server = ServerProcess(tmp, client_timeout=2.0, extra=["--max-frame-mb", "1"]).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def shot(shared):
    return write_png_sequence(shared.tmp / "shot", flicker(textured_scene(12, 64, 96, seed=11)))


class Raw:
    """A bare DEALER that sends whatever a test wants, misbehaving included."""

    def __init__(self, address):
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.connect(address)

    def send(self, *frames):
        self.sock.send_multipart([f if isinstance(f, (bytes, memoryview)) else msgpack.packb(f) for f in frames])

    def recv(self, timeout=10.0):
        assert self.sock.poll(int(timeout * 1000)), "no reply from the server"
        frames = self.sock.recv_multipart()
        return msgpack.unpackb(frames[0]), frames[1:]

    def close(self):
        self.sock.close(0)


BAD = [
    # (frames, expected id, expected code)
    ([b"\xc1\xc1\xc1"], None, "bad-request"),
    ([msgpack.packb([1, 2, 3])], None, "bad-request"),
    ([b""], None, "bad-request"),
    ([{"v": 1, "id": 1}], 1, "unknown-op"),
    ([{"v": 1, "op": "format_disk", "id": 2}], 2, "unknown-op"),
    ([{"v": 99, "op": "hello", "id": 3}], 3, "version"),
    ([{"v": 1, "op": "status", "id": [1]}], None, "bad-request"),
    ([{"v": 1, "op": "echo", "id": 4, "parts": [{"dtype": "float32", "shape": [4, 4, 4]}]}, b"\0" * 100], 4,
     "bad-frame"),
    ([{"v": 1, "op": "echo", "id": 5, "parts": [{"dtype": "complex128", "shape": [1]}]}, b"\0" * 16], 5, "bad-frame"),
    ([{"v": 1, "op": "echo", "id": 6}, b"stray buffer"], 6, "bad-frame"),
    ([{"v": 1, "op": "status", "id": 7, "junk": "x" * 70_000}], None, "too-large"),
    ([{"v": 1, "op": "echo", "id": 8}] + [b"x"] * 65, 8, "too-large"),
    ([{"v": 1, "op": "analyse", "id": 9, "args": {"clip": "clip-0000"}}], 9, "unknown-clip"),
    ([{"v": 1, "op": "analyse", "id": 10, "args": {"clip": 42}}], 10, "bad-request"),
    ([{"v": 1, "op": "put", "id": 11, "args": {"clip": "clip-0000", "start": 0}}], 11, "unknown-clip"),
    ([{"v": 1, "op": "cancel", "id": 12, "args": {"request": "never"}}], 12, "unknown-request"),
    ([{"v": 1, "op": "open", "id": 13, "args": {"source": {"path": "/etc"}}}], 13, "forbidden"),
    ([{"v": 1, "op": "open", "id": 14, "args": {"source": {"path": 7}}}], 14, "bad-request"),
    ([{"v": 1, "op": "open", "id": 15, "args": {"source": {"stream": {"height": -1, "width": 4, "channels": 3,
                                                                       "dtype": "uint8"}}}}], 15, "bad-request"),
    ([{"v": 1, "op": "open", "id": 16, "args": {"source": {}}}], 16, "bad-request"),
    ([{"v": 1, "op": "hello", "id": 17, "args": {"versions": "all"}}], 17, "bad-request"),
    ([{"v": 1, "op": "open", "id": 18, "args": {"source": {"path": "/"}, "start": 2 ** 63 - 1}}], 18, "forbidden"),
]


def test_malformed_messages_get_error_replies_and_the_server_keeps_serving(shared):
    raw = Raw(shared.address)
    try:
        for frames, rid, code in BAD:
            raw.send(*frames)
            header, _ = raw.recv()
            assert (header["kind"], header["id"], header["error"]["code"]) == ("error", rid, code), frames[0]
        raw.send({"v": 1, "op": "credit", "args": {"request": "nothing", "frames": "many"}})   # notice: no reply
        raw.send({"v": 1, "op": "hello", "id": "after", "args": {"versions": [1]}})
        header, _ = raw.recv()
        assert header["id"] == "after" and header["kind"] == "ok"
    finally:
        raw.close()
    assert shared.alive()


def test_bad_params_ranges_and_stream_frames_are_refused(shared, shot):
    with shared.connect() as conn:
        clip = conn.open(path=str(shot))
        for params in ({"strength": 7}, {"atlas_steps": "many"}, {"no_such_param": 1}, {"use_atlas": 1}):
            with pytest.raises(bridge.ParameterError):
                conn.call("render", {"clip": clip.id, "params": params})
        for start, stop in ((5, 5), (-1, 3), (0, 99)):
            with pytest.raises(bridge.ParameterError):
                conn.call("render", {"clip": clip.id, "start": start, "stop": stop})
        stream = conn.call("open", {"source": {"stream": {"height": 8, "width": 8, "channels": 3, "dtype": "uint8",
                                                          "count": 2}}})[0]["clip"]
        wrong = np.zeros((8, 8, 4), np.uint8)
        with pytest.raises(bridge.BadRequest, match="stream is"):
            conn.call("put", {"clip": stream, "start": 0}, frames=[wrong])
        with pytest.raises(bridge.BadRequest, match="in order"):
            conn.call("put", {"clip": stream, "start": 1}, frames=[np.zeros((8, 8, 3), np.uint8)])
        with pytest.raises(bridge.BadRequest, match="opened for 2"):
            conn.call("put", {"clip": stream, "start": 0}, frames=[np.zeros((8, 8, 3), np.uint8)] * 3)
    assert shared.alive()


def test_an_oversized_buffer_disconnects_only_its_sender(shared):
    raw = Raw(shared.address)
    try:
        raw.send({"v": 1, "op": "echo", "id": 1, "parts": [{"dtype": "uint8", "shape": [2 << 20]}]}, b"\0" * (2 << 20))
        assert not raw.sock.poll(1500), "an oversized part must not be answered"
    finally:
        raw.close()
    with shared.connect() as conn:
        assert conn.echo([np.ones((256, 256, 4), np.uint8)])[0].nbytes == 256 * 256 * 4


CLIENT = textwrap.dedent("""
    import sys, time
    import deflicker_bridge as bridge
    conn = bridge.Connection(sys.argv[1], timeout=30)
    clip = conn.open(path=sys.argv[2])
    for frame in clip.render(window=1, params={params!r}):
        print("FIRST", frame.index, flush=True)
        time.sleep(600)
""")


def test_a_client_killed_mid_job_is_freed_and_others_keep_being_served(shared, shot, tmp_path):
    script = tmp_path / "client.py"
    script.write_text(CLIENT.format(params=CHEAP))
    child = subprocess.Popen([sys.executable, str(script), shared.address, str(shot)], stdout=subprocess.PIPE,
                             cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), text=True)
    try:
        assert select.select([child.stdout], [], [], 60)[0], "the client got no frame within 60 s"
        assert child.stdout.readline().startswith("FIRST 0")
        with shared.connect() as conn:
            # another client's job is only a count in this client's status
            assert _wait_until(lambda: conn.status()["others"]["jobs"] == 1)
            child.send_signal(signal.SIGKILL)
            child.wait(10)
            other = conn.open(path=str(shot))
            assert [f.index for f in other.render(4, 8, params=CHEAP)] == [4, 5, 6, 7]
            assert _wait_until(lambda: conn.status()["others"]["jobs"] == 0 and conn.status()["others"]["clips"] == 0
                               and [c["clip"] for c in conn.status()["clips"]] == [other.id])
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)


def test_eight_concurrent_clients_each_get_their_own_frames_in_order(shared):
    results, errors = {}, []
    clips = {k: flicker(textured_scene(6, 32 + 8 * k, 48, seed=k), seed=k).astype(np.float32) for k in range(8)}

    def client(k):
        try:
            with shared.connect(timeout=60) as conn:
                clip = conn.open(frames=list(clips[k]))
                frames = clip.render(params=dict(CHEAP, strength=0.0), window=2)
                results[k] = [(f.index, f.array.copy()) for f in frames]
        except Exception as error:  # reported below
            errors.append((k, error))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert not errors and len(results) == 8
    for k, frames in results.items():
        assert [i for i, _ in frames] == list(range(6))
        assert all(f.shape == (32 + 8 * k, 48, 3) and f.dtype == np.float32 for _, f in frames)
        # strength 0 gives the input back: each client got exactly its own clip's frames
        assert all(np.allclose(f, clips[k][i], atol=2e-3) for i, f in frames)


def test_restarted_server_reuses_the_cache_and_a_killed_render_leaves_no_output(server_factory, tmp_path):
    shot = write_png_sequence(tmp_path / "shot", flicker(textured_scene(12, 64, 96, seed=4)))
    first = server_factory().start()
    with first.connect() as conn:
        assert conn.open(path=str(shot)).analyse(CHEAP)["cached"] == ""
    first.kill()
    second = server_factory(cache=first.cache).start()
    with second.connect() as conn:
        assert conn.open(path=str(shot)).analyse(CHEAP)["cached"] == "disk"
    second.kill()

    slow = server_factory(engine=FAKE_ENGINE, env={"FAKE_RENDER_DELAY": "0.3"}).start()
    output = tmp_path / "out" / "o_%04d.png"
    with slow.connect() as conn:
        clip = conn.open(path=str(shot))
        pending = conn.submit("render", {"clip": clip.id, "output": str(output)})
        for header, _ in conn.events(pending, timeout=30):
            if header["kind"] == "progress" and header["stage"] == "render" and header["done"] >= 2:
                slow.kill()
                break
    assert not slow.alive()
    assert not list(tmp_path.glob("out/o_*"))        # no frame was published (staging may remain hidden)
    third = server_factory(engine=FAKE_ENGINE, cache=slow.cache).start()
    with third.connect() as conn:
        assert conn.open(path=str(shot)).render_to(str(output))["frames"] == 12
    assert sorted(p.name for p in (tmp_path / "out").glob("o_*.png")) == [f"o_{i:04d}.png" for i in range(12)]


def test_a_render_resumes_on_a_restarted_server(server_factory, tmp_path):
    shot = write_png_sequence(tmp_path / "shot", flicker(textured_scene(10, 32, 48, seed=8)))
    first = server_factory(engine=FAKE_ENGINE, env={"FAKE_RENDER_DELAY": "0.05"}).start()
    got = []
    with first.connect(heartbeat_timeout=3.0) as conn:
        clip = conn.open(path=str(shot))
        for frame in clip.render(window=1):
            got.append(frame.index)
            if len(got) == 3:
                first.kill()
                server_factory(engine=FAKE_ENGINE, cache=first.cache, port=first.port).start()
        assert [c["clip"] for c in conn.status()["clips"]] == [clip.id]     # reopened on the new server
    assert got == list(range(10))


def test_a_network_bind_without_keys_is_refused(tmp_path):
    port = free_port()
    done = subprocess.run([sys.executable, "-m", "deflicker_server", "--bind", f"tcp://0.0.0.0:{port}", "--root", str(tmp_path),
                           "--cache-dir", str(tmp_path / "cache")], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "CurveZMQ" in done.stderr


def test_curve_admits_only_authorised_keys(server_factory, tmp_path):
    keys, stranger, clients = tmp_path / "keys", tmp_path / "stranger", tmp_path / "clients"
    for folder in (keys, stranger):
        subprocess.run([sys.executable, "-m", "deflicker_server", "--generate-keys", str(folder)], cwd=REPO, check=True,
                       capture_output=True, timeout=60)
    clients.mkdir()
    os.replace(keys / "client.key", clients / "client.key")
    good = bridge.CurveKeys.from_files(str(keys / "server.key"), str(keys / "client.key_secret"))
    bad = bridge.CurveKeys.from_files(str(keys / "server.key"), str(stranger / "client.key_secret"))
    server = server_factory(engine=FAKE_ENGINE, curve=good, extra=[
        "--require-curve", "--curve-secret", str(keys / "server.key_secret"), "--curve-clients", str(clients)]).start()
    assert not bridge.launcher.answers(server.address, 1.5, curve=bad)
    assert not bridge.launcher.answers(server.address, 1.5)
    with server.connect() as conn:
        assert conn.server["capabilities"]["curve"] is True
