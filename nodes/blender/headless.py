# SPDX-License-Identifier: GPL-3.0-or-later
"""Analyse / render a Deflicker node synchronously, for `blender -b` scripts and `bpy` as a module.

There, timers never fire (no event loop runs), so this pumps the same `Runner.tick` the timer
would call, sleeping between polls. Returns the job's final bridge.JobStatus; never raises for a
job's failure (its `message` says what went wrong, as the UI would report it).
"""
import time

from .deps import bridge

from . import paths, runtime, sources


def start(scene, node, action=runtime.RENDER, address=None, start_server=True, location=paths.CACHE,
          tree=None, report=None):
    """Start the node's job as the Analyse/Render buttons do; returns the Runner, or a failed JobStatus
    when the job cannot start (no source, range outside the media...)."""
    from . import state, tree as trees
    session = state.session
    if session is None:
        return bridge.JobStatus(state=bridge.job.FAILED, message="the Deflicker add-on is not registered")
    tree = tree or trees.compositor_tree(scene)
    settings = runtime.Settings(address, start_server, location)
    try:
        return session.start(scene, tree, node, action, settings, report or _print)
    except (sources.MediaError, paths.LocationError, OSError) as error:
        return bridge.JobStatus(state=bridge.job.FAILED, message=str(error))


def pump(runner, timeout=None):
    """Poll `runner` until its job ends (cancelling it after `timeout` seconds); its final JobStatus."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        delay = runner.tick()
        if delay is None:
            return runner.status
        if deadline is not None and time.monotonic() > deadline:
            runner.cancel()
            deadline = None
        time.sleep(delay)


def run(scene, node, action=runtime.RENDER, timeout=None, **options):
    """start() then pump(): the whole job, synchronously."""
    runner = start(scene, node, action, **options)
    if isinstance(runner, bridge.JobStatus):
        return runner
    return pump(runner, timeout)


def _print(level, message):
    print("{}: {}".format(level, message))
