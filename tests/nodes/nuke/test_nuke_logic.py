# SPDX-License-Identifier: Apache-2.0
"""The Nuke node's plain-Python logic (no Nuke, no server): knobs, plans, files, the watcher thread."""
import importlib
import os
import threading
import time

import pytest

from deflicker_bridge import Effect
from deflicker_bridge.job import CANCELLED, DONE, FAILED, JobStatus

DESCRIBED = {"effect": {"name": "Deflicker", "params": [
    {"name": "strength", "type": "double", "default": 1.0, "min": 0.0, "max": 1.0, "label": "Strength",
     "group": "render"},
    {"name": "working_size", "type": "integer", "default": 448, "min": 128, "max": 1024, "label": "Working size",
     "group": "analysis"},
    {"name": "label", "type": "boolean", "default": True, "label": "Clashes with Nuke's label", "group": "analysis"},
    {"name": "preset", "type": "choice", "default": "auto", "choices": ["auto", "processed"], "label": "Preset",
     "group": "analysis"},
    {"name": "colorspace", "type": "string", "default": "", "label": "Colour space", "group": "analysis"},
    {"name": "slow_changes", "type": "double", "default": 0.5, "label": "Slow changes", "group": "analysis"},
], "presets": {"auto": {"summary": "", "values": {}}, "processed": {"summary": "", "values": {"slow_changes": 0.0}}}}}


@pytest.fixture
def mods(plugin):
    return dict((name, importlib.import_module("deflicker_node." + name))
                for name in ("knobspec", "plan", "files", "runner", "connecting"))


def test_knob_specs_put_analysis_first_and_rename_knobs_that_nuke_already_has(mods):
    knobspec = mods["knobspec"]
    specs = knobspec.knob_specs(Effect.from_describe(DESCRIBED))
    assert [(s.knob, s.name, s.group) for s in specs] == [
        ("working_size", "working_size", "analysis"), ("df_label", "label", "analysis"),
        ("preset", "preset", "analysis"), ("colorspace", "colorspace", "analysis"),
        ("slow_changes", "slow_changes", "analysis"), ("strength", "strength", "render")]
    rows = knobspec.layout(specs)
    assert [r[1] if r[0] == "divider" else r[1].knob for r in rows] == [
        "analysis_divider", "working_size", "df_label", "preset", "colorspace", "slow_changes", "render_divider",
        "strength"]
    assert specs[2].choices == ["auto", "processed"]
    assert [s.to_dict() for s in knobspec.loads(knobspec.dumps(specs))] == [s.to_dict() for s in specs]
    assert knobspec.loads("not json") == []


def test_collect_params_types_values_and_names_bad_ones(mods):
    knobspec = mods["knobspec"]
    specs = knobspec.knob_specs(Effect.from_describe(DESCRIBED))
    values = {"working_size": 256.0, "df_label": 0, "strength": 0.5, "preset": "processed", "colorspace": " ACEScg ",
              "slow_changes": 0.0}
    assert knobspec.collect_params(specs, values.get) == {"working_size": 256, "label": False, "strength": 0.5,
                                                         "preset": "processed", "colorspace": "ACEScg",
                                                         "slow_changes": 0.0}
    with pytest.raises(knobspec.ParameterValueError, match=r"Preset = 'vintage' is not one of auto, processed"):
        knobspec.collect_params(specs, dict(values, preset="vintage").get)
    with pytest.raises(knobspec.ParameterValueError, match=r"Strength = 1.5 is outside its range 0.0 to 1.0"):
        knobspec.collect_params(specs, dict(values, strength=1.5).get)
    with pytest.raises(knobspec.ParameterValueError, match="Working size must be a whole number"):
        knobspec.collect_params(specs, dict(values, working_size=200.5).get)


def test_presets_are_stored_with_the_node_and_fill_its_knobs(mods):
    knobspec = mods["knobspec"]
    effect = Effect.from_describe(DESCRIBED)
    specs = knobspec.knob_specs(effect)
    stored = knobspec.dump_presets(effect)
    assert knobspec.preset_spec(specs).knob == "preset"
    assert knobspec.preset_updates(specs, stored, "processed") == [("slow_changes", 0.0)]
    assert knobspec.preset_updates(specs, stored, "auto") == [("slow_changes", 0.5)]
    assert knobspec.preset_updates(specs, "damaged", "auto") == []
    assert knobspec.ran_with({"preset": "processed"}) == ", preset 'processed'" and knobspec.ran_with({}) == ""


def test_only_what_feeds_the_result_marks_it_stale(mods):
    knobspec = mods["knobspec"]
    specs = knobspec.knob_specs(Effect.from_describe(DESCRIBED))
    assert "Analyse or Render" in knobspec.stale_reason("working_size", specs)
    assert "no new analysis" in knobspec.stale_reason("strength", specs)
    assert "frame range" in knobspec.stale_reason("handles", specs)
    assert "input changed" in knobspec.stale_reason("inputChange", specs)
    for knob in ("status", "server", "start_server", "name", "xpos", "selected", "showPanel", "label"):
        assert knobspec.stale_reason(knob, specs) is None


def _request(plan, **overrides):
    args = dict(kind=plan.RENDER, node_name="Deflicker1", has_input=True, media_first=1001, media_last=1012,
                use_input_range=True, first=1001, last=1012, handles=8, proxy=False, params={"strength": 1.0},
                address="tcp://127.0.0.1:5557", start_server=False)
    args.update(overrides)
    return plan.Request(**args)


def test_plans_clip_handles_to_the_input_and_refuse_what_cannot_run(mods, tmp_path):
    plan = mods["plan"]
    folders = plan.Folders(str(tmp_path), "/shots/a/comp v3.nk", "Group1.Deflicker1")
    assert folders.root == os.path.join(str(tmp_path), "comp_v3", "Group1.Deflicker1")
    assert plan.Folders(str(tmp_path), "", "Deflicker1").root.endswith(os.path.join("untitled", "Deflicker1"))

    whole = plan.make_plan(_request(plan), folders, "t1")
    assert (whole.range.start, whole.range.end, whole.range.head, whole.range.tail) == (1001, 1012, 0, 0)
    assert whole.output == os.path.join(folders.results, "result_t1.%04d.exr")
    assert whole.source == os.path.join(folders.inputs, "input.%04d.exr")

    part = plan.make_plan(_request(plan, use_input_range=False, first=1003, last=1010, handles=5), folders, "t2")
    assert (part.range.start, part.range.end, part.describe()) == (1001, 1012, "frames 1003-1010 (handles 2+2)")
    assert plan.make_plan(_request(plan, kind=plan.ANALYSE), folders, "t3").output is None

    refusals = [
        (dict(proxy=True), "proxy mode is on"),
        (dict(has_input=False), "Deflicker1 has no input"),
        (dict(use_input_range=False, first=990, last=1005),
         "frames 990-1005 run outside the source, which has frames 1001-1012. Change the frame range"),
        (dict(use_input_range=False, first=1005, last=1004), "is empty"),
        (dict(handles=-1), "handles must be 0 or more"),
        (dict(media_first=1001, media_last=1001), "needs at least two"),
        (dict(address="  "), "server address is empty"),
    ]
    for overrides, message in refusals:
        with pytest.raises(plan.PlanError, match=message.replace("(", r"\(").replace(".", r"\.")):
            plan.make_plan(_request(plan, **overrides), folders, "t")


def test_cache_base_follows_the_environment(mods, tmp_path):
    plan = mods["plan"]
    assert plan.cache_base({"DEFLICKER_NUKE_CACHE": str(tmp_path / "x")}) == str(tmp_path / "x")
    assert plan.cache_base({"XDG_CACHE_HOME": str(tmp_path)}) == os.path.join(str(tmp_path), "deflicker", "nuke")
    assert plan.default_address({"DEFLICKER_ADDRESS": "tcp://10.0.0.2:6000"}) == "tcp://10.0.0.2:6000"


def _write(pattern, frame, data):
    with open(pattern % frame, "wb") as handle:
        handle.write(data)


def test_sync_keeps_unchanged_frames_so_the_server_cache_still_matches(mods, tmp_path):
    files = mods["files"]
    staged, target = str(tmp_path / "staging" / "input.%04d.exr"), str(tmp_path / "input" / "input.%04d.exr")
    os.makedirs(os.path.dirname(staged))
    os.makedirs(os.path.dirname(target))
    for frame in (999, 1001, 1002, 1003):                 # an earlier, wider export
        _write(target, frame, b"old %d" % frame)
    old = dict((f, os.stat(target % f).st_mtime_ns) for f in (1001, 1002))
    time.sleep(0.02)
    for frame in (1001, 1002, 1003, 1004):
        _write(staged, frame, b"old %d" % frame if frame < 1003 else b"new %d" % frame)

    assert files.sync_frames(staged, target, 1001, 1004) == {"kept": 2, "replaced": 2, "removed": 1}
    assert files.frames_on_disk(target) == [1001, 1002, 1003, 1004]
    assert dict((f, os.stat(target % f).st_mtime_ns) for f in (1001, 1002)) == old
    assert open(target % 1003, "rb").read() == b"new 1003"
    assert files.frames_on_disk(staged) == []

    _write(staged, 1001, b"x")
    with pytest.raises(files.ExportError, match="did not write frame\\(s\\) 1002-1004"):
        files.sync_frames(staged, target, 1001, 1004)
    assert files.frame_ranges([1, 2, 3, 7, 9, 10]) == "1-3, 7, 9-10"


def test_prune_results_keeps_only_the_shown_result(mods, tmp_path):
    files = mods["files"]
    for name in ("result_a.1001.exr", "result_a.1002.exr", "result_b.1001.exr", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert files.prune_results(str(tmp_path), str(tmp_path / "result_b.%04d.exr")) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "result_b.1001.exr"]


class FakeJob(object):
    """A bridge.Job look-alike that walks through states as it is polled."""

    def __init__(self, states, fail_on_status=False):
        self.states = list(states)
        self.cancelled = threading.Event()
        self.started = False
        self.fail_on_status = fail_on_status

    def start(self):
        self.started = True

    def status(self):
        if self.fail_on_status:
            raise ValueError("boom")
        if self.cancelled.is_set():
            return JobStatus(CANCELLED, message="cancelled")
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def cancel(self):
        self.cancelled.set()


class FakeTask(object):
    def __init__(self, title):
        self.title, self.messages, self.progress, self.cancel_after = title, [], [], None

    def setMessage(self, text):
        self.messages.append(text)

    def setProgress(self, value):
        assert isinstance(value, int) and 0 <= value <= 100
        self.progress.append(value)

    def isCancelled(self):
        return self.cancel_after is not None and len(self.progress) >= self.cancel_after


def _watch(mods, job, cancel_after=None):
    tasks, posted = [], []

    def make_task(title):
        task = FakeTask(title)
        task.cancel_after = cancel_after
        tasks.append(task)
        return task

    watcher = mods["runner"].Runner(job, "Deflicker Deflicker1", make_task,
                                    lambda call, args: posted.append((call, args)), lambda status: None, poll=0.001)
    watcher.start()
    assert watcher.wait(10)
    return watcher, tasks, posted


def test_runner_shows_progress_and_posts_the_final_status_once(mods):
    states = [JobStatus("analysing", "survey", 1, 4, 0.2), JobStatus("rendering", "render", 2, 4, 0.9),
              JobStatus(DONE, fraction=1.0, result={"frames": 4})]
    watcher, (task,), posted = _watch(mods, FakeJob(states))
    assert task.messages == ["Deflicker Deflicker1: survey 1/4", "Deflicker Deflicker1: render 2/4",
                             "Deflicker Deflicker1: done"]
    assert task.progress[-1] == 100 and task.progress == sorted(task.progress)
    assert len(posted) == 1 and posted[0][1][0].state == DONE


def test_runner_cancels_the_job_when_the_progress_window_is_cancelled(mods):
    job = FakeJob([JobStatus("analysing", "finalise", 1, 100, 0.1)])
    watcher, tasks, posted = _watch(mods, job, cancel_after=3)
    assert job.cancelled.is_set() and posted[0][1][0].state == CANCELLED


def test_runner_turns_an_unexpected_error_into_a_failure_for_the_user(mods):
    job = FakeJob([JobStatus("analysing")], fail_on_status=True)
    watcher, tasks, posted = _watch(mods, job)
    status = posted[0][1][0]
    assert status.state == FAILED and "unexpected error: ValueError: boom" in status.message
    assert job.cancelled.is_set()


def test_active_runs_allow_one_job_per_node(mods):
    runner = mods["runner"]
    runs = runner.ActiveRuns()
    first = runner.Runner(FakeJob([JobStatus(DONE)]), "t", FakeTask, lambda c, a: None, lambda s: None)
    second = runner.Runner(FakeJob([JobStatus(DONE)]), "t", FakeTask, lambda c, a: None, lambda s: None)
    assert runs.add("Deflicker1", first) and not runs.add("Deflicker1", second)
    first.start().wait(5)
    assert runs.add("Deflicker1", second)          # the first one finished
    runs.discard("Deflicker1", first)              # its late clean-up does not remove the new one
    assert runs.get("Deflicker1") is second


def test_no_server_messages_say_what_to_do(mods):
    connecting = mods["connecting"]
    from tests.server.procs import free_port
    address = "tcp://127.0.0.1:{}".format(free_port())
    connect = connecting.connector(address, start_server=False)
    import deflicker_bridge as bridge
    with pytest.raises(bridge.ServerUnavailable) as caught:
        connect()
    assert str(caught.value) == ("no deflicker server answers at {0}. Start one with `deflicker serve --bind {0}`, "
                                 "or turn on 'start server' on the node to let it start one.".format(address))


def test_a_server_started_by_the_node_may_use_home_and_the_cache(mods, tmp_path):
    plan = mods["plan"]
    home = str(tmp_path / "home")
    assert plan.server_roots(home + "/.cache/deflicker/nuke", home) == (home,)
    assert plan.server_roots(str(tmp_path / "elsewhere"), home) == (home, str(tmp_path / "elsewhere"))


def test_results_folder_beside_the_script_relative_or_absolute(mods, tmp_path):
    plan = mods["plan"]
    env = {"DEFLICKER_NUKE_CACHE": str(tmp_path / "cache")}
    assert plan.results_base("/shots/a/comp.nk", "deflicker", env) == "/shots/a/deflicker"
    assert plan.results_base("/shots/a/comp.nk", "/farm/out", env) == "/farm/out"
    assert plan.results_base("", "deflicker", env) == str(tmp_path / "cache")          # unsaved script
    assert plan.script_relative("/shots/a/deflicker/x.%04d.exr", "/shots/a/comp.nk") == \
        "[file dirname [value root.name]]/deflicker/x.%04d.exr"
    assert plan.script_relative("/farm/out/x.exr", "/shots/a/comp.nk") == "/farm/out/x.exr"
    assert plan.with_colorspace({"colorspace": ""}, "ACEScg") == {"colorspace": "ACEScg"}
    assert plan.with_colorspace({"colorspace": "x"}, "ACEScg") == {"colorspace": "x"}
    assert plan.with_colorspace({}, "ACEScg") == {}


def test_the_stored_key_names_what_changed(plugin):
    guard = importlib.import_module("deflicker_node.guard")
    key = guard.make_key("Read1 (/a.%04d.exr)", (1, 10), True, 1, 10, 8, {"strength": 1.0, "preset": "auto"}, False)
    labels = {"preset": "Preset", "strength": "Strength"}
    assert guard.stale_reason(key, key, labels) is None and guard.stale_reason("", key, labels) is None
    for changed, reason in (
            (dict(params={"strength": 0.5, "preset": "auto"}), "Strength changed"),
            (dict(input_id="Read2"), "the input changed"), (dict(proxy=True), "proxy mode changed"),
            (dict(use_input_range=False), "the frame range changed"), (dict(handles=2), "the frame range changed"),
            (dict(media=(1, 12)), "the input's frame range changed")):
        args = dict(input_id="Read1 (/a.%04d.exr)", media=(1, 10), use_input_range=True, first=1, last=10, handles=8,
                    params={"strength": 1.0, "preset": "auto"}, proxy=False)
        args.update(changed)
        assert reason in guard.stale_reason(key, guard.make_key(**args), labels)
    assert guard.input_id("Read1", "") == "Read1" and guard.input_id(None, "x") is None
