"""The script end to end: the Resolve stand-in, a real server with the real engine, real files."""
import os
import time

import numpy as np
import pytest

from deflicker_engine.io import open_source
from deflicker_resolve import logic, run as runs
from tests.conftest import temporal_error
from tests.server.procs import CHEAP, free_port

from .conftest import START, movie_media, png_media, timeline_with


def options(server, **changes):
    values = dict(mode="current", handles=4, params=CHEAP, address=server.address, auto_start=False)
    values.update(changes)
    return runs.Options(**values)


def finish(run, timeout=120.0):
    status = run.start()
    deadline = time.monotonic() + timeout
    while not status.finished:
        assert time.monotonic() < deadline, "the run did not finish: {}".format(status)
        time.sleep(0.05)
        status = run.poll()
    return status


def deflicker_bin(app):
    pool = app.GetProjectManager().GetCurrentProject().GetMediaPool()
    found = [f for f in pool.GetRootFolder().GetSubFolderList() if f.GetName() == logic.BIN_NAME]
    return found[0] if found else None


def result_frames(media_item):
    """Every frame of an imported result, as floats in [0, 1] (read from the files Resolve would read)."""
    pattern, first, last = logic.sequence_parts(media_item.GetClipProperty("File Path"))
    frames = [open_source(pattern).read(i) for i in range(last - first + 1)]
    scale = 65535.0 if frames[0].dtype == np.uint16 else 255.0
    return np.stack([f[..., :3].astype(np.float32) / scale for f in frames])


def standardised(frame):
    return (frame - frame.mean(axis=(0, 1))) / (frame.std(axis=(0, 1)) + 1e-6)


def matching_clean_frame(frame, clean):
    """Which clean frame `frame` shows, whatever its brightness: the one nearest after standardising both."""
    target = standardised(frame)
    return int(np.argmin([np.mean((standardised(c) - target) ** 2) for c in clean]))


def test_clip_under_playhead_is_deflickered_aligned_and_placed_above(server, tmp_path, make_resolve):
    app = make_resolve()
    media = png_media(tmp_path / "media")
    timeline, source_item = timeline_with(app, media, [(6, 18, 1, 10)])      # media frames 6-17 at 86410
    timeline.SetCurrentTimecode("01:00:00:15")
    run = runs.prepare(app, options(server))

    status = finish(run)

    assert status.state == runs.DONE, status.message
    assert "V2 at frame {}".format(START + 10) in status.message
    assert timeline.GetTrackCount("video") == 2
    (original,) = timeline.GetItemListInTrack("video", 1)
    (placed,) = timeline.GetItemListInTrack("video", 2)
    assert (placed.GetStart(), placed.GetDuration()) == (original.GetStart(), original.GetDuration())
    assert placed.GetLeftOffset() == 4                            # the 4 handle frames before are not placed
    result_item = placed.GetMediaPoolItem()
    assert deflicker_bin(app).GetClipList() == [result_item]
    assert result_item.GetClipProperty("Frames") == str(4 + 12 + 4)
    assert pool_folder_names(app) == ["Deflicker"]
    assert app.GetProjectManager().GetCurrentProject().GetMediaPool().GetCurrentFolder().GetName() == "Master"

    shown = result_frames(result_item)[placed.GetLeftOffset():placed.GetLeftOffset() + placed.GetDuration()]
    assert [matching_clean_frame(f, media.clean) for f in shown] == list(range(6, 18))
    noisy_error = temporal_error(media.noisy[6:18], media.clean[6:18])
    assert temporal_error(shown, media.clean[6:18]) < 0.5 * noisy_error


def pool_folder_names(app):
    pool = app.GetProjectManager().GetCurrentProject().GetMediaPool()
    return [f.GetName() for f in pool.GetRootFolder().GetSubFolderList()]


def test_every_clip_of_a_track_with_handles_clipped_at_the_media_edges(server, tmp_path, make_resolve):
    app = make_resolve()
    media = movie_media(tmp_path / "media" / "shot.mp4")
    # media frames 0-7 at +0 (no frames before it), 15-23 at +20 (none after it); a generator at +40
    timeline, _ = timeline_with(app, media, [(0, 8, 1, 0), (15, 24, 1, 20)])
    timeline.standin_add_generator(1, START + 40, 10)
    run = runs.prepare(app, options(server, mode="track", track=1, handles=5))
    assert [(p.range.start, p.range.end, p.head) for p in run.plans] == [(0, 12, 0), (10, 23, 5)]

    status = finish(run)

    assert status.state == runs.DONE, status.message
    assert "Skipped: 'Solid Color' (V1 at frame {}) has no source file".format(START + 40) in status.message
    placed = timeline.GetItemListInTrack("video", 2)
    assert [(i.GetStart(), i.GetDuration(), i.GetLeftOffset()) for i in placed] == [(START, 8, 0), (START + 20, 9, 5)]
    assert [i.GetMediaPoolItem().GetClipProperty("Frames") for i in placed] == ["13", "14"]
    assert len(deflicker_bin(app).GetClipList()) == 2
    for item, first in zip(placed, (0, 15)):
        frames = result_frames(item.GetMediaPoolItem())
        shown = frames[item.GetLeftOffset():item.GetLeftOffset() + item.GetDuration()]
        assert [matching_clean_frame(f, media.clean) for f in shown] == list(range(first, first + item.GetDuration()))
    results = os.listdir(str(tmp_path / "media" / "Deflicker"))
    assert sorted(set(name.split(".")[0] for name in results)) == ["shot_deflicker_0-7_v1", "shot_deflicker_15-23_v1"]


def test_cancel_mid_job_leaves_project_and_disk_as_they_were(server, tmp_path, make_resolve):
    app = make_resolve()
    media = png_media(tmp_path / "media")
    timeline, _ = timeline_with(app, media, [(4, 20, 1, 0)])
    timeline.SetCurrentTimecode("01:00:00:02")
    before = app.standin_snapshot()
    slow = dict(CHEAP, atlas_steps=5000)
    run = runs.prepare(app, options(server, params=slow))
    status = run.start()
    deadline = time.monotonic() + 60
    while run._job.status().state not in ("analysing", "rendering"):
        assert time.monotonic() < deadline and not status.finished, status
        time.sleep(0.02)
        status = run.poll()
    time.sleep(0.3)
    run.cancel()
    status = finish(run)

    assert status.state == runs.CANCELLED
    assert "nothing" in status.message or "as they were" in status.message
    assert app.standin_snapshot() == before
    assert sorted(os.listdir(str(tmp_path / "media"))) == ["plate_{:04d}.png".format(i) for i in range(24)]


def test_no_server_says_how_to_start_one_and_changes_nothing(tmp_path, make_resolve):
    app = make_resolve()
    media = png_media(tmp_path / "media", count=10)
    timeline, _ = timeline_with(app, media, [(2, 8, 1, 0)])
    before = app.standin_snapshot()
    address = "tcp://127.0.0.1:{}".format(free_port())
    run = runs.prepare(app, runs.Options(address=address, auto_start=False, params=CHEAP))

    status = finish(run)

    assert status.state == runs.FAILED
    assert "no deflicker server answers at {}".format(address) in status.message
    assert "deflicker serve" in status.message
    assert app.standin_snapshot() == before
    assert not (tmp_path / "media" / "Deflicker").exists()


def test_a_server_that_cannot_start_is_reported(tmp_path, make_resolve, monkeypatch):
    app = make_resolve()
    media = png_media(tmp_path / "media", count=10)
    timeline_with(app, media, [(2, 8, 1, 0)])
    before = app.standin_snapshot()
    monkeypatch.setenv("DEFLICKER_SERVER_COMMAND", "python -c 'import sys; sys.exit(3)'")
    run = runs.prepare(app, runs.Options(address="tcp://127.0.0.1:{}".format(free_port()), auto_start=True))

    status = finish(run)

    assert status.state == runs.FAILED and "exited with code 3" in status.message
    assert app.standin_snapshot() == before


@pytest.mark.parametrize("returns", [None, []])
def test_import_failure_undoes_everything_and_removes_the_render(server, tmp_path, make_resolve, returns):
    app = make_resolve()
    media = png_media(tmp_path / "media", count=12)
    timeline_with(app, media, [(2, 10, 1, 0)])
    before = app.standin_snapshot()
    app.standin_fail("ImportMedia", returns=returns)

    status = finish(runs.prepare(app, options(server)))

    assert status.state == runs.FAILED
    assert "import" in status.message and "MediaPool.ImportMedia returned {!r}".format(returns) in status.message
    assert app.standin_snapshot() == before
    assert not (tmp_path / "media" / "Deflicker").exists()


@pytest.mark.parametrize("track_above", [False, True], ids=["new-track", "existing-track"])
def test_append_failure_on_the_second_clip_takes_back_the_first(server, tmp_path, make_resolve, track_above):
    app = make_resolve()
    media = png_media(tmp_path / "media", count=16)
    timeline, _ = timeline_with(app, media, [(0, 6, 1, 0), (8, 14, 1, 10)])
    if track_above:
        timeline.standin_add_generator(2, START + 100, 5)
    before = app.standin_snapshot()
    app.standin_fail("AppendToTimeline", returns=False, skip=1)

    status = finish(runs.prepare(app, options(server, mode="track", track=1)))

    assert status.state == runs.FAILED, status.message
    assert "(V1 at frame {}) on V2 (MediaPool.AppendToTimeline returned False)".format(START + 10) in status.message
    assert app.standin_snapshot() == before
    assert timeline.GetTrackCount("video") == 1 + track_above     # a track added for the first clip is gone
    assert ("AddTrack" in app.calls) == ("DeleteTrack" in app.calls) == (not track_above)
    assert not (tmp_path / "media" / "Deflicker").exists()


def test_a_failed_run_keeps_what_earlier_runs_made(server, tmp_path, make_resolve):
    app = make_resolve()
    media = png_media(tmp_path / "media", count=16)
    timeline, _ = timeline_with(app, media, [(0, 6, 1, 0), (8, 14, 1, 10)])
    timeline.SetCurrentTimecode("01:00:00:02")
    assert finish(runs.prepare(app, options(server))).state == runs.DONE
    first_files = sorted(os.listdir(str(tmp_path / "media" / "Deflicker")))
    before = app.standin_snapshot()
    timeline.SetCurrentTimecode("01:00:00:12")
    app.standin_fail("AppendToTimeline", returns=None)

    status = finish(runs.prepare(app, options(server)))

    assert status.state == runs.FAILED
    assert app.standin_snapshot() == before                       # the bin and the first result stay
    assert sorted(os.listdir(str(tmp_path / "media" / "Deflicker"))) == first_files


def test_switching_timelines_during_a_run_places_nothing_on_the_other_one(server, tmp_path, make_resolve):
    app = make_resolve()
    media = png_media(tmp_path / "media", count=12)
    timeline, _ = timeline_with(app, media, [(2, 10, 1, 0)])
    project = app.GetProjectManager().GetCurrentProject()
    other = project.GetMediaPool().CreateEmptyTimeline("Other")
    assert project.SetCurrentTimeline(timeline)
    before = app.standin_snapshot()
    run = runs.prepare(app, options(server))
    run.start()
    assert project.SetCurrentTimeline(other)        # the user opens another timeline while the job runs

    status = finish(run)

    assert status.state == runs.FAILED
    assert "the current timeline changed while deflickering; switch back to 'Edit'" in status.message
    assert project.SetCurrentTimeline(timeline) and app.standin_snapshot() == before


@pytest.mark.parametrize("version, end_inclusive, appends",
                         [((18, 6, 6, 7, ""), None, 1), ((19, 1, 3, 7, ""), True, 2)],
                         ids=["resolve-18-inclusive-end", "end-convention-not-as-the-version-says"])
def test_end_frame_convention_is_followed_and_checked(server, tmp_path, make_resolve, version, end_inclusive,
                                                      appends):
    app = make_resolve(version=version, end_inclusive=end_inclusive)
    media = png_media(tmp_path / "media", count=16)
    timeline, _ = timeline_with(app, media, [(3, 11, 1, 5)])
    timeline.SetCurrentTimecode("01:00:00:06")
    scene_appends = app.calls.count("AppendToTimeline")

    status = finish(runs.prepare(app, options(server)))

    assert status.state == runs.DONE, status.message
    (placed,) = timeline.GetItemListInTrack("video", 2)
    assert (placed.GetStart(), placed.GetDuration(), placed.GetLeftOffset()) == (START + 5, 8, 3)
    assert len(deflicker_bin(app).GetClipList()) == 1
    assert app.calls.count("AppendToTimeline") - scene_appends == appends      # a wrong guess is placed again


def test_a_busy_track_above_is_skipped_and_left_alone(server, tmp_path, make_resolve):
    app = make_resolve()
    media = png_media(tmp_path / "media", count=16)
    timeline, _ = timeline_with(app, media, [(2, 12, 1, 0), (0, 4, 2, 6)])    # V2 is busy over +6..+9
    timeline.AddTrack("video")
    timeline.standin_add_generator(3, START + 20, 5)                          # V3 is free over +0..+9
    timeline.SetCurrentTimecode("01:00:00:01")
    v2_before = [(i.GetStart(), i.GetDuration()) for i in timeline.GetItemListInTrack("video", 2)]

    status = finish(runs.prepare(app, options(server)))

    assert status.state == runs.DONE, status.message
    assert [(i.GetStart(), i.GetDuration()) for i in timeline.GetItemListInTrack("video", 2)] == v2_before
    placed = [i for i in timeline.GetItemListInTrack("video", 3) if i.GetMediaPoolItem() is not None]
    assert [(i.GetStart(), i.GetDuration()) for i in placed] == [(START, 10)]
    assert timeline.GetTrackCount("video") == 3
