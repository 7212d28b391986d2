# SPDX-License-Identifier: Apache-2.0
"""What the script refuses before any server work, and the message the user sees (no server needed)."""
import os

import pytest

from deflicker_resolve import edit, logic, run as runs

from .conftest import START, movie_media, png_media, timeline_with


def prepare(app, **values):
    values.setdefault("auto_start", False)
    return runs.prepare(app, runs.Options(**values))


def refused(app, **values):
    with pytest.raises(runs.USER_ERRORS) as caught:
        prepare(app, **values)
    return str(caught.value)


def test_no_clip_under_the_playhead(tmp_path, make_resolve):
    app = make_resolve()
    timeline, _ = timeline_with(app, png_media(tmp_path / "m", count=8), [(0, 8, 1, 0)])
    timeline.SetCurrentTimecode("01:00:05:00")
    assert "no clip is under the playhead" in refused(app)


def test_a_generator_under_the_playhead_has_no_source_file(tmp_path, make_resolve):
    app = make_resolve()
    timeline, _ = timeline_with(app, png_media(tmp_path / "m", count=8), [(0, 8, 1, 0)])
    timeline.standin_add_generator(2, START + 2, 4, name="Text+")
    timeline.SetCurrentTimecode("01:00:00:03")
    message = refused(app)
    assert "'Text+' (V2 at frame {}) has no source file".format(START + 2) in message


def test_a_compound_clip_has_no_source_file(tmp_path, make_resolve):
    app = make_resolve()
    timeline, _ = timeline_with(app, png_media(tmp_path / "m", count=8), [(0, 4, 1, 0), (4, 8, 1, 4)])
    compound = timeline.CreateCompoundClip(timeline.GetItemListInTrack("video", 1), {"name": "Shot A"})
    assert compound is not None
    message = refused(app)
    assert "'Shot A'" in message and "no source file (it is a Compound)" in message


def test_track_mode_with_nothing_usable_names_every_reason(tmp_path, make_resolve):
    app = make_resolve()
    timeline, _ = timeline_with(app, png_media(tmp_path / "m", count=8), [(0, 8, 1, 0)])
    timeline.AddTrack("video")
    timeline.standin_add_generator(2, START, 4)
    assert "nothing to deflicker on V2: 'Solid Color'" in refused(app, mode="track", track=2)
    assert "no video track V5 (it has V1-V2)" in refused(app, mode="track", track=5)


def test_missing_media_and_missing_sequence_frames(tmp_path, make_resolve):
    app = make_resolve()
    media = png_media(tmp_path / "m", count=10)
    timeline, _ = timeline_with(app, media, [(2, 8, 1, 0)])
    os.remove(str(tmp_path / "m" / "plate_0005.png"))
    assert "missing frame 5 (plate_0005.png)" in refused(app)
    app = make_resolve()
    timeline_with(app, movie_media(tmp_path / "v" / "shot.mp4", count=10), [(2, 8, 1, 0)])
    os.remove(str(tmp_path / "v" / "shot.mp4"))
    assert "source file of 'shot.mp4' (V1 at frame {}) is missing".format(START) in refused(app)


def test_a_clip_at_another_frame_rate_is_refused(tmp_path, make_resolve):
    app = make_resolve()
    timeline_with(app, png_media(tmp_path / "m", count=8), [(0, 8, 1, 0)])
    app.fps = 25        # the timeline now runs at 25 fps; the clip still says 24
    app.GetProjectManager().GetCurrentProject().GetCurrentTimeline().playhead = START
    message = refused(app)
    assert "is 24 fps in a 25 fps timeline" in message


def test_no_project_or_no_timeline(make_resolve):
    app = make_resolve()
    assert "no timeline is open" in refused(app)
    app.GetProjectManager().standin_close_project()
    assert "no project is open" in refused(app)
    with pytest.raises(edit.ResolveError) as caught:
        edit.Session(None)
    assert "External scripting" in str(caught.value)


def test_sequence_with_frames_before_the_imported_range_maps_positions(tmp_path, make_resolve):
    app = make_resolve()
    media = png_media(tmp_path / "m", count=20)
    media.entry = dict(media.entry, StartIndex=5, EndIndex=19)        # Resolve imported files 5-19 only
    timeline, item = timeline_with(app, media, [(3, 9, 1, 0)])
    assert item.GetClipProperty("File Path").endswith("plate_[0005-0019].png")
    run = prepare(app, handles=2)
    (plan,) = run.plans
    assert (plan.range.start, plan.range.end) == (1, 10)               # positions in Resolve's clip
    assert (plan.start, plan.stop) == (6, 16)                          # positions in the server's view of the folder
    assert plan.output.endswith(os.path.join("Deflicker", "plate_deflicker_3-8_v1.%04d.png"))


def test_results_go_to_the_cache_folder_when_the_media_folder_is_read_only(tmp_path, make_resolve):
    app = make_resolve()
    timeline_with(app, png_media(tmp_path / "m", count=8), [(0, 8, 1, 0)])
    run = runs.prepare(app, runs.Options(cache_dir=str(tmp_path / "cache")), writable=lambda folder: False)
    assert run.plans[0].output.startswith(str(tmp_path / "cache" / logic.OUTPUT_FOLDER) + os.sep)
    assert str(tmp_path / "m") in run.roots and str(tmp_path / "cache" / logic.OUTPUT_FOLDER) in run.roots


@pytest.mark.parametrize("speed", [0.5, 2.0])
def test_a_retimed_clip_is_refused_rather_than_placed_at_full_speed(tmp_path, make_resolve, speed):
    app = make_resolve()
    timeline, _ = timeline_with(app, png_media(tmp_path / "m", count=24), [(2, 10, 1, 0)])
    (item,) = timeline.GetItemListInTrack("video", 1)
    item.standin_retime(speed)
    timeline.SetCurrentTimecode("01:00:00:02")
    message = refused(app)
    assert "is retimed: it plays 8 source frame(s) over {} timeline frames".format(int(8 / speed)) in message
    assert "100% speed" in message


def test_a_one_frame_disagreement_is_not_a_retime():
    facts = logic.ClipFacts("c", 1, START, 10, 4, right_offset=6, media_frames=20, source_frames=11)
    logic.check_speed(facts, facts.source_frames)
    logic.check_speed(facts, facts.media_frames - facts.left_offset - facts.right_offset)
    with pytest.raises(logic.PlanError, match="is retimed: it plays 14 source"):
        logic.check_speed(facts, 14)


def test_each_clip_passes_its_own_input_colour_space_unless_the_user_named_one(tmp_path, make_resolve):
    app = make_resolve()
    timeline, media_item = timeline_with(app, png_media(tmp_path / "m", count=12), [(2, 10, 1, 0)])
    media_item.properties["Input Color Space"] = "ACEScg"          # a colour-managed project's clip property
    timeline.SetCurrentTimecode("01:00:00:03")
    (plan,) = prepare(app).plans
    assert plan.facts.colorspace == "ACEScg"
    assert logic.clip_params({"colorspace": "", "strength": 1.0}, plan.facts) == {"colorspace": "ACEScg",
                                                                                 "strength": 1.0}
    assert logic.clip_params({"colorspace": "ARRI LogC4"}, plan.facts) == {"colorspace": "ARRI LogC4"}
    assert logic.clip_params({"strength": 1.0}, plan.facts) == {"strength": 1.0}   # a server without it
    for unnamed in ("Project", "", " Auto "):
        plan.facts.colorspace = unnamed
        assert logic.clip_params({"colorspace": ""}, plan.facts) == {"colorspace": ""}
