# SPDX-License-Identifier: Apache-2.0
"""One run of the script: plan the chosen clips, deflicker them one by one, import and place each.

The host (the UIManager window's timer, or the console loop) calls `poll()` repeatedly; the server
work runs on `bridge.Job` worker threads, and every Resolve call happens inside `poll()`, on the
host's own thread. A run is all or nothing: if any clip fails, or the user cancels, everything the
run added (placed clips, new tracks, imported clips, the bin, rendered files) is taken back.
"""
import os
import sys

import deflicker_bridge as bridge

from . import edit, logic

DEFAULT_HANDLES = 8
RUNNING, DONE, FAILED, CANCELLED = "running", "done", "failed", "cancelled"
USER_ERRORS = (edit.ResolveError, logic.PlanError)
NO_SERVER = ("no deflicker server answers at {}; start one with `deflicker serve` (or tick 'Start a server "
             "when none answers') and run the script again")


class Options(object):
    """What the user chose: which clips ("current": under the playhead, "track": all on `track`),
    handle frames each side, effect parameters, the server, and where results go when the media's
    folder is read-only."""

    def __init__(self, mode="current", track=1, handles=DEFAULT_HANDLES, params=None,
                 address=bridge.DEFAULT_ADDRESS, auto_start=True, cache_dir=None):
        if mode not in ("current", "track"):
            raise ValueError("mode must be 'current' or 'track', got {!r}".format(mode))
        self.mode, self.track, self.handles = mode, int(track), int(handles)
        self.params = dict(params or {})
        self.address, self.auto_start = address, bool(auto_start)
        self.cache_dir = cache_dir or default_cache_dir()


def default_cache_dir():
    """Where results go when the media's own folder is read-only (per user, per platform)."""
    home = os.path.expanduser("~")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Caches", "Deflicker", "resolve")
    if os.name == "nt":
        return os.path.join(os.environ.get("LOCALAPPDATA") or home, "Deflicker", "resolve")
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache"), "deflicker", "resolve")


def _writable(folder):
    return os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK)


def existing_server(address):
    """A `connect` for bridge.Job that never starts a server: it only talks to one that answers."""
    return bridge.connector(address, start=False, name="deflicker-resolve", no_server=NO_SERVER.format)


def job_factory(options):
    """Build bridge.Jobs for this run's server settings."""
    connect = None if options.auto_start else existing_server(options.address)

    def make(source, output, start, stop, params, roots):
        return bridge.Job(source, output, start, stop, params, address=options.address, roots=roots,
                          connect=connect, name="deflicker-resolve")
    return make


def prepare(resolve, options, make_job=None, writable=_writable, listdir=os.listdir, exists=os.path.exists):
    """Plan a run over the clips the options choose; ResolveError or PlanError say why there is none."""
    session = edit.Session(resolve)
    chosen = session.current_clips() if options.mode == "current" else session.track_clips(options.track)
    plans, skipped, reserved = [], [], set()

    def folder_for(media_folder):
        return logic.output_folder(media_folder, options.cache_dir, writable)

    for item, track in chosen:
        facts = session.facts(item, track)
        try:
            plan = logic.plan_clip(facts, options.handles, folder_for, listdir, exists, reserved)
        except logic.PlanError as error:
            if options.mode == "current":
                raise
            skipped.append(str(error))
            continue
        reserved.add(logic.version_key(plan.output))
        plans.append(plan)
    if not plans:
        raise logic.PlanError("nothing to deflicker on V{}: {}".format(options.track, "; ".join(skipped)))
    return DeflickerRun(session, plans, options.params, make_job or job_factory(options), skipped)


class RunStatus(object):
    """What the host shows: a state, 0..1 progress, one line of text, and the final message."""

    __slots__ = ("state", "fraction", "text", "message")

    def __init__(self, state=RUNNING, fraction=0.0, text="", message=""):
        self.state, self.fraction, self.text, self.message = state, fraction, text, message

    @property
    def finished(self):
        return self.state != RUNNING

    def __repr__(self):
        return "RunStatus({}, {:.0%}, {!r}, {!r})".format(self.state, self.fraction, self.text, self.message)


class DeflickerRun(object):
    """Deflicker `plans` one after another; poll() advances, cancel() stops and takes everything back."""

    def __init__(self, session, plans, params, make_job, skipped=()):
        self.session, self.plans, self.params = session, list(plans), dict(params or {})
        self.make_job, self.skipped = make_job, list(skipped)
        self.changes = edit.Changes(session)
        self.roots = logic.run_roots(self.plans)
        self.placed = []
        self._index = 0
        self._job = None
        self._cancelled = False
        self._folders = []
        self._status = RunStatus(text="starting")

    # ----------------------------------------------------------------- host side
    def start(self):
        if self._job is None and not self._status.finished:
            self._guard(self._start_job)
        return self.poll()

    def poll(self):
        if not self._status.finished and self._job is not None:
            self._guard(self._advance)
        return RunStatus(self._status.state, self._status.fraction, self._status.text, self._status.message)

    def cancel(self):
        """Stop the running job; the next poll() takes back what was added and reports CANCELLED."""
        self._cancelled = True
        if self._job is not None:
            self._job.cancel()

    def describe(self):
        """One line per clip: what will be rendered and where it will go."""
        return ["{}: media frames {}-{} with handles {}+{} -> {}".format(
            p.facts.label(), p.range.first, p.range.last, p.range.head, p.range.tail, os.path.dirname(p.output))
            for p in self.plans]

    # ----------------------------------------------------------------- steps
    def _guard(self, step):
        try:
            step()
        except USER_ERRORS as error:
            self._finish(FAILED, str(error))
        except Exception as error:  # the host must hear about it, and the project must be left clean
            self._finish(FAILED, "unexpected error: {}: {}".format(type(error).__name__, error))

    def _start_job(self):
        plan = self.plans[self._index]
        folder = os.path.dirname(plan.output)
        if not os.path.isdir(folder):
            try:
                os.makedirs(folder)
            except OSError as error:
                raise logic.PlanError("cannot create the results folder {}: {}".format(folder, error))
            self._folders.append(folder)
        self._job = self.make_job(plan.media.path, plan.output, plan.start, plan.stop,
                                  logic.clip_params(self.params, plan.facts), self.roots)
        self._job.start()
        self._set(RUNNING, self._index / float(len(self.plans)), self._line(plan, "connecting"))

    def _advance(self):
        plan = self.plans[self._index]
        status = self._job.status()
        if not status.finished:
            fraction = (self._index + status.fraction) / float(len(self.plans))
            self._set(RUNNING, fraction, self._line(plan, status.text()))
            return
        if self._cancelled or status.state == bridge.job.CANCELLED:
            self._finish(CANCELLED, "cancelled: the timeline and media pool are as they were")
            return
        if status.state == bridge.job.FAILED:
            self._finish(FAILED, "{}: {}".format(plan.facts.label(), status.message))
            return
        first, last = logic.rendered_frames(plan.output, plan.range.count)
        media_item = self.changes.import_sequence(plan.output, first, last)
        _, track = self.changes.place(media_item, plan)
        self.placed.append((plan, track))
        self._index += 1
        if self._index < len(self.plans):
            self._start_job()
        else:
            self._finish(DONE, self._summary())

    # ----------------------------------------------------------------- endings
    def _finish(self, state, message):
        if state != DONE:
            problems = self.changes.undo()
            self._remove_outputs()
            if problems:
                message += ". Could not undo everything; please " + ", ".join(problems)
        self._job = None
        self._set(state, 1.0 if state == DONE else self._status.fraction, state, message)

    def _remove_outputs(self):
        for plan in self.plans:
            for path in logic.rendered_files(plan.output):
                try:
                    os.remove(path)
                except OSError:
                    pass
        for folder in reversed(self._folders):
            try:
                os.rmdir(folder)
            except OSError:
                pass

    def _summary(self):
        preset = self.params.get("preset")
        lines = ["Deflickered {} clip(s) into the '{}' bin{}:".format(
            len(self.placed), logic.BIN_NAME, " with preset '{}'".format(preset) if preset else "")]
        for plan, track in self.placed:
            lines.append("  {} -> V{} at frame {}, {} frames".format(plan.facts.label(), track, plan.facts.record,
                                                                   plan.count))
        if self.skipped:
            lines.append("Skipped: " + "; ".join(self.skipped))
        return "\n".join(lines)

    def _line(self, plan, text):
        return "clip {}/{} {}: {}".format(self._index + 1, len(self.plans), plan.facts.name, text)

    def _set(self, state, fraction, text, message=""):
        self._status = RunStatus(state, fraction, text, message)
