"""The server core end to end, in-process on the fake engine: clips, cache, jobs, credit, cancel."""
import os
import threading
import time
from functools import partial

import msgpack
import numpy as np
import pytest
import zmq

import deflicker_bridge as bridge
from tests.conftest import flicker, textured_scene
from tests.server.procs import wait_until, write_png_sequence


@pytest.fixture
def shot(tmp_path):
    return write_png_sequence(tmp_path / "shot", flicker(textured_scene(12, 48, 64, seed=3)))


_wait_until = partial(wait_until, timeout=10.0)


def test_hello_and_describe_follow_the_engine_schema(inprocess):
    srv = inprocess()
    with bridge.Connection(srv.address) as conn:
        assert conn.server["version"] == 1 and conn.server["device"] == "fake-cpu"
        assert conn.server["limits"]["max_part_bytes"] >= 7680 * 4320 * 16
        effect = conn.describe()
    names = {p.name: p for p in effect.params}
    assert names["strength"].group == "render" and names["strength"].type == "double"
    assert names["atlas_steps"].group == "analysis" and names["atlas_steps"].min == 0
    assert [c["name"] for c in effect.clips] == ["Source", "Output"]
    assert effect.temporal["frames_needed"] == "clip"


def test_second_analysis_and_any_frame_come_from_the_cache(inprocess, shot):
    srv = inprocess()
    with bridge.Connection(srv.address) as conn:
        clip = conn.open(path=str(shot / "f_%04d.png"))
        assert (clip.start, clip.stop, clip.info["width"], clip.info["height"]) == (0, 12, 64, 48)
        stages = []
        first = clip.analyse(progress=lambda stage, done, total: stages.append((stage, done, total)))
        assert first["cached"] == "" and stages[-1] == ("finalise", 12, 12)
        assert {s for s, _, _ in stages} == {"survey", "finalise"}          # the engine's stage names, passed on
        assert clip.analyse()["cached"] == "memory"
        frame = clip.frame(7, numpy=True)
        assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
    assert srv.engine.analyses == 1


def test_streamed_render_is_in_order_and_uses_this_clips_analysis(inprocess, shot):
    srv = inprocess()
    with bridge.Connection(srv.address) as conn:
        clip = conn.open(path=str(shot))
        frames = list(clip.render(3, 9, params={"strength": 1.0}, window=2))
        assert [f.index for f in frames] == list(range(3, 9))
        means = [f.array.reshape(-1, 3).mean(0) for f in frames]
        raw = [np.asarray(f, np.float32).reshape(-1, 3).mean(0) * 255
               for f in flicker(textured_scene(12, 48, 64, seed=3))[3:9]]
    # the fake render pulls each frame's mean colour to the clip's mean: flicker between frames shrinks
    assert np.std(means, axis=0).max() < 0.3 * np.std(raw, axis=0).max()


def test_streamed_clip_round_trips_float_rgba(inprocess):
    srv = inprocess()
    rng = np.random.default_rng(0)
    frames = [rng.random((16, 24, 4)).astype(np.float32) for _ in range(5)]
    with bridge.Connection(srv.address) as conn:
        clip = conn.open(frames=frames)
        assert clip.info["ready"] and clip.info["count"] == 5 and clip.info["encoding"] == "linear"
        out = list(clip.render(params={"strength": 0.0}, numpy=True))
    assert len(out) == 5 and all(o.dtype == np.float32 and o.shape == (16, 24, 4) for o in out)
    assert all(np.allclose(o, f, atol=1e-6) for o, f in zip(out, frames))


def test_render_to_path_is_atomic_and_cancel_leaves_nothing(inprocess, shot, tmp_path, monkeypatch):
    srv = inprocess()
    with bridge.Connection(srv.address) as conn:
        clip = conn.open(path=str(shot))
        result = clip.render_to(str(tmp_path / "out" / "o_%04d.png"), 2, 6)
        assert result["frames"] == 4
        assert sorted(os.listdir(tmp_path / "out")) == [f"o_{i:04d}.png" for i in range(2, 6)]
        srv.engine.render_delay = 0.3
        pending = conn.submit("render", {"clip": clip.id, "output": str(tmp_path / "cut" / "c_%04d.png")})
        assert _wait_until(lambda: any(j["stage"] == "render" and j["done"] >= 1 for j in conn.status()["jobs"]))
        assert conn.cancel(pending)
    assert _wait_until(lambda: not srv.server.queue.all())
    assert not (tmp_path / "cut").exists() or not any(p.name.startswith("c_") for p in (tmp_path / "cut").iterdir())


def test_cancel_takes_effect_while_a_render_waits_for_credit(inprocess, shot):
    srv = inprocess()
    with bridge.Connection(srv.address) as conn:
        clip = conn.open(path=str(shot))
        pending = conn.submit("render", {"clip": clip.id, "window": 1})
        header, _ = next(h for h in conn.events(pending, timeout=10) if h[0]["kind"] == "frame")
        assert header["index"] == 0
        assert _wait_until(lambda: conn.status()["jobs"][0]["waiting_for_client"])
        cancel = conn.submit("cancel", {"request": pending.rid})
        assert conn.wait(cancel, 5)[0]["cancelled"]
        with pytest.raises(bridge.Cancelled):
            for _ in conn.events(pending, timeout=10):
                pass
        assert conn.status()["jobs"] == []


def test_breaking_out_of_a_render_cancels_it_on_the_server(inprocess, shot):
    srv = inprocess()
    with bridge.Connection(srv.address) as conn:
        clip = conn.open(path=str(shot))
        for frame in clip.render(window=1):
            break
        assert _wait_until(lambda: conn.status()["jobs"] == [])


def test_a_silent_session_loses_its_jobs_and_clips(inprocess, shot):
    srv = inprocess(client_timeout=1.0)
    ctx = zmq.Context.instance()
    raw = ctx.socket(zmq.DEALER)
    raw.linger = 0
    raw.connect(srv.address)
    try:
        raw.send(msgpack.packb({"v": 1, "op": "open", "id": 1, "session": "quiet",
                                "args": {"source": {"path": str(shot)}}}))
        assert raw.poll(10000)
        clip = msgpack.unpackb(raw.recv())["result"]["clip"]
        raw.send(msgpack.packb({"v": 1, "op": "render", "id": 2, "session": "quiet",
                                "args": {"clip": clip, "window": 1}}))
        assert _wait_until(lambda: srv.server.queue.all() and srv.server.queue.all()[0].waiting)
        assert _wait_until(lambda: not srv.server.queue.all() and len(srv.server.clips) == 0)
    finally:
        raw.close(0)


def test_paths_outside_the_roots_and_relative_paths_are_refused(inprocess, tmp_path):
    srv = inprocess(roots=(tmp_path / "allowed",))
    (tmp_path / "allowed").mkdir()
    outside = write_png_sequence(tmp_path / "outside", textured_scene(3, 16, 16))
    os.symlink(outside, tmp_path / "allowed" / "link")
    with bridge.Connection(srv.address) as conn:
        for path in (str(outside), str(tmp_path / "allowed" / "link"), str(tmp_path / "allowed" / ".." / "outside")):
            with pytest.raises(bridge.Forbidden):
                conn.open(path=path)
        with pytest.raises(bridge.BadRequest, match="absolute"):
            conn.open(path="relative/shot")


def test_unknown_ids_duplicates_and_not_ready_streams_are_errors(inprocess, shot):
    srv = inprocess()
    with bridge.Connection(srv.address) as conn:
        with pytest.raises(bridge.NotFound):
            conn.call("analyse", {"clip": "clip-nope"})
        with pytest.raises(bridge.NotFound):
            conn.call("cancel", {"request": 12345})
        clip = conn.open(path=str(shot))
        srv.engine.analyse_delay = 0.2
        first = conn.submit("analyse", {"clip": clip.id})
        conn._ids = iter([first.rid])  # the next request reuses the id of the one in flight
        with pytest.raises(bridge.BadRequest, match="already in flight"):
            conn.call("analyse", {"clip": clip.id})
        conn._ids = iter(range(1000, 2000))
        srv.engine.analyse_delay = 0.0
        stream = conn.call("open", {"source": {"stream": {"height": 4, "width": 4, "channels": 3, "dtype": "uint8",
                                                          "count": 2}}})[0]
        with pytest.raises(bridge.BadRequest, match="not complete"):
            conn.call("render", {"clip": stream["clip"]})


def test_a_changed_source_is_refused_until_reopened(inprocess, shot):
    srv = inprocess()
    with bridge.Connection(srv.address) as conn:
        clip = conn.open(path=str(shot))
        target = shot / "f_0003.png"
        os.utime(target, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
        with pytest.raises(bridge.InputError, match="changed on disk"):
            clip.analyse()


def test_a_zero_memory_budget_still_renders_and_a_restart_reads_the_disk(inprocess, shot, tmp_path):
    srv = inprocess(memory_budget_mb=0)
    with bridge.Connection(srv.address) as conn:
        clip = conn.open(path=str(shot))
        assert clip.analyse()["cached"] == ""
        assert clip.analyse()["cached"] == "memory"        # open: its metadata, no chunk read yet
        assert [f.index for f in clip.render()] == list(range(12))
        memory = conn.status()["memory"]
        assert memory["disk_entries"] == 1 and memory["disk_chunks"] == 3 and memory["chunks"] == 1   # one at a time
    srv.stop()
    again = inprocess()
    with bridge.Connection(again.address) as conn:
        assert conn.open(path=str(shot)).analyse()["cached"] == "disk"
    assert again.engine.analyses == 0


def test_echo_returns_the_same_bytes(inprocess):
    srv = inprocess()
    data = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4)
    with bridge.Connection(srv.address) as conn:
        back = conn.echo([data, np.zeros((1, 1, 3), np.float32)])
    assert back[0].shape == (2, 3, 4) and back[0].dtype == "uint16" and back[0].tobytes() == data.tobytes()
    assert back[1].dtype == "float32"


def test_a_file_list_with_a_range_and_encoding_renders_source_positions(inprocess, shot):
    srv = inprocess()
    files = sorted(str(p) for p in shot.iterdir())
    with bridge.Connection(srv.address) as conn:
        clip = conn.open(paths=files[:8], start=2, stop=7, encoding="linear")
        assert (clip.start, clip.stop, clip.info["encoding"], clip.info["count"]) == (2, 7, "linear", 8)
        assert [f.index for f in clip.render(3, 6)] == [3, 4, 5]
        with pytest.raises(bridge.BridgeError, match="outside"):
            list(clip.render(0, 3))
        with pytest.raises(bridge.ParameterError):
            conn.open(path=str(shot), start=5, stop=50)
        with pytest.raises(bridge.ParameterError):
            conn.open(path=str(shot), encoding="rec709")
        clip.close()
        with pytest.raises(bridge.NotFound):
            conn.call("analyse", {"clip": clip.id})


def test_shutdown_cancels_jobs_and_stops_the_server(inprocess, shot):
    srv = inprocess()
    srv.engine.analyse_delay = 0.5
    with bridge.Connection(srv.address) as conn:
        clip = conn.open(path=str(shot))
        pending = conn.submit("analyse", {"clip": clip.id})
        assert _wait_until(lambda: conn.status()["running"] == pending.rid)
        assert conn.shutdown() == {"stopping": True}
        with pytest.raises(bridge.Cancelled):
            conn.wait(pending, timeout=10)
    srv.thread.join(15)
    assert not srv.thread.is_alive()


def test_finished_uploads_leave_no_threads_behind(inprocess):
    srv = inprocess()
    with bridge.Connection(srv.address) as conn:
        for k in range(12):
            clip = conn.open(frames=[np.full((8, 8, 3), k, np.uint8)] * 2)
            clip.close()
        assert _wait_until(lambda: srv.server.outbox.waiting() == 0)
        assert _wait_until(lambda: not any(t.name.startswith("ingest-") for t in threading.enumerate()))
