"""Progress for people and for farm logs: bars on a terminal, a few plain lines everywhere else."""
import io
import subprocess
import sys

from deflicker_engine.progress import ProgressBars, ProgressPrinter, StageProgress, stage_progress
from tests.deflicker_engine.test_run_cli import FAST, _folder
from tests.conftest import flicker, textured_scene


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Tty(io.StringIO):
    def isatty(self):
        return True


def _printer(interval=5.0, prefix=""):
    stream, clock = io.StringIO(), Clock()
    return ProgressPrinter(stream, interval=interval, prefix=prefix, clock=clock), stream, clock


def test_a_long_stage_prints_a_start_line_a_few_updates_and_an_end_line():
    printer, stream, clock = _printer(interval=5.0)
    for done in range(1, 241):          # 240 frames at 0.1 s each: 24 s
        clock.now += 0.1
        printer("render", done, 240)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "render: started (240 frames)"
    assert lines[-1] == "render: done, 240 frames in 23.9 s"
    assert 4 <= len(lines) <= 7, lines          # one every 5 s, not one per frame
    assert "\r" not in stream.getvalue()


def test_lines_are_at_least_the_interval_apart():
    printer, stream, clock = _printer(interval=5.0)
    times = []
    for done in range(1, 1001):
        clock.now += 0.05
        before = stream.getvalue().count("\n")
        printer("atlas", done, 2000)
        if stream.getvalue().count("\n") > before:
            times.append(clock.now)
    assert all(b - a >= 5.0 - 1e-9 for a, b in zip(times, times[1:])), times
    assert "atlas: " in stream.getvalue() and "steps" in stream.getvalue()


def test_stages_coming_back_for_the_next_shot_print_no_new_start_line():
    printer, stream, clock = _printer()
    for shot in range(20):               # 20 short shots, counts growing over the clip
        for stage in ("flow", "atlas", "filter", "refine"):
            clock.now += 0.01
            printer(stage, (shot + 1) * 5, 100)
    text = stream.getvalue()
    for stage in ("flow", "atlas", "filter", "refine"):
        assert text.count(f"{stage}: started") == 1 and text.count(f"{stage}: done") == 1
    assert len(text.splitlines()) <= 12


def test_prefix_names_the_job_and_notes_pass_through():
    printer, stream, _ = _printer(prefix="shot_010")
    printer("read", 1, 10)
    printer.note("finished")
    assert stream.getvalue().splitlines() == ["shot_010: read: started (10 frames)", "shot_010: finished"]


def test_reset_starts_over_for_the_next_job():
    printer, stream, _ = _printer()
    printer("render", 10, 10)
    printer.reset(prefix="next")
    printer("render", 1, 10)
    assert stream.getvalue().splitlines()[-1] == "next: render: started (10 frames)"


def test_chosen_by_the_stream():
    assert isinstance(stage_progress(stream=io.StringIO()), ProgressPrinter)
    assert isinstance(stage_progress(stream=Tty()), ProgressBars)
    quiet = stage_progress(quiet=True, stream=Tty())
    assert type(quiet) is StageProgress
    quiet("render", 1, 2)
    quiet.note("nothing")
    quiet.close()


def test_bars_on_a_terminal_close_cleanly():
    stream = Tty()
    with stage_progress(stream=stream) as bars:
        bars("flow", 1, 3)
        bars("atlas", 2, 3)
        bars.note("a summary")
    assert "a summary" in stream.getvalue()
    assert bars.bar is None


def test_a_stream_without_isatty_counts_as_a_log():
    class Bare:
        def write(self, text):
            pass

        def flush(self):
            pass

    assert isinstance(stage_progress(stream=Bare()), ProgressPrinter)


def _deflicker(*args):
    return subprocess.run([sys.executable, "-m", "deflicker_engine.cli", *args], capture_output=True, text=True,
                          timeout=300)


def test_run_writes_a_short_log_when_stderr_is_a_file(tmp_path):
    src = _folder(tmp_path / "in", flicker(textured_scene(12, 32, 48)))
    args = [a for a in FAST if a != "-q"]
    result = _deflicker("run", str(src), "-o", str(tmp_path / "out"), *args)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "\r" not in result.stderr
    for stage in ("survey", "render"):
        assert any(line.startswith(f"{stage}: started") for line in lines), result.stderr
    assert len(lines) <= 20, result.stderr
    assert "deflickered 12 frames" in result.stderr and "wrote" in lines[-1]


def test_eval_writes_a_short_log_when_stderr_is_a_file(tmp_path):
    src = _folder(tmp_path / "in", flicker(textured_scene(8, 32, 48)))
    result = _deflicker("eval", "--ref", str(src), "--out", str(src))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == "flow: started (8 frames)" and "\r" not in result.stderr
