# SPDX-License-Identifier: GPL-3.0-or-later
"""One job's plan, from the node's settings: which source frames the server opens, where it writes.

All frames here are scene frames except `start`/`stop`, the positions in the source the server
opens (docs/protocol.md: positions, 0 = the source's first frame).
"""
from .deps import bridge

from .sources import MediaError


class Plan(object):
    """`frames`: the wanted scene frames with handles (bridge.HandleRange); `output`: the folder the
    server replaces with the deflickered frames (None: analyse only); `roots`: the folders it must
    reach (the output root even when analysing, so a server started then can render later)."""

    __slots__ = ("source", "frames", "start", "stop", "output", "roots", "params")

    def __init__(self, source, frames, start, stop, output, roots, params):
        self.source, self.frames, self.start, self.stop = source, frames, start, stop
        self.output, self.roots, self.params = output, tuple(roots), dict(params)

    @property
    def analyse_only(self):
        return self.output is None

    def __repr__(self):
        return "Plan({} [{}, {}) -> {}, {!r})".format(self.source, self.start, self.stop, self.output, self.frames)


def make_plan(source_map, first, last, handles, params, output=None, output_root=None):
    """The plan for deflickering scene frames `first`..`last` (+ `handles`) of `source_map`.

    Raises MediaError with a message for the user when the range does not fit the source.
    """
    try:
        frames = bridge.with_handles(first, last, handles, source_map.media_first, source_map.media_last)
    except bridge.RangeError as error:
        raise MediaError("{}; set the node's frame range (or the scene's) inside the source, or move the source "
                         "on the timeline with its Start Frame / Offset".format(error))
    roots = [source_map.folder] + ([output_root] if output_root else [])
    return Plan(source_map.path, frames, source_map.position(frames.start), source_map.position(frames.end) + 1,
                output, roots, params)
