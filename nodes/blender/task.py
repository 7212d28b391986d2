# SPDX-License-Identifier: GPL-3.0-or-later
"""One analyse or render of one node: a bridge.Job polled by the host, plus what its output holds.

Plain Python (no bpy): Blender's timer and the headless pump both call `status()` until it is
finished; a failure becomes a message for the user, never an exception in the host.
"""
import os

from .deps import bridge

from . import messages
from .sources import result_files


class NodeTask(object):
    """Run `plan` against the server at `address`; start one there if none answers and `start_server`."""

    def __init__(self, plan, address, start_server=True, name="deflicker-blender", job_class=None):
        self.plan = plan
        self.address = address
        self.start_server = start_server
        self.name = name
        self.job = (job_class or bridge.Job)(plan.source, plan.output, plan.start, plan.stop, plan.params,
                                             address=address, roots=plan.roots, connect=self._connect, name=name)
        self.cancel_requested = False

    def start(self):
        folders = list(self.plan.roots)
        if self.plan.output is not None:
            folders.append(os.path.dirname(self.plan.output))  # the server writes into an existing parent
        for folder in folders:
            if not os.path.isdir(folder):
                os.makedirs(folder)
        self.job.start()
        return self

    def status(self):
        """The job's JobStatus, its failure message made actionable. Cancelled before any work was sent
        is cancelled at once: the job thread, maybe still starting a server, ends on its own and sends
        nothing (bridge.Job checks for a cancel once connected)."""
        status = self.job.status()
        if status.state == bridge.job.FAILED:
            status.message = messages.explain(status.message, self.address)
        elif self.cancel_requested and status.state in (bridge.job.PENDING, bridge.job.CONNECTING):
            status = bridge.JobStatus(state=bridge.job.CANCELLED, message="cancelled")
        return status

    def cancel(self):
        self.cancel_requested = True
        self.job.cancel()

    def wait(self, timeout=None):
        self.job.wait(timeout)
        return self.status()

    def result_files(self):
        """The rendered frames in order; empty unless the render is done and wrote every frame."""
        if self.plan.output is None:
            return []
        files = result_files(self.plan.output)
        return files if len(files) == self.plan.frames.count else []

    # ----------------------------------------------------------------- worker thread
    def _connect(self):
        # the home folder too (the server's own default), so the next node's footage is likely readable
        roots = self.plan.roots + (os.path.expanduser("~"),)
        return bridge.connector(self.address, roots, self.start_server, self.name, no_server=messages.no_server)()
