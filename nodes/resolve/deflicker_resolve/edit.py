# SPDX-License-Identifier: Apache-2.0
"""The Resolve-touching edge: read timeline items into ClipFacts, import results, place them, undo.

Resolve's scripting API reports failure by returning None/False (or an empty list) rather than by
raising, and a method a version lacks reads as None. `call` turns a missing method, and `expect` a
failed answer, into a ResolveError with a message for the user. `Changes` logs every change a run
makes so that `undo()` leaves the timeline and media pool as they were.
"""
from . import logic


class ResolveError(Exception):
    """A Resolve call failed; the message says which and what to do."""


def has(obj, method):
    return obj is not None and callable(getattr(obj, method, None))


def call(obj, method, *args):
    """obj.method(*args), or ResolveError when this Resolve has no such method."""
    if not has(obj, method):
        raise ResolveError("this version of Resolve has no {}(); update Resolve (18.5 or later)".format(method))
    return getattr(obj, method)(*args)


def expect(value, what):
    """`value`, unless Resolve answered None/False/empty for `what`."""
    if value is None or value is False or (isinstance(value, (list, tuple, dict)) and not value):
        raise ResolveError("Resolve refused to {} ({} returned {!r})".format(what[0], what[1], value))
    return value


class Session(object):
    """The open project, its media pool and current timeline, or ResolveError saying what is missing."""

    def __init__(self, resolve):
        if resolve is None:
            raise ResolveError("DaVinci Resolve is not reachable: run the script from Workspace > Scripts, or "
                               "enable Preferences > System > General > External scripting using: Local")
        self.resolve = resolve
        manager = call(resolve, "GetProjectManager")
        self.project = call(manager, "GetCurrentProject") if manager is not None else None
        if self.project is None:
            raise ResolveError("no project is open; open a project and a timeline, then run the script again")
        self.media_pool = call(self.project, "GetMediaPool")
        if self.media_pool is None:
            raise ResolveError("the project has no media pool")
        self.timeline = call(self.project, "GetCurrentTimeline")
        if self.timeline is None:
            raise ResolveError("no timeline is open; open the timeline with the clips to deflicker")
        self.version = resolve.GetVersion() if has(resolve, "GetVersion") else None
        self.timeline_fps = logic.parse_rate(self._setting("timelineFrameRate"))

    def _setting(self, name):
        if has(self.timeline, "GetSetting"):
            value = self.timeline.GetSetting(name)
            if value:
                return value
        return self.project.GetSetting(name) if has(self.project, "GetSetting") else None

    def check_timeline(self):
        """AppendToTimeline places onto the current timeline: it must still be the one the run read."""
        current = self.project.GetCurrentTimeline()
        if current is None or _identity(current) != _identity(self.timeline):
            raise ResolveError("the current timeline changed while deflickering; switch back to '{}' and run the "
                               "script again".format(self.timeline.GetName()))

    # ----------------------------------------------------------------- reading
    def track_count(self):
        return int(call(self.timeline, "GetTrackCount", "video") or 0)

    def items(self, track):
        return list(call(self.timeline, "GetItemListInTrack", "video", track) or [])

    def spans(self, track):
        return [(int(item.GetStart()), int(item.GetStart()) + int(item.GetDuration())) for item in self.items(track)]

    def current_clips(self):
        """[(item, track)] for the clip under the playhead, or ResolveError."""
        item = call(self.timeline, "GetCurrentVideoItem")
        if item is None:
            raise ResolveError("no clip is under the playhead; move the playhead onto the clip to deflicker "
                               "(or choose a track)")
        return [(item, self.track_of(item))]

    def track_clips(self, track):
        count = self.track_count()
        if not 1 <= track <= count:
            raise ResolveError("the timeline has no video track V{} (it has V1-V{})".format(track, count))
        items = self.items(track)
        if not items:
            raise ResolveError("video track V{} holds no clips".format(track))
        return [(item, track) for item in items]

    def track_of(self, item):
        """The 1-based video track of a timeline item."""
        if has(item, "GetTrackTypeAndIndex"):
            kind_index = item.GetTrackTypeAndIndex()
            if kind_index and kind_index[0] == "video":
                return int(kind_index[1])
        key = _identity(item)
        for track in range(1, self.track_count() + 1):
            if any(_identity(other) == key for other in self.items(track)):
                return track
        raise ResolveError("cannot find the track of '{}'".format(item.GetName()))

    def facts(self, item, track):
        media = item.GetMediaPoolItem() if has(item, "GetMediaPoolItem") else None
        prop = (lambda name: media.GetClipProperty(name)) if has(media, "GetClipProperty") else (lambda name: None)
        right = item.GetRightOffset() if has(item, "GetRightOffset") else None
        source = None
        if has(item, "GetSourceStartFrame") and has(item, "GetSourceEndFrame"):
            begin, end = item.GetSourceStartFrame(), item.GetSourceEndFrame()
            source = int(end) - int(begin) if begin is not None and end is not None else None
        return logic.ClipFacts(
            name=item.GetName() or "clip", track=track, record=int(call(item, "GetStart")),
            duration=int(call(item, "GetDuration")), left_offset=int(call(item, "GetLeftOffset")),
            right_offset=None if right is None else int(right),
            file_path=(prop("File Path") or "") if media is not None else "",
            media_type=(prop("Type") or "") if media is not None else "generator or title",
            media_frames=logic.parse_count(prop("Frames")), media_fps=logic.parse_rate(prop("FPS")),
            timeline_fps=self.timeline_fps, source_frames=source,
            colorspace=(prop("Input Color Space") or "") if media is not None else "")


def _identity(obj):
    """What tells two handles of one timeline or timeline item apart (Resolve hands out new proxies)."""
    if has(obj, "GetUniqueId"):
        return obj.GetUniqueId()
    if has(obj, "GetStart"):
        return (obj.GetName(), obj.GetStart(), obj.GetDuration())
    return obj.GetName()


class Changes(object):
    """Everything one run adds to the project, in order, so that `undo()` can take it all back."""

    def __init__(self, session):
        self.session = session
        self.bin = None
        self.bin_created = False
        self.imported = []
        self.placed = []
        self.tracks = []
        self.inclusive = logic.end_frame_inclusive(session.version) if session.version else False

    # ----------------------------------------------------------------- media pool
    def ensure_bin(self):
        """The "Deflicker" bin under the root folder, created on first use."""
        if self.bin is not None:
            return self.bin
        pool = self.session.media_pool
        root = expect(call(pool, "GetRootFolder"), ("read the media pool", "GetRootFolder"))
        for folder in call(root, "GetSubFolderList") or []:
            if folder.GetName() == logic.BIN_NAME:
                self.bin = folder
                return folder
        self.bin = expect(call(pool, "AddSubFolder", root, logic.BIN_NAME),
                          ("create the '{}' bin".format(logic.BIN_NAME), "MediaPool.AddSubFolder"))
        self.bin_created = True
        return self.bin

    def import_sequence(self, pattern, first, last):
        """Import frames first..last of `pattern` into the bin; the user's current bin is kept."""
        pool = self.session.media_pool
        folder = self.ensure_bin()
        previous = pool.GetCurrentFolder() if has(pool, "GetCurrentFolder") else None
        expect(call(pool, "SetCurrentFolder", folder), ("open the '{}' bin".format(logic.BIN_NAME),
                                                        "MediaPool.SetCurrentFolder"))
        try:
            items = call(pool, "ImportMedia", [logic.import_info(pattern, first, last)])
        finally:
            if previous is not None:
                pool.SetCurrentFolder(previous)
        items = expect(items, ("import {}".format(pattern), "MediaPool.ImportMedia"))
        self.imported.extend(items)
        if len(items) != 1:
            raise ResolveError("importing {} made {} media pool clips instead of one (is 'Show Individual "
                               "Frames' on in the Media Pool?)".format(pattern, len(items)))
        return items[0]

    # ----------------------------------------------------------------- timeline
    def target_track(self, above, start, stop):
        """The first video track above `above` free over [start, stop); a new track on top if none."""
        session = self.session
        count = session.track_count()
        track = logic.free_track(session.spans, above + 1, count, start, stop)
        if track is not None:
            return track
        expect(call(session.timeline, "AddTrack", "video"), ("add a video track", "Timeline.AddTrack"))
        added = session.track_count()
        if added != count + 1:
            raise ResolveError("adding a video track left {} tracks instead of {}".format(added, count + 1))
        self.tracks.append(added)
        return added

    def place(self, media_item, plan):
        """Put `plan.count` frames of `media_item` from position `plan.head` on the track above the
        clip at the clip's record frame; the placed item is read back and must match frame for frame."""
        record, count = plan.facts.record, plan.count
        self.session.check_timeline()
        track = self.target_track(plan.facts.track, record, record + count)
        first_guess = self.inclusive
        for inclusive in (first_guess, not first_guess):
            info = logic.clip_info(plan.head, count, track, record, inclusive)
            info["mediaPoolItem"] = media_item
            items = expect(call(self.session.media_pool, "AppendToTimeline", [info]),
                           ("place the result of {} on V{}".format(plan.facts.label(), track),
                            "MediaPool.AppendToTimeline"))
            self.placed.extend(items)
            placed = items[0]
            got = (int(placed.GetStart()), int(placed.GetDuration()))
            if got == (record, count):
                self.inclusive = inclusive
                self._check_placed(placed, plan, track)
                return placed, track
            self._remove(items)
            if got[0] != record or abs(got[1] - count) != 1:
                break
        raise ResolveError("Resolve placed {} frame(s) at frame {} instead of {} at {}; nothing was kept".format(
            got[1], got[0], count, record))

    def _check_placed(self, placed, plan, track):
        if has(placed, "GetLeftOffset") and int(placed.GetLeftOffset()) != plan.head:
            raise ResolveError("Resolve placed the result of {} from media frame {} instead of {}".format(
                plan.facts.label(), placed.GetLeftOffset(), plan.head))
        where = placed.GetTrackTypeAndIndex() if has(placed, "GetTrackTypeAndIndex") else None
        if where and list(where) != ["video", track]:
            raise ResolveError("Resolve placed the result of {} on {} {} instead of video track {}".format(
                plan.facts.label(), where[0], where[1], track))

    def _remove(self, items):
        if not call(self.session.timeline, "DeleteClips", list(items), False):
            raise ResolveError("Resolve could not remove a misplaced clip; delete it by hand (Edit > Undo)")
        self.placed = [p for p in self.placed if all(p is not i for i in items)]

    # ----------------------------------------------------------------- undo
    def undo(self):
        """Take back every change, newest first; returns what could not be undone (empty when all was)."""
        problems = []
        session = self.session
        if self.placed and not session.timeline.DeleteClips(list(self.placed), False):
            problems.append("remove {} placed clip(s) from the timeline".format(len(self.placed)))
        self.placed = []
        for track in sorted(self.tracks, reverse=True):
            if not (has(session.timeline, "DeleteTrack") and session.timeline.DeleteTrack("video", track)):
                problems.append("delete the added video track V{}".format(track))
        self.tracks = []
        if self.imported and not session.media_pool.DeleteClips(list(self.imported)):
            problems.append("delete {} imported clip(s) from the '{}' bin".format(len(self.imported), logic.BIN_NAME))
        self.imported = []
        if self.bin_created and self.bin is not None:
            if not session.media_pool.DeleteFolders([self.bin]):
                problems.append("delete the '{}' bin".format(logic.BIN_NAME))
        self.bin, self.bin_created = None, False
        return problems
