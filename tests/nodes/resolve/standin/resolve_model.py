# SPDX-License-Identifier: Apache-2.0
"""A stand-in for DaVinci Resolve's scripting objects: exactly the calls the Deflicker script uses,
with Resolve's documented conventions and quirks, and real media underneath.

What it follows, and where that is written down:
- Method names, arguments and return types: the scripting README that ships with Resolve
  (Developer/Scripting/README.txt; formatted copies: deric/DaVinciResolve-API-Docs README.md,
  "Last Updated: 3 October 2024", and b3n0y/ResolveDevDoc docs/source/readme_resolveapi*.rst):
  Resolve.GetProjectManager/GetVersion/GetVersionString/GetProductName/Fusion,
  ProjectManager.GetCurrentProject, Project.GetMediaPool/GetCurrentTimeline/GetSetting,
  MediaPool.GetRootFolder/GetCurrentFolder/SetCurrentFolder/AddSubFolder/ImportMedia/AppendToTimeline/
  CreateEmptyTimeline/DeleteClips/DeleteFolders, Folder.GetName/GetClipList/GetSubFolderList/GetUniqueId,
  MediaPoolItem.GetName/GetClipProperty/GetMediaId/GetUniqueId, Project.SetCurrentTimeline,
  Timeline.GetName/GetUniqueId/GetStartFrame/
  GetEndFrame/GetTrackCount/GetItemListInTrack/AddTrack/DeleteTrack/DeleteClips/GetCurrentVideoItem/
  GetCurrentTimecode/SetCurrentTimecode/GetSetting/CreateCompoundClip, TimelineItem.GetName/GetStart/GetEnd/GetDuration/
  GetLeftOffset/GetRightOffset/GetSourceStartFrame/GetSourceEndFrame/GetMediaPoolItem/GetUniqueId/
  GetTrackTypeAndIndex.
- Failure is a return value, never an exception: Bool methods return False, object methods None,
  list methods an empty list (README: "Returns True if successful", "... and None if it is not").
  `standin_fail` makes the next call(s) of a method return whatever a test asks (None, False, []).
- Track indices are 1-based: "1 <= index <= GetTrackCount(trackType)" (README, GetItemListInTrack,
  DeleteTrack); AddTrack appends a track on top.
- ImportMedia([{"FilePath": "file_%03d.dpx", "StartIndex": 1, "EndIndex": 100}]) "would import clip
  file_[001-100].dpx" (README): both indices inclusive; the item's "File Path" is spelled that way.
  Clip properties are strings ("Frames": "24", "FPS": "24.000").
- AppendToTimeline([{clipInfo}]) takes "mediaPoolItem", "startFrame", "endFrame", "mediaType",
  "trackIndex", "recordFrame" (README) and returns the appended TimelineItems. startFrame/endFrame
  are 0-based positions in the media; "endFrame" is exclusive in Resolve 19 and later (read back on
  Resolve Studio 21.0: startFrame 6254, endFrame 6348 gave a 94-frame item, samuelgursky/
  davinci-resolve-mcp issue #82 and PR #80) but was inclusive in 18.x (nakano000/Resolve_Script PR #23:
  the meaning of "endFrame" changed between 18.6 and 19.1). recordFrame is an absolute record frame:
  a timeline starting at 01:00:00:00 starts at 86400 at 24 fps (samuelgursky/davinci-resolve-mcp
  issue #164; CaptRauti/ResolveMCP-ext release 1.0.1).
- TimelineItem.GetEnd() == GetStart() + GetDuration() (one past the last frame), GetLeftOffset() ==
  GetSourceStartFrame() == the media position of the first used frame, GetSourceEndFrame() ==
  GetSourceStartFrame() + GetDuration() (users' read-back on Resolve 21: GetStart 594, GetEnd 1080,
  GetDuration 486, GetLeftOffset 3151, GetSourceStartFrame 3151, GetSourceEndFrame 3637).
  Timeline.GetEndFrame() is likewise one past the last frame (an empty timeline has
  GetStartFrame() == GetEndFrame(), ResolveMCP-ext 1.0.1).
- GetMediaPoolItem() returns None for generators and titles ("Returns the media pool item
  corresponding to the timeline item if one exists"); GetCurrentVideoItem() is the video item under
  the playhead (the topmost one); GetCurrentTimecode/SetCurrentTimecode move the playhead.
- A retimed item (Clip Speed / Retime Controls) plays its source frames over another number of record
  frames: GetDuration() counts record frames while GetSourceStartFrame()/GetSourceEndFrame() bound the
  source frames it uses (a 50% item of 10 source frames lasts 20 record frames). Scripts that take
  GetLeftOffset() + GetDuration() as the source range put such clips back at 100% speed (the issue 11
  report); `standin_retime` builds one. GetLeftOffset() stays the position of the first source frame.
Not documented, chosen here and never relied on by the script: AppendToTimeline onto frames that a
clip of that track already covers fails (returns []), the script always picks a free track first.

Frame counts and rates come from the media itself (deflicker_engine.io.open_source), so what a test
reads back from the stand-in is what is on disk. Helpers whose names start with `standin_` are for
building scenes in tests; they are not Resolve API.
"""
import itertools
import os
import re

_ids = itertools.count(1)
_BRACKETS = re.compile(r"^(?P<head>.*)\[(?P<first>\d+)-(?P<last>\d+)\](?P<tail>[^\[\]]*)$")
_PRINTF = re.compile(r"%(0?)(\d*)d")
VIDEO_EXTS = {".mp4", ".mov", ".mkv", ".avi", ".mxf"}
NO_RESULT = object()


def _uid(kind):
    return "{}-{:04d}".format(kind, next(_ids))


class _Api(object):
    """Base of every stand-in object: injected failures are looked up by method name."""

    def __init__(self, app):
        self._app = app

    def _injected(self, method):
        return self._app._take_failure(method)


class Resolve(_Api):
    def __init__(self, version=(19, 1, 3, 7, ""), fps=24, timeline_start="01:00:00:00",
                 product="DaVinci Resolve Studio", end_inclusive=None, fusion=None):
        _Api.__init__(self, self)
        self.version = list(version)
        self.product = product
        self.fps = fps
        self.timeline_start = timeline_start
        # how AppendToTimeline reads "endFrame": by version unless a test says otherwise
        self.end_inclusive = self.version[0] < 19 if end_inclusive is None else end_inclusive
        self.fusion = fusion
        self._failures = {}
        self.calls = []
        self.project_manager = ProjectManager(self)

    # --- API
    def GetProjectManager(self):
        return self.project_manager

    def GetVersion(self):
        return list(self.version)

    def GetVersionString(self):
        return "{}.{}.{}{}.{}".format(self.version[0], self.version[1], self.version[2], self.version[4],
                                      self.version[3])

    def GetProductName(self):
        return self.product

    def Fusion(self):
        return self.fusion

    # --- test helpers
    def standin_fail(self, method, returns=None, skip=0, times=1):
        """Let `times` calls of `method` (after `skip` good ones) return `returns` and do nothing.
        `method` is the API name ("ImportMedia", "AppendToTimeline", "DeleteClips" of the media pool,
        "Timeline.DeleteClips", "AddTrack", "DeleteTrack", ...)."""
        self._failures[method] = [skip, times, returns]

    def _take_failure(self, method):
        self.calls.append(method)
        entry = self._failures.get(method)
        if not entry:
            return NO_RESULT
        if entry[0] > 0:
            entry[0] -= 1
            return NO_RESULT
        entry[1] -= 1
        if entry[1] <= 0:
            del self._failures[method]
        return entry[2]

    def standin_snapshot(self):
        """Everything a run may touch, as plain data, for before/after comparisons."""
        project = self.project_manager.project
        pool = project.media_pool

        def folder(f):
            return (f.name, [c.GetUniqueId() for c in f.clips], [folder(s) for s in f.subfolders])
        timelines = []
        for timeline in project.timelines:
            tracks = [[(i.GetName(), i.start, i.duration, i.left, i.media.GetUniqueId() if i.media else None)
                       for i in track] for track in timeline.tracks]
            timelines.append((timeline.name, tracks))
        return {"pool": folder(pool.root), "current_folder": pool.current.name, "timelines": timelines}


class ProjectManager(_Api):
    def __init__(self, app):
        _Api.__init__(self, app)
        self.project = Project(app, "Project")

    def GetCurrentProject(self):
        return self.project

    def standin_close_project(self):
        self.project = None


class Project(_Api):
    def __init__(self, app, name):
        _Api.__init__(self, app)
        self.name = name
        self.media_pool = MediaPool(app, self)
        self.timelines = []
        self.current_timeline = None

    def GetName(self):
        return self.name

    def GetMediaPool(self):
        return self.media_pool

    def GetCurrentTimeline(self):
        return self.current_timeline

    def SetCurrentTimeline(self, timeline):
        if timeline not in self.timelines:
            return False
        self.current_timeline = timeline
        return True

    def GetSetting(self, name=None):
        settings = {"timelineFrameRate": _rate_text(self._app.fps)}
        return settings if name is None else settings.get(name, "")


class Folder(_Api):
    def __init__(self, app, name, parent=None):
        _Api.__init__(self, app)
        self.name, self.parent = name, parent
        self.clips, self.subfolders = [], []
        self.uid = _uid("folder")

    def GetName(self):
        return self.name

    def GetClipList(self):
        return list(self.clips)

    def GetSubFolderList(self):
        return list(self.subfolders)

    def GetUniqueId(self):
        return self.uid


class MediaPoolItem(_Api):
    """A clip in the media pool: a movie, an image sequence, or (file_path "") a compound clip."""

    def __init__(self, app, name, properties, pattern=None, first_number=0):
        _Api.__init__(self, app)
        self.name = name
        self.properties = dict(properties)
        self.pattern, self.first_number = pattern, first_number
        self.uid = _uid("media")

    @property
    def frames(self):
        return int(self.properties.get("Frames") or 0)

    def GetName(self):
        return self.name

    def GetClipProperty(self, name=None):
        if name is None:
            return dict(self.properties)
        return self.properties.get(name, "")

    def GetMediaId(self):
        return self.uid

    def GetUniqueId(self):
        return self.uid

    def standin_file(self, position):
        """The file holding media position `position` (sequences only)."""
        return self.pattern % (self.first_number + position)


class MediaPool(_Api):
    def __init__(self, app, project):
        _Api.__init__(self, app)
        self.project = project
        self.root = Folder(app, "Master")
        self.current = self.root

    def _folders(self, folder=None):
        folder = folder or self.root
        yield folder
        for sub in folder.subfolders:
            for f in self._folders(sub):
                yield f

    def GetRootFolder(self):
        return self.root

    def GetCurrentFolder(self):
        return self.current

    def SetCurrentFolder(self, folder):
        failed = self._injected("SetCurrentFolder")
        if failed is not NO_RESULT:
            return failed
        if not any(folder is f for f in self._folders()):
            return False
        self.current = folder
        return True

    def AddSubFolder(self, folder, name):
        failed = self._injected("AddSubFolder")
        if failed is not NO_RESULT:
            return failed
        if not name or not any(folder is f for f in self._folders()):
            return None
        sub = Folder(self._app, name, folder)
        folder.subfolders.append(sub)
        return sub

    def DeleteFolders(self, folders):
        failed = self._injected("DeleteFolders")
        if failed is not NO_RESULT:
            return failed
        folders = list(folders or [])
        if not folders or any(f is self.root or f.parent is None for f in folders):
            return False
        for f in folders:
            for clip in [c for sub in self._folders(f) for c in sub.clips]:
                self._drop_clip(clip)
            f.parent.subfolders = [s for s in f.parent.subfolders if s is not f]
            if any(self.current is s for s in self._folders(f)):
                self.current = self.root
        return True

    def DeleteClips(self, clips):
        failed = self._injected("DeleteClips")
        if failed is not NO_RESULT:
            return failed
        clips = list(clips or [])
        owned = [c for f in self._folders() for c in f.clips]
        if not clips or any(all(c is not o for o in owned) for c in clips):
            return False
        for clip in clips:
            self._drop_clip(clip)
        return True

    def _drop_clip(self, clip):
        # What Resolve does to timeline uses of a deleted clip is not documented; they stay here, so
        # that a test sees an undo that forgot to take placed clips off the timeline first.
        for f in self._folders():
            f.clips = [c for c in f.clips if c is not clip]

    def ImportMedia(self, items):
        failed = self._injected("ImportMedia")
        if failed is not NO_RESULT:
            return failed
        made = []
        for entry in items or []:
            clip = self._import_one(entry)
            if clip is not None:
                made.append(clip)
        self.current.clips.extend(made)
        return made

    def _import_one(self, entry):
        if isinstance(entry, dict):
            pattern, first, last = entry.get("FilePath"), entry.get("StartIndex"), entry.get("EndIndex")
            if not pattern or first is None or last is None or not _PRINTF.search(os.path.basename(pattern)):
                return None
            return self._sequence(pattern, int(first), int(last))
        path = str(entry)
        ext = os.path.splitext(path)[1].lower()
        if ext not in VIDEO_EXTS or not os.path.isfile(path):
            return None
        from deflicker_engine.io import open_source
        with open_source(path) as source:
            info = source.info
        props = {"File Path": path, "Clip Name": os.path.basename(path), "Type": "Video",
                 "Frames": str(info.count), "FPS": _rate_text(info.fps or self._app.fps),
                 "Resolution": "{}x{}".format(info.width, info.height)}
        return MediaPoolItem(self._app, os.path.basename(path), props)

    def _sequence(self, pattern, first, last):
        if last < first:
            return None
        files = [pattern % n for n in range(first, last + 1)]
        if not all(os.path.isfile(f) for f in files):
            return None
        from deflicker_engine.io import open_source
        with open_source(pattern) as source:        # every frame must read, at one size
            info = source.info
        folder, name = os.path.split(pattern)
        match = _PRINTF.search(name)
        width = int(match.group(2) or 1)
        spelled = "{}[{}-{}]{}".format(name[:match.start()], str(first).zfill(width), str(last).zfill(width),
                                       name[match.end():])
        props = {"File Path": os.path.join(folder, spelled), "Clip Name": spelled, "Type": "Video",
                 "Frames": str(last - first + 1), "FPS": _rate_text(self._app.fps),
                 "Resolution": "{}x{}".format(info.width, info.height)}
        return MediaPoolItem(self._app, spelled, props, pattern=pattern, first_number=first)

    def CreateEmptyTimeline(self, name):
        failed = self._injected("CreateEmptyTimeline")
        if failed is not NO_RESULT:
            return failed
        if not name or any(t.name == name for t in self.project.timelines):
            return None
        timeline = Timeline(self._app, name, self.project)
        self.project.timelines.append(timeline)
        self.project.current_timeline = timeline
        return timeline

    def AppendToTimeline(self, *clips):
        failed = self._injected("AppendToTimeline")
        if failed is not NO_RESULT:
            return failed
        timeline = self.project.current_timeline
        if timeline is None:
            return []
        infos = clips[0] if len(clips) == 1 and isinstance(clips[0], list) else list(clips)
        placed = []
        for info in infos:
            item = timeline.standin_append(info if isinstance(info, dict) else {"mediaPoolItem": info})
            if item is None:
                return placed
            placed.append(item)
        return placed


class Timeline(_Api):
    def __init__(self, app, name, project):
        _Api.__init__(self, app)
        self.name, self.project = name, project
        self.start = timecode_frames(app.timeline_start, app.fps)
        self.tracks = [[]]          # video tracks; a new timeline has V1
        self.playhead = self.start
        self.uid = _uid("timeline")

    def GetName(self):
        return self.name

    def GetUniqueId(self):
        return self.uid

    def GetStartFrame(self):
        return self.start

    def GetEndFrame(self):
        ends = [i.start + i.duration for track in self.tracks for i in track]
        return max(ends) if ends else self.start

    def GetSetting(self, name=None):
        return self.project.GetSetting(name)

    def GetTrackCount(self, track_type):
        return len(self.tracks) if track_type == "video" else 0

    def GetItemListInTrack(self, track_type, index):
        if track_type != "video" or not 1 <= index <= len(self.tracks):
            return None
        return sorted(self.tracks[index - 1], key=lambda i: i.start)

    def AddTrack(self, track_type, sub_track_type=None):
        failed = self._injected("AddTrack")
        if failed is not NO_RESULT:
            return failed
        if track_type != "video":
            return False
        self.tracks.append([])
        return True

    def DeleteTrack(self, track_type, index):
        failed = self._injected("DeleteTrack")
        if failed is not NO_RESULT:
            return failed
        if track_type != "video" or not 1 <= index <= len(self.tracks) or len(self.tracks) == 1:
            return False
        del self.tracks[index - 1]
        return True

    def DeleteClips(self, items, ripple=False):
        failed = self._injected("Timeline.DeleteClips")
        if failed is not NO_RESULT:
            return failed
        items = list(items or [])
        present = [i for track in self.tracks for i in track]
        if not items or any(all(i is not p for p in present) for i in items):
            return False
        self.tracks = [[i for i in track if all(i is not d for d in items)] for track in self.tracks]
        return True

    def GetCurrentTimecode(self):
        return frames_timecode(self.playhead, self._app.fps)

    def SetCurrentTimecode(self, timecode):
        try:
            self.playhead = timecode_frames(timecode, self._app.fps)
        except ValueError:
            return False
        return True

    def GetCurrentVideoItem(self):
        for track in reversed(self.tracks):
            for item in track:
                if item.start <= self.playhead < item.start + item.duration:
                    return item
        return None

    def CreateCompoundClip(self, items, clip_info=None):
        """README: "Creates a compound clip of input timeline items with an optional clipInfo map ... It
        returns the created timeline item." Its media pool item has no file behind it."""
        failed = self._injected("CreateCompoundClip")
        if failed is not NO_RESULT:
            return failed
        items = list(items or [])
        tracks = [i.GetTrackTypeAndIndex() for i in items]
        if not items or None in tracks or len(set(t[1] for t in tracks)) != 1:
            return None
        track = tracks[0][1]
        start = min(i.start for i in items)
        duration = max(i.start + i.duration for i in items) - start
        name = (clip_info or {}).get("name", "Compound Clip 1")
        media = MediaPoolItem(self._app, name, {"Clip Name": name, "Type": "Compound", "File Path": "",
                                                "Frames": str(duration), "FPS": _rate_text(self._app.fps)})
        self.project.media_pool.current.clips.append(media)
        self.tracks[track - 1] = [i for i in self.tracks[track - 1] if all(i is not x for x in items)]
        compound = TimelineItem(self._app, self, name, start, duration, 0, media)
        self.tracks[track - 1].append(compound)
        return compound

    # --- what AppendToTimeline does on this timeline, and scene building
    def standin_append(self, info):
        media = info.get("mediaPoolItem")
        if not isinstance(media, MediaPoolItem) or not media.frames:
            return None
        track = int(info.get("trackIndex", 1))
        if not 1 <= track <= len(self.tracks):
            return None
        first = int(info.get("startFrame", 0))
        end = int(info.get("endFrame", media.frames if not self._app.end_inclusive else media.frames - 1))
        duration = end - first + (1 if self._app.end_inclusive else 0)
        if first < 0 or duration < 1 or first + duration > media.frames:
            return None
        record = int(info.get("recordFrame", self.GetEndFrame()))
        if any(i.start < record + duration and record < i.start + i.duration for i in self.tracks[track - 1]):
            return None
        item = TimelineItem(self._app, self, media.name, record, duration, first, media)
        self.tracks[track - 1].append(item)
        return item

    def standin_add_generator(self, track, record, duration, name="Solid Color"):
        """A generator or title: a timeline item with no media pool item behind it."""
        while len(self.tracks) < track:
            self.tracks.append([])
        item = TimelineItem(self._app, self, name, record, duration, 0, None)
        self.tracks[track - 1].append(item)
        return item


class TimelineItem(_Api):
    def __init__(self, app, timeline, name, start, duration, left, media):
        _Api.__init__(self, app)
        self.timeline, self.name = timeline, name
        self.start, self.duration, self.left, self.media = start, duration, left, media
        self.source_count = duration            # source frames it plays (differs from duration when retimed)
        self.uid = _uid("item")

    def standin_retime(self, speed):
        """Play the same source frames at `speed` (0.5: half speed, twice as many record frames)."""
        self.duration = int(round(self.source_count / float(speed)))
        return self

    def GetName(self):
        return self.name

    def GetStart(self, subframe_precision=False):
        return self.start

    def GetEnd(self, subframe_precision=False):
        return self.start + self.duration

    def GetDuration(self, subframe_precision=False):
        return self.duration

    def GetLeftOffset(self, subframe_precision=False):
        return self.left

    def GetRightOffset(self, subframe_precision=False):
        return (self.media.frames - self.left - self.source_count) if self.media else 0

    def GetSourceStartFrame(self):
        return self.left

    def GetSourceEndFrame(self):
        return self.left + self.source_count

    def GetMediaPoolItem(self):
        return self.media

    def GetUniqueId(self):
        return self.uid

    def GetTrackTypeAndIndex(self):
        for index, track in enumerate(self.timeline.tracks, 1):
            if any(i is self for i in track):
                return ["video", index]
        return None


def _rate_text(fps):
    return "{:.3f}".format(float(fps))


def timecode_frames(timecode, fps):
    """Non-drop "HH:MM:SS:FF" to an absolute frame number at a whole `fps`."""
    parts = [int(p) for p in re.split("[:;]", timecode)]
    if len(parts) != 4:
        raise ValueError(timecode)
    h, m, s, f = parts
    rate = int(round(fps))
    return ((h * 60 + m) * 60 + s) * rate + f


def frames_timecode(frame, fps):
    rate = int(round(fps))
    f = frame % rate
    s = frame // rate
    return "{:02d}:{:02d}:{:02d}:{:02d}".format(s // 3600, s // 60 % 60, s % 60, f)
