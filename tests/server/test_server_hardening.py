"""The server holds against its own clients (issue 10): each hole an independent client found, reproduced
against a real server process. Most run the fake engine (the holes are the server's, not the engine's)."""
import json
import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import cv2
import msgpack
import numpy as np
import pytest
import zmq

import deflicker_bridge as bridge
from deflicker_engine.errors import ParameterError
from deflicker_server.config import ServerConfig
from tests.conftest import flicker, textured_scene
from tests.server.procs import FAKE_ENGINE, REPO, RawClient, ServerProcess, wait_until, write_png_sequence

NON_FINITE = [float("nan"), float("inf"), float("-inf")]


_wait_until = partial(wait_until, timeout=10.0)


def _stored_pngs(folder: Path, frames: np.ndarray) -> Path:
    """PNGs without compression: their file size depends on the picture's size only, so two different
    pictures can share size (and, set by hand, mtime), as an attacker's swap would."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        image = cv2.cvtColor((np.clip(frame, 0, 1) * 255).round().astype(np.uint8), cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(folder / f"f_{i:04d}.png"), image, [cv2.IMWRITE_PNG_COMPRESSION, 0])
    return folder


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    """One fake-engine server for the tests that do not need special settings."""
    tmp = tmp_path_factory.mktemp("fake")
    server = ServerProcess(tmp, engine=FAKE_ENGINE).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def shot(fake):
    return write_png_sequence(fake.tmp / "shot", flicker(textured_scene(12, 32, 48, seed=5)))


@pytest.fixture
def local_shot(tmp_path):
    """A clip inside the roots of the servers a test starts itself."""
    return write_png_sequence(tmp_path / "shot", flicker(textured_scene(12, 32, 48, seed=5)))


# ------------------------------------------------------------------------------------------ ownership
def test_clips_belong_to_the_session_that_opened_them(fake, shot, tmp_path):
    with fake.connect() as owner, fake.connect() as other:
        clip = owner.open(path=str(shot))
        assert clip.analyse()["cached"] in ("", "memory", "disk")
        attempts = [("analyse", {"clip": clip.id}), ("render", {"clip": clip.id}),
                    ("render", {"clip": clip.id, "output": str(fake.tmp / "stolen" / "s_%04d.png")}),
                    ("put", {"clip": clip.id, "start": 0}), ("close", {"clip": clip.id})]
        for op, args in attempts:
            with pytest.raises(bridge.NotFound) as caught:
                other.call(op, args)
            assert caught.value.code == "unknown-clip", op
        seen = other.status()
        assert seen["clips"] == [] and seen["others"]["clips"] >= 1 and seen["others"]["sessions"] >= 1
        assert str(shot) not in json.dumps(seen)                  # no path, label or cache source of another
        assert [c["clip"] for c in owner.status()["clips"]] == [clip.id]
        assert [f.index for f in clip.render(0, 2)] == [0, 1]     # the owner's clip still works
        assert not (fake.tmp / "stolen").exists()


# ------------------------------------------------------------------------------------------ numbers
@pytest.mark.parametrize("value", NON_FINITE, ids=["nan", "inf", "-inf"])
def test_non_finite_numbers_are_refused_on_the_wire(fake, shot, value):
    with fake.connect() as conn:
        clip = conn.open(path=str(shot))
        for name in ("strength", "consolidation", "slow_changes", "cut_threshold", "working_size", "atlas_steps"):
            for op in ("analyse", "render"):
                with pytest.raises(bridge.ParameterError, match="finite|must be"):
                    conn.call(op, {"clip": clip.id, "params": {name: value}})
        stream = {"height": 4, "width": 4, "channels": 3, "dtype": "uint8", "count": 1, "fps": value}
        with pytest.raises(bridge.ParameterError, match="fps"):
            conn.call("open", {"source": {"stream": stream}})
        with pytest.raises(bridge.ParameterError, match="fps"):
            conn.open(frames=[np.zeros((4, 4, 3), np.uint8)], fps=value)
        for op, args in (("render", {"clip": clip.id, "window": value}), ("render", {"clip": clip.id, "start": value}),
                         ("echo", {"repeat": value})):
            with pytest.raises(bridge.BadRequest):
                conn.call(op, args)
        assert conn.status()["jobs"] == [] and conn.status()["clips"][0]["clip"] == clip.id


@pytest.mark.parametrize("option", ["--client-timeout", "--idle-exit", "--max-frame-mb", "--credit-timeout",
                                    "--probe-timeout", "--disk-budget"])
def test_serve_refuses_non_finite_options(tmp_path, option):
    done = subprocess.run([sys.executable, "-m", "deflicker_server", "--root", str(tmp_path), "--cache-dir",
                           str(tmp_path / "cache"), "--engine", FAKE_ENGINE, option, "nan"], cwd=REPO,
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 1 and option in done.stderr and "finite" in done.stderr


@pytest.mark.parametrize("field", ["client_timeout", "heartbeat_interval", "credit_timeout", "probe_timeout",
                                   "memory_budget_mb", "disk_budget_mb", "idle_exit"])
def test_a_server_config_built_in_python_refuses_non_finite_numbers(tmp_path, field):
    for value in NON_FINITE:
        with pytest.raises(ParameterError, match="finite"):
            ServerConfig(cache_dir=tmp_path, **{field: value})


# ------------------------------------------------------------------------------------------ roots at every read
@pytest.fixture
def swap_setup(server_factory, tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    clean = textured_scene(6, 24, 32, seed=2)
    _stored_pngs(root / "shot", flicker(clean, seed=3))
    _stored_pngs(outside, 1.0 - clean)                               # the secret: other pixels, same sizes
    server = server_factory(engine=FAKE_ENGINE, roots=[root]).start()
    return server, root, outside


def _same_stat(target: Path, source: Path) -> None:
    st = source.stat()
    assert target.stat().st_size == st.st_size
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


def _leaked(frame: np.ndarray, secret: Path) -> bool:
    pixels = cv2.cvtColor(cv2.imread(str(secret)), cv2.COLOR_BGR2RGB)
    return np.array_equal(frame, pixels)


def test_a_frame_swapped_for_a_link_after_open_is_not_read(swap_setup):
    server, root, outside = swap_setup
    with server.connect() as conn:
        clip = conn.open(path=str(root / "shot"))
        clip.analyse()
        target, secret = root / "shot" / "f_0003.png", outside / "f_0003.png"
        _same_stat(secret, target)
        target.unlink()
        os.symlink(secret, target)                      # same size and mtime as the file it replaced
        frame = None
        with pytest.raises((bridge.Forbidden, bridge.InputError)):
            frame = clip.frame(3, params={"strength": 0.0}, numpy=True)
        assert frame is None or not _leaked(frame, secret)
        with pytest.raises(bridge.Forbidden):
            conn.open(path=str(root / "shot"))          # and a new open refuses it too


def test_a_folder_swapped_for_a_link_after_open_is_not_read(swap_setup):
    server, root, outside = swap_setup
    with server.connect() as conn:
        clip = conn.open(path=str(root / "shot"))
        clip.analyse()
        for name in os.listdir(outside):
            _same_stat(outside / name, root / "shot" / name)
        os.rename(root / "shot", root / "moved")
        os.symlink(outside, root / "shot")
        frames = []
        with pytest.raises((bridge.Forbidden, bridge.InputError)):
            frames = list(clip.render(params={"strength": 0.0}, numpy=True))
        assert not any(_leaked(f, outside / f"f_{i:04d}.png") for i, f in enumerate(frames))


# ------------------------------------------------------------------------------------------ FIFOs, bounded probes
def _release_fifos(*fifos):
    """Open each FIFO for writing and close it: a reader blocked on it (the bug) gets EOF and returns."""
    for fifo in fifos:
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass


def test_fifos_are_refused_before_they_are_opened(server_factory, tmp_path):
    seq = write_png_sequence(tmp_path / "seq", textured_scene(3, 16, 16))
    fifo_video, fifo_frame = tmp_path / "clip.mp4", seq / "f_0003.png"
    os.mkfifo(fifo_video)
    os.mkfifo(fifo_frame)
    server = server_factory(engine=FAKE_ENGINE).start()
    try:
        with server.connect(retries=0, timeout=6.0) as conn:
            sources = [{"path": str(fifo_video)}, {"path": str(seq / "f_%04d.png")},
                       {"paths": [str(seq / "f_0000.png"), str(fifo_frame)]}]
            for _ in range(2):                          # more than the probe pool has threads
                for source in sources:
                    started = time.monotonic()
                    with pytest.raises(bridge.InputError, match="FIFO"):
                        conn.call("open", {"source": source})
                    assert time.monotonic() - started < 3
            os.unlink(fifo_frame)
            assert conn.open(path=str(seq)).info["count"] == 3
    finally:
        _release_fifos(fifo_video, fifo_frame)


def test_a_stuck_open_times_out_and_others_are_still_served(server_factory, tmp_path):
    shot = write_png_sequence(tmp_path / "shot", textured_scene(3, 16, 16))
    files = [str(p) for p in sorted(shot.iterdir())]
    server = server_factory(engine=FAKE_ENGINE, env={"FAKE_OPEN_DELAY": "5"},
                            extra=["--probe-timeout", "0.5"]).start()
    with server.connect(retries=0, timeout=20) as stuck, server.connect(retries=0, timeout=20) as other:
        pending = [stuck.submit("open", {"source": {"path": str(shot)}}) for _ in range(4)]
        started = time.monotonic()
        assert other.open(paths=files).info["count"] == 3       # file lists do not probe: not delayed
        assert time.monotonic() - started < 3.5
        for p in pending:
            with pytest.raises(bridge.InputError, match="no progress"):
                stuck.wait(p, 10)
        assert other.status()["probes_stuck"] >= 1


# ------------------------------------------------------------------------------------------ orphaned renders
def test_a_render_whose_client_stops_reading_is_cancelled(server_factory, local_shot):
    server = server_factory(engine=FAKE_ENGINE, client_timeout=30, extra=["--credit-timeout", "1"]).start()
    raw = RawClient(server.address, session="reader")
    try:
        opened, _ = raw.call({"v": 1, "op": "open", "id": 1, "args": {"source": {"path": str(local_shot)}}})
        clip = opened["result"]["clip"]
        raw.send({"v": 1, "op": "render", "id": 2, "args": {"clip": clip, "window": 1}})
        header = {}
        while header.get("kind") != "frame":                      # the analysis' progress comes first
            header, _ = raw.recv(beat=True)
        assert (header["id"], header["index"]) == (2, 0)
        started = time.monotonic()
        final, _ = raw.recv(timeout=8, beat=True)                 # no credit sent, heartbeats kept going
        assert (final["id"], final["kind"], final["error"]["code"]) == (2, "error", "cancelled")
        assert "credit" in final["error"]["message"] and "by the client" not in final["error"]["message"]
        assert time.monotonic() - started < 5
        status, _ = raw.call({"v": 1, "op": "status", "id": 3})
        assert status["result"]["jobs"] == []
    finally:
        raw.close()


# ------------------------------------------------------------------------------------------ damaged cache
def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    else:                                                        # one bit in the array data (after the header)
        data[len(data) - 1 - len(data) // 8] ^= 0x10
        path.write_bytes(bytes(data))


def test_a_damaged_cache_entry_is_removed_logged_and_recomputed(server_factory, local_shot):
    """A chunk is checked (size, CRC) whenever it is read: a render that meets a damaged one gets its frames
    all the same (the analysis is computed again); a bad meta.json is found when the entry is opened."""
    server = server_factory(engine=FAKE_ENGINE, extra=["--memory-budget", "0"]).start()   # one chunk resident
    with server.connect() as conn:
        clip = conn.open(path=str(local_shot))
        key = clip.analyse()["key"]
        folder = server.cache / "analyses" / key
        wanted = [f.array.copy() for f in clip.render()]
        for chunk, how in ((0, "truncate"), (1, "flip")):
            _damage(folder / f"chunk_{chunk:06d}.npy", how)
            got = [f.array.copy() for f in clip.render()]
            assert len(got) == len(wanted) and all(np.array_equal(g, w) for g, w in zip(got, wanted)), how
            assert clip.analyse()["cached"] == "memory"                        # stored again, whole
        assert conn.status()["memory"]["hits"]["damaged"] == 2
    server.kill()
    (folder / "meta.json").write_text('{"complete": tr')
    again = server_factory(engine=FAKE_ENGINE, cache=server.cache).start()
    with again.connect() as conn:
        clip = conn.open(path=str(local_shot))
        assert (clip.analyse()["cached"], clip.analyse()["cached"]) == ("", "memory")   # a miss, computed again
        assert conn.status()["memory"]["hits"]["damaged"] == 1
    assert server.stderr().count("is damaged") == 2 and again.stderr().count("is damaged") == 1


# ------------------------------------------------------------------------------------------ ids, paths, shutdown
def test_duplicate_ids_are_refused_for_every_kind_of_request(server_factory, tmp_path):
    shot = write_png_sequence(tmp_path / "shot", textured_scene(3, 16, 16))
    server = server_factory(engine=FAKE_ENGINE, env={"FAKE_OPEN_DELAY": "1.5"}).start()
    raw = RawClient(server.address, session="dup")
    try:
        raw.send({"v": 1, "op": "open", "id": "x", "args": {"source": {"path": str(shot)}}})    # in flight 1.5 s
        stream = {"height": 2, "width": 2, "channels": 3, "dtype": "uint8", "count": 1}
        for header in ({"op": "status"}, {"op": "describe"}, {"op": "hello", "args": {"versions": [1]}},
                       {"op": "echo"}, {"op": "open", "args": {"source": {"stream": stream}}},
                       {"op": "close", "args": {"clip": "clip-none"}}, {"op": "cancel", "args": {"request": "y"}},
                       {"op": "analyse", "args": {"clip": "clip-none"}}):
            reply, _ = raw.call(dict(header, v=1, id="x"), timeout=1.0)
            assert reply["error"]["code"] == "duplicate-id", header["op"]
        reply, _ = raw.call({"v": 1, "op": "status", "id": "other"})
        assert reply["kind"] == "ok"
        opened = None
        while opened is None:                                    # the open's own final reply, still id "x"
            header, _ = raw.recv(timeout=10)
            if header["id"] == "x" and header["kind"] == "ok":
                opened = header
        reply, _ = raw.call({"v": 1, "op": "status", "id": "x"})  # free again once answered
        assert reply["kind"] == "ok"
    finally:
        raw.close()


def test_an_overlong_path_is_a_clear_error(fake, shot):
    raw = RawClient(fake.address)
    try:
        long_path = str(fake.tmp / ("a" * 6000) / "clip.mp4")
        long_name = str(fake.tmp / ("b" * 300 + ".mp4"))
        for source in ({"path": long_path}, {"path": long_name}, {"paths": [long_path]}):
            reply, _ = raw.call({"v": 1, "op": "open", "id": 1, "args": {"source": source}})
            assert reply["error"]["code"] == "bad-request" and "bytes" in reply["error"]["message"]
        opened, _ = raw.call({"v": 1, "op": "open", "id": 2, "args": {"source": {"path": str(shot)}}})
        clip = opened["result"]["clip"]
        reply, _ = raw.call({"v": 1, "op": "render", "id": 3, "args": {"clip": clip, "output": long_path}})
        assert reply["error"]["code"] == "bad-request"
    finally:
        raw.close()


def test_a_render_cancelled_by_shutdown_says_so(server_factory, local_shot, tmp_path):
    server = server_factory(engine=FAKE_ENGINE, env={"FAKE_RENDER_DELAY": "0.3"}).start()
    with server.connect() as conn:
        clip = conn.open(path=str(local_shot))
        pending = conn.submit("render", {"clip": clip.id, "output": str(tmp_path / "out" / "o_%04d.png")})
        assert _wait_until(lambda: conn.status()["jobs"][0]["stage"] == "render")
        with server.connect() as admin:
            admin.shutdown()
        with pytest.raises(bridge.Cancelled) as caught:
            conn.wait(pending, 15)
    assert "shutting down" in str(caught.value) and "by the client" not in str(caught.value)


# ------------------------------------------------------------------------------------------ fairness
def test_cached_renders_go_ahead_while_another_clients_analysis_runs(server_factory, tmp_path):
    short = write_png_sequence(tmp_path / "short", textured_scene(3, 24, 32, seed=1))
    long = write_png_sequence(tmp_path / "long", textured_scene(20, 24, 32, seed=2))
    server = server_factory(engine=FAKE_ENGINE, env={"FAKE_ANALYSE_DELAY": "0.4"}).start()   # long: 8 s
    with server.connect() as artist, server.connect() as other:
        clip = artist.open(path=str(short))
        clip.analyse()
        big = other.open(path=str(long))
        pending = other.submit("analyse", {"clip": big.id})
        assert _wait_until(lambda: other.status()["jobs"][0]["done"] >= 1)
        started = time.monotonic()
        assert [f.index for f in clip.render()] == [0, 1, 2]
        assert clip.render_to(str(tmp_path / "out.%04d.png"))["frames"] == 3
        assert time.monotonic() - started < 3.0
        assert other.status()["jobs"][0]["state"] == "running"          # the analysis is still going
        other.cancel(pending)


# ------------------------------------------------------------------------------------------ disk budget
def test_the_disk_cache_keeps_to_its_budget_least_recently_used_first(server_factory, local_shot, tmp_path):
    probe = server_factory(engine=FAKE_ENGINE, cache=tmp_path / "probe-cache").start()
    with probe.connect() as conn:
        one = conn.open(path=str(local_shot)).analyse()["key"]
    size = sum(p.stat().st_size for p in (probe.cache / "analyses" / one).iterdir())
    probe.stop()
    budget_mb = 2.5 * size / (1 << 20)                            # room for two entries
    server = server_factory(engine=FAKE_ENGINE, extra=["--memory-budget", "0", "--disk-budget", f"{budget_mb:.9f}"])
    server.start()
    with server.connect() as conn:
        clip = conn.open(path=str(local_shot))
        keys = {seed: clip.analyse({"seed": seed})["key"] for seed in (1, 2, 3)}
        on_disk = lambda: sorted(p.name for p in (server.cache / "analyses").iterdir())   # noqa: E731
        assert on_disk() == sorted([keys[2], keys[3]])            # the oldest went, its folder whole
        assert clip.analyse({"seed": 2})["cached"] == "memory"    # 2 is now the most recently used
        keys[4] = clip.analyse({"seed": 4})["key"]
        assert on_disk() == sorted([keys[2], keys[4]])
        memory = conn.status()["memory"]
        assert memory["disk_entries"] == 2 and memory["disk_bytes"] <= memory["disk_budget"]
        assert memory["hits"]["evicted_from_disk"] == 2 and memory["disk_chunks"] == 2 * 3


# ------------------------------------------------------------------------------------------ the spec
PROTOCOL = (REPO / "docs" / "protocol.md").read_text()


def test_the_documented_heartbeat_is_answered(fake):
    line = next(line for line in PROTOCOL.splitlines() if '"op": "heartbeat"' in line)
    example = line[line.index("{"):line.index("}") + 1]
    header = json.loads(example.replace("nil", "null").replace(": S", ': "doc-session"'))
    raw = RawClient(fake.address)
    try:
        raw.send(header)
        reply, _ = raw.recv()
        assert reply["kind"] == "heartbeat" and reply["id"] is None
    finally:
        raw.close()


def test_the_documented_limits_are_the_servers(fake):
    with fake.connect() as conn:
        limits = conn.server["limits"]
    for key in limits:
        assert f"`{key}`" in PROTOCOL, key


# ------------------------------------------------------------------------------------------ floods
@pytest.mark.slow
def test_a_client_flooding_the_server_does_not_abort_it(server_factory, tmp_path):
    """Found by benchmarks/fuzz_server.py: with ZMTP heartbeats on its socket, libzmq 4.3 aborted the whole
    server (assertion !_io_error, zeromq/libzmq#3937) once a client had flooded it for a while."""
    server = server_factory(engine=FAKE_ENGINE).start()
    context = zmq.Context()
    socks = []
    for _ in range(16):
        sock = context.socket(zmq.DEALER)
        sock.linger = 0
        sock.connect(server.address)
        socks.append(sock)
    junk = [msgpack.packb({"v": 1, "op": "status", "id": None})]
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and server.alive():
            for sock in socks:
                try:
                    sock.send_multipart(junk, zmq.NOBLOCK)
                except zmq.Again:
                    pass
    finally:
        for sock in socks:
            sock.close(0)
        context.term()
    assert server.alive(), server.stderr()[-300:]
    with server.connect() as conn:
        assert conn.status()["jobs"] == []
