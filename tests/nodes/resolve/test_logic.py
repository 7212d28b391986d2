"""The script's pure planning: Resolve's spellings and conventions turned into ranges, paths, clip infos."""
import os

import pytest

from deflicker_bridge import Param
from deflicker_resolve import entry, logic, window
from deflicker_resolve.logic import ClipFacts, PlanError


def test_resolve_sequence_spelling_becomes_a_printf_pattern():
    assert logic.sequence_parts("/a/plate_[0000-0023].png") == ("/a/plate_%04d.png", 0, 23)
    assert logic.sequence_parts("/a/sh.[1001-1100].exr") == ("/a/sh.%04d.exr", 1001, 1100)
    assert logic.sequence_parts("/a/f[8-12].dpx") == ("/a/f%d.dpx", 8, 12)
    assert logic.sequence_parts("/a/[x]/movie.mov") is None
    assert logic.sequence_parts("/a/movie.mov") is None


def test_a_sequence_spelled_as_its_first_file_is_understood():
    assert logic.numbered_file_parts("/a/sh_v2.1001.exr", 24) == ("/a/sh_v2.%04d.exr", 1001, 1024)
    assert logic.numbered_file_parts("/a/still.png", 24) is None
    assert logic.numbered_file_parts("/a/f_0007.png", 1) is None
    names = ["sh.%04d.exr" % n for n in range(1001, 1025)]
    media = logic.source_media(facts(file_path="/a/sh.1001.exr", media_frames=24), listdir=lambda f: names,
                               exists=lambda p: True)
    assert (media.path, media.sequence, media.offset, media.count, media.number_width) == (
        "/a/sh.%04d.exr", True, 0, 24, 4)


def test_pattern_numbers_only_count_files_the_pattern_spells():
    names = ["p_0001.png", "p_0002.png", "p_02.png", "p_0003.png.bak", "q_0004.png", "p_0010.png"]
    assert logic.pattern_numbers("/x/p_%04d.png", lambda folder: names) == [1, 2, 10]


def test_clip_properties_arrive_as_text():
    assert logic.parse_count("24") == 24 and logic.parse_count("1,234") == 1234 and logic.parse_count(12) == 12
    assert logic.parse_count("") is None and logic.parse_count("n/a") is None and logic.parse_count("2.5") is None
    assert logic.parse_rate("23.976") == 23.976 and logic.parse_rate("") is None and logic.parse_rate("0") is None
    assert logic.same_rate(24.0, 24.004) and not logic.same_rate(24.0, 25.0) and logic.same_rate(None, 25.0)


def test_end_frame_convention_by_version():
    assert logic.end_frame_inclusive([18, 6, 6, 7, ""]) is True
    assert logic.end_frame_inclusive([19, 0, 0, 1, ""]) is False
    assert logic.end_frame_inclusive(None) is False
    assert logic.clip_info(4, 12, 2, 86410, inclusive=False) == {
        "startFrame": 4, "endFrame": 16, "trackIndex": 2, "recordFrame": 86410, "mediaType": 1}
    assert logic.clip_info(4, 12, 2, 86410, inclusive=True)["endFrame"] == 15


def test_free_track_skips_busy_tracks_and_says_none_when_all_are():
    spans = {1: [(0, 10)], 2: [(8, 12)], 3: [(20, 30)]}
    assert logic.free_track(spans.get, 2, 3, 0, 10) == 3
    assert logic.free_track(spans.get, 2, 3, 12, 20) == 2          # [8, 12) ends where [12, 20) starts
    assert logic.free_track(spans.get, 2, 3, 5, 25) is None
    assert logic.free_track(spans.get, 4, 3, 0, 10) is None


def facts(**values):
    base = dict(name="A", track=1, record=86400, duration=10, left_offset=5, right_offset=5,
                file_path="/m/shot.mov", media_frames=20, media_fps=24.0, timeline_fps=24.0)
    base.update(values)
    return ClipFacts(**base)


def movie(path="/m/shot.mov"):
    return logic.SourceMedia(path, "shot", ".mov", sequence=False)


def test_clip_range_uses_left_offset_and_duration_and_clips_handles():
    frame_range = logic.clip_range(facts(), movie(), 8)
    assert (frame_range.first, frame_range.last, frame_range.head, frame_range.tail) == (5, 14, 5, 5)
    frame_range = logic.clip_range(facts(media_frames=None), movie(), 2)      # 5 + 10 + 5 frames by the offsets
    assert (frame_range.start, frame_range.end) == (3, 16)
    with pytest.raises(PlanError) as caught:
        logic.clip_range(facts(media_frames=12), movie(), 2)
    assert "run outside the source" in str(caught.value) and "retimed" in str(caught.value)
    with pytest.raises(PlanError):
        logic.clip_range(facts(right_offset=None, media_frames=None), logic.SourceMedia("/m/x", "x", ".mov", False), 2)


def test_outputs_never_overwrite_earlier_results():
    existing = ["shot_deflicker_5-14_v1.000000.tif", "shot_deflicker_5-14_v3.000000.tif", "other_v9.000000.tif"]
    frame_range = logic.clip_range(facts(), movie(), 4)
    pattern = logic.output_pattern("/m/Deflicker", movie(), frame_range, lambda folder: existing)
    assert pattern == os.path.join("/m/Deflicker", "shot_deflicker_5-14_v4.%06d.tif")
    again = logic.output_pattern("/m/Deflicker", movie(), frame_range, lambda folder: existing,
                                 reserved={logic.version_key(pattern)})
    assert again.endswith("_v5.%06d.tif")
    assert logic.output_folder("/m", "/cache", lambda folder: True) == os.path.join("/m", "Deflicker")
    assert logic.output_folder("/m", "/cache", lambda folder: False) == os.path.join("/cache", "Deflicker")


def test_source_media_kinds():
    exists = lambda path: True          # noqa: E731
    with pytest.raises(PlanError) as caught:
        logic.source_media(facts(file_path="", media_type="Timeline"), exists=exists)
    assert "no source file (it is a Timeline)" in str(caught.value)
    with pytest.raises(PlanError) as caught:
        logic.source_media(facts(file_path="/m/still.png"), exists=exists)
    assert "still image" in str(caught.value)
    with pytest.raises(PlanError) as caught:
        logic.source_media(facts(file_path="/m/s_[0001-0003].dpx"), listdir=lambda f: [], exists=exists)
    assert "DPX" in str(caught.value).upper()


def test_rendered_frames_must_be_exactly_what_was_asked():
    names = ["r.%04d.tif" % n for n in (4, 5, 6)]
    assert logic.rendered_frames("/o/r.%04d.tif", 3, lambda folder: names) == (4, 6)
    with pytest.raises(PlanError):
        logic.rendered_frames("/o/r.%04d.tif", 4, lambda folder: names)
    with pytest.raises(PlanError):
        logic.rendered_frames("/o/r.%04d.tif", 3, lambda folder: ["r.0004.tif", "r.0005.tif", "r.0009.tif"])
    assert logic.import_info("/o/r.%04d.tif", 4, 6) == {"FilePath": "/o/r.%04d.tif", "StartIndex": 4, "EndIndex": 6}


def test_parameter_controls_follow_the_effect_description():
    params = [Param("strength", "double", 1.0, 0.0, 1.0, "Strength"), Param("atlas_steps", "integer", 240, 0, 5000),
              Param("refine", "boolean", True, label="Local refinement")]
    controls = window.param_controls(params)
    assert [(p.name, element) for p, element, _ in controls] == [
        ("strength", "DoubleSpinBox"), ("atlas_steps", "SpinBox"), ("refine", "CheckBox")]
    assert controls[1][2]["Maximum"] == 5000 and controls[2][2]["Checked"] is True
    assert window.read_params(params, {"strength": 0.5, "atlas_steps": 30.0, "refine": False}) == {
        "strength": 0.5, "atlas_steps": 30, "refine": False}
    with pytest.raises(Exception) as caught:
        window.read_params(params, {"atlas_steps": 9000})
    assert "atlas_steps" in str(caught.value)
    assert window.progress_text(0.5, width=10) == "[#####.....]  50%"


def test_command_line_options():
    options = entry.parse_args(["--track", "2", "--handles", "3", "--param", "atlas_steps=8",
                                "--param", "strength=0.5", "--param", "refine=off", "--no-start"])
    assert (options.mode, options.track, options.handles, options.auto_start) == ("track", 2, 3, False)
    assert options.params == {"atlas_steps": 8, "strength": 0.5, "refine": False}
    assert entry.parse_args([]).mode == "current"
    with pytest.raises(SystemExit):
        entry.parse_args(["--param", "oops"])
