"""The host-side job layer: handle ranges, progress, cancel and failures through a real server process."""
import sys
import time

import pytest

import deflicker_bridge as bridge
from deflicker_bridge.job import CANCELLED, DONE, FAILED, Job, overall_fraction, with_handles
from deflicker_engine.io import open_source
from tests.conftest import flicker, textured_scene
from tests.server.procs import CHEAP, free_port, module_server, write_png_sequence


# ----------------------------------------------------------------- ranges (pure)
def test_handles_are_clipped_to_the_media():
    r = with_handles(1010, 1020, 8, 1001, 1024)
    assert (r.head, r.tail, r.start, r.end, r.count) == (8, 4, 1002, 1024, 23)
    r = with_handles(1001, 1001, 5, 1001, 1001)
    assert (r.start, r.end, r.count) == (1001, 1001, 1)


@pytest.mark.parametrize("first,last,handles,message", [
    (990, 1005, 4, "run outside the source, which has frames 1001-1024"),
    (1020, 1030, 0, "run outside the source"),
    (1010, 1005, 0, "is empty"),
    (1010, 1012, -1, "handles must be 0 or more"),
])
def test_a_bad_range_is_refused_with_a_reason(first, last, handles, message):
    with pytest.raises(bridge.RangeError, match=message):
        with_handles(first, last, handles, 1001, 1024)


def test_a_source_with_no_frames_is_refused():
    with pytest.raises(bridge.RangeError, match="no frames"):
        with_handles(0, 0, 0, 0, -1)


def test_overall_fraction_grows_through_the_stages():
    points = [overall_fraction(stage, done, 10) for stage in ("survey", "finalise", "render") for done in (0, 5, 10)]
    assert points == sorted(points) and points[0] == 0.0 and points[-1] == pytest.approx(1.0)
    assert overall_fraction("finalise", 10, 10, analyse_only=True) == pytest.approx(1.0)
    assert overall_fraction("something-new", 3, 10) == 0.0


# ----------------------------------------------------------------- jobs (real server)
server = module_server("jobs")


def _connect(server):
    return lambda: server.connect(timeout=10.0)


def _wait(job, limit=120.0):
    status = job.wait(limit)
    assert status.finished, status
    return status


def test_a_job_renders_a_range_and_reports_progress(server):
    source = write_png_sequence(server.tmp / "job_src", flicker(textured_scene(10, 48, 64, seed=3)))
    output = server.tmp / "job_out" / "result.%04d.png"
    job = Job(str(source), str(output), start=2, stop=8, params=CHEAP, connect=_connect(server)).start()
    seen = []
    while not job.status().finished:
        seen.append(job.status().fraction)
        time.sleep(0.02)
    status = _wait(job)
    assert status.state == DONE, status.message
    assert status.fraction == 1.0 and status.result["frames"] == 6 and status.text() == "done"
    assert seen == sorted(seen)
    with open_source(str(output)) as src:
        assert src.info.count == 6


def test_a_cancelled_job_leaves_nothing(server):
    source = write_png_sequence(server.tmp / "cancel_src", flicker(textured_scene(40, 72, 96, seed=4)))
    output = server.tmp / "cancel_out.mp4"
    job = Job(str(source), str(output), params=dict(CHEAP, atlas_steps=400), connect=_connect(server)).start()
    while not job.status().stage:                  # until the analysis reports its first stage
        time.sleep(0.02)
    job.cancel()
    status = _wait(job, 30)
    assert status.state == CANCELLED and status.text() == "cancelled"
    assert not output.exists()


def test_a_job_cancelled_before_it_connects_never_opens(server):
    calls = []
    job = Job("/nowhere", "/nowhere.mp4", connect=lambda: calls.append(1) or server.connect())
    job.cancel()
    assert _wait(job.start()).state == CANCELLED


def test_failures_become_a_message_not_an_exception(server):
    status = _wait(Job(str(server.tmp / "missing"), str(server.tmp / "x.mp4"), connect=_connect(server)).start())
    assert status.state == FAILED and "missing" in status.message and status.error == "input"
    status = _wait(Job("/x", "/y.mp4", connect=lambda: 1 / 0).start())
    assert status.state == FAILED and "ZeroDivisionError" in status.message


def test_no_server_is_a_failed_job_with_a_hint(tmp_path):
    def connect():
        conn = bridge.Connection("tcp://127.0.0.1:9", timeout=0.5, retries=0)
        conn.connect()
        return conn
    status = _wait(Job("/a", "/b.mp4", connect=connect).start(), 30)
    assert status.state == FAILED and "no deflicker server answers" in status.message
    assert status.error == "ServerUnavailable"


def test_describe_effect_remembers_the_knobs(server, tmp_path):
    cache = tmp_path / "knobs" / "effect.json"
    effect = bridge.describe_effect(server.address, str(cache))
    assert "strength" in effect.names() and cache.is_file()
    again = bridge.describe_effect("tcp://127.0.0.1:9", str(cache), start=False, timeout=0.3)
    assert again.names() == effect.names()
    with pytest.raises(bridge.ServerUnavailable):
        bridge.describe_effect("tcp://127.0.0.1:9", str(tmp_path / "none.json"), start=False, timeout=0.3)


def test_a_connector_that_may_not_start_a_server_says_so_in_the_hosts_words(server):
    dead = "tcp://127.0.0.1:9"
    with pytest.raises(bridge.ServerUnavailable, match="deflicker serve --bind tcp://127.0.0.1:9"):
        bridge.connector(dead, start=False)()
    with pytest.raises(bridge.ServerUnavailable, match="^tick the box at tcp://127.0.0.1:9$"):
        bridge.connector(dead, start=False, no_server="tick the box at {}".format)()
    conn = bridge.connector(server.address, start=False)()
    try:
        assert conn.server["instance"]
    finally:
        conn.close()


def test_a_connector_words_a_failed_start(tmp_path, monkeypatch):
    monkeypatch.setenv("DEFLICKER_SERVER_COMMAND", '{} -c "raise SystemExit(3)"'.format(sys.executable))
    address = "tcp://127.0.0.1:{}".format(free_port())
    with pytest.raises(bridge.ServerUnavailable, match="^could not start at .* exited with code 3"):
        bridge.connector(address, start_failed=lambda a, reason: "could not start at {}: {}".format(a, reason))()


def test_a_long_job_says_how_long_it_has_left_once_it_can_tell():
    from deflicker_bridge.job import Job, estimate_left, time_left

    assert estimate_left(1.0, 0.5) is None and estimate_left(100.0, 0.01) is None   # too early to say
    assert estimate_left(60.0, 0.25) == pytest.approx(180.0)
    assert [time_left(s) for s in (30, 180, 7200)] == ["under a minute left", "about 3 min left", "about 2.0 h left"]
    now = [0.0]
    job = Job("/clips/a.mov", "/out/a.mov", clock=lambda: now[0])
    job._progress("survey", 0, 3000)
    assert job.status().eta is None and job.status().text() == "survey 0/3000"
    now[0] = 600.0                                  # ten minutes in, the survey two thirds done
    job._progress("survey", 2000, 3000)
    status = job.status()
    assert status.fraction == pytest.approx(0.3) and status.eta == pytest.approx(1400.0)
    assert status.text() == "survey 2000/3000, about 23 min left"
