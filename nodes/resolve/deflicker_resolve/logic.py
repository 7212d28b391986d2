# SPDX-License-Identifier: Apache-2.0
"""Pure planning for the Resolve script: which source frames to deflicker, where the result goes, and
the clip-info dicts that place it. No Resolve calls here; `edit` reads Resolve into `ClipFacts`.

Frame conventions this module relies on (sources in docs/hosts/resolve.md, "How frames line up"):
- TimelineItem.GetStart() is the record frame of the item's first frame, absolute (a timeline that
  starts at 01:00:00:00 at 24 fps starts at frame 86400); GetDuration() counts record frames;
  GetEnd() == GetStart() + GetDuration(), one past the last frame.
- TimelineItem.GetLeftOffset() is how far the item could be extended to the left, i.e. the number of
  media frames before its first used frame: the 0-based media position of that frame (when the clip
  plays at the timeline's rate, which `plan_clip` checks).
- MediaPool.AppendToTimeline clip infos take "startFrame"/"endFrame" as 0-based media positions and
  "recordFrame" as an absolute record frame; "trackIndex" is 1-based. "endFrame" is exclusive from
  Resolve 19 on and inclusive before (it changed between 18.6 and 19.1); `edit` reads the placed
  item back and corrects a wrong guess.
- MediaPool.ImportMedia([{"FilePath": "name_%04d.ext", "StartIndex": a, "EndIndex": b}]) imports the
  files numbered a..b, both inclusive; Resolve names such a clip (and its "File Path") name_[a-b].ext.
"""
import os
import re

from deflicker_bridge import RangeError, with_handles

BIN_NAME = "Deflicker"
OUTPUT_FOLDER = "Deflicker"
RATE_TOLERANCE = 0.01
SPEED_SLACK = 1                 # frames
SEQUENCE_EXTS = (".png", ".tif", ".tiff", ".exr", ".jpg", ".jpeg", ".dpx")
READABLE_SEQUENCE_EXTS = (".png", ".tif", ".tiff", ".exr", ".jpg", ".jpeg")   # what the engine reads
OUTPUT_EXT = {".png": ".png", ".tif": ".tif", ".tiff": ".tiff", ".exr": ".exr", ".jpg": ".tif", ".jpeg": ".tif"}
MOVIE_OUTPUT_EXT = ".tif"       # lossless, and readable by every edition of Resolve on every platform
MOVIE_NUMBER_WIDTH = 6

_BRACKETS = re.compile(r"^(?P<head>.*)\[(?P<first>\d+)-(?P<last>\d+)\](?P<tail>[^\[\]]*)$")
_PRINTF = re.compile(r"%(0?)(\d*)d")


class PlanError(Exception):
    """A clip cannot be deflickered as it is; the message tells the user why and what to do."""


class ClipFacts(object):
    """What Resolve says about one timeline item, read out once (see edit.read_facts)."""

    __slots__ = ("name", "track", "record", "duration", "left_offset", "right_offset", "file_path",
                 "media_type", "media_frames", "media_fps", "timeline_fps", "source_frames", "colorspace")

    def __init__(self, name, track, record, duration, left_offset, right_offset=None, file_path="",
                 media_type="", media_frames=None, media_fps=None, timeline_fps=None, source_frames=None,
                 colorspace=""):
        self.name, self.track, self.record, self.duration = name, track, record, duration
        self.left_offset, self.right_offset = left_offset, right_offset
        self.file_path, self.media_type = file_path or "", media_type or ""
        self.media_frames, self.media_fps, self.timeline_fps = media_frames, media_fps, timeline_fps
        self.source_frames = source_frames   # GetSourceEndFrame() - GetSourceStartFrame(), when Resolve has them
        self.colorspace = colorspace or ""   # the "Input Color Space" clip property (colour-managed projects)

    def label(self):
        return "'{}' (V{} at frame {})".format(self.name, self.track, self.record)


class SourceMedia(object):
    """The media file(s) behind a clip, as the server opens them.

    `path` is a movie file or a printf pattern; Resolve's position p in the media is the server's
    position `offset + p` (a sequence folder may hold frames before the ones Resolve imported).
    """

    __slots__ = ("path", "folder", "stem", "ext", "sequence", "offset", "count", "number_width")

    def __init__(self, path, stem, ext, sequence, offset=0, count=None, number_width=MOVIE_NUMBER_WIDTH):
        self.path, self.folder = path, os.path.dirname(path)
        self.stem, self.ext, self.sequence = stem, ext, sequence
        self.offset, self.count, self.number_width = offset, count, number_width


class ClipPlan(object):
    """One clip: render media positions `start`..`stop` (server positions, stop exclusive) to `output`
    and place positions `head`..`head + count - 1` of the result at `facts.record`."""

    __slots__ = ("facts", "media", "range", "output")

    def __init__(self, facts, media, frame_range, output):
        self.facts, self.media, self.range, self.output = facts, media, frame_range, output

    @property
    def start(self):
        return self.media.offset + self.range.start

    @property
    def stop(self):
        return self.media.offset + self.range.end + 1

    @property
    def head(self):
        return self.range.head

    @property
    def count(self):
        return self.facts.duration


# ------------------------------------------------------------------ values Resolve hands over as text
def parse_count(value):
    """A frame count from a clip property ("24", "1,234", 24) or None when there is none."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).replace(",", "").strip()
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number >= 0 and number.is_integer() else None


def parse_rate(value):
    """A frame rate from a clip property or timeline setting ("23.976", "24", 25.0), else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        rate = float(str(value).strip())
    except ValueError:
        return None
    return rate if rate > 0 else None


def same_rate(a, b):
    return a is None or b is None or abs(a - b) <= RATE_TOLERANCE


# ------------------------------------------------------------------ source media
def sequence_parts(file_path):
    """("dir/name_%04d.png", 0, 23) for Resolve's "dir/name_[0000-0023].png", else None."""
    folder, name = os.path.split(file_path)
    match = _BRACKETS.match(name)
    if not match:
        return None
    first, last = match.group("first"), match.group("last")
    width = "%0{}d".format(len(first)) if len(first) == len(last) else "%d"
    return os.path.join(folder, match.group("head") + width + match.group("tail")), int(first), int(last)


def numbered_file_parts(file_path, frames):
    """("dir/name_%04d.png", 1001, 1001 + frames - 1) for one numbered frame of a `frames`-long sequence
    (in case a Resolve version spells a sequence's "File Path" as its first file), else None."""
    folder, name = os.path.split(file_path)
    stem, ext = os.path.splitext(name)
    match = re.search(r"(\d+)(?!.*\d)", stem)
    if not match or not frames or frames < 2:
        return None
    digits = match.group(1)
    pattern = stem[:match.start()] + "%0{}d".format(len(digits)) + stem[match.end():] + ext
    return os.path.join(folder, pattern), int(digits), int(digits) + frames - 1


def pattern_numbers(pattern, listdir=os.listdir):
    """Frame numbers of the files that `pattern` ("name_%04d.png") names in its folder, sorted."""
    folder, name = os.path.split(pattern)
    match = _PRINTF.search(name)
    head, tail = name[:match.start()], name[match.end():]
    regex = re.compile(re.escape(head) + r"(\d+)" + re.escape(tail) + r"\Z")
    try:
        names = listdir(folder or ".")
    except OSError:
        return []
    numbers = []
    for entry in names:
        hit = regex.match(entry)
        if hit and name % int(hit.group(1)) == entry:     # the exact spelling the pattern writes
            numbers.append(int(hit.group(1)))
    return sorted(numbers)


def _stem(name):
    stem = os.path.splitext(name)[0]
    return stem.rstrip("._- ") or "clip"


def source_media(facts, listdir=os.listdir, exists=os.path.exists):
    """What the server must open for this clip; PlanError for clips with no readable source file."""
    path = facts.file_path.strip()
    if not path:
        kind = facts.media_type or "generator, title or compound clip"
        raise PlanError("{} has no source file (it is a {}); only clips of video files or image sequences "
                        "can be deflickered".format(facts.label(), kind))
    parts = sequence_parts(path)
    if parts is None and os.path.splitext(path)[1].lower() in SEQUENCE_EXTS:
        parts = numbered_file_parts(path, facts.media_frames)
    if parts is None:
        if not exists(path):
            raise PlanError("the source file of {} is missing: {} (relink the media, then run again)".format(
                facts.label(), path))
        ext = os.path.splitext(path)[1].lower()
        if ext in SEQUENCE_EXTS:
            raise PlanError("{} is a still image ({}); deflickering needs a moving clip".format(facts.label(), path))
        return SourceMedia(path, _stem(os.path.basename(path)), ext, sequence=False)
    pattern, first, last = parts
    ext = os.path.splitext(pattern)[1].lower()
    if ext not in READABLE_SEQUENCE_EXTS:
        raise PlanError("{}: {} image sequences cannot be read by the deflicker engine; convert them to EXR, "
                        "TIFF or PNG".format(facts.label(), ext))
    numbers = pattern_numbers(pattern, listdir)
    present = set(numbers)
    missing = [n for n in range(first, last + 1) if n not in present]
    if missing:
        raise PlanError("the image sequence of {} is missing frame {} ({}); relink or re-render it".format(
            facts.label(), missing[0], os.path.basename(pattern) % missing[0]))
    offset = numbers.index(first)
    width = int(_PRINTF.search(os.path.basename(pattern)).group(2) or 1)
    return SourceMedia(pattern, _stem(os.path.basename(pattern).split("%", 1)[0]), ext, sequence=True,
                       offset=offset, count=last - first + 1, number_width=width)


# ------------------------------------------------------------------ ranges
def media_frame_count(facts, media):
    """Frames in the media pool item: its "Frames" property, else what the path or the offsets say."""
    if facts.media_frames:
        return facts.media_frames
    if media.count:
        return media.count
    if facts.right_offset is not None:
        return facts.left_offset + facts.duration + facts.right_offset
    raise PlanError("cannot tell how many frames the media of {} has (no \"Frames\" clip property)".format(
        facts.label()))


def clip_range(facts, media, handles):
    """The used media positions of the clip plus up to `handles` frames each side that the media has."""
    if facts.duration < 1:
        raise PlanError("{} is empty".format(facts.label()))
    if not same_rate(facts.media_fps, facts.timeline_fps):
        raise PlanError("{} is {:g} fps in a {:g} fps timeline: Resolve then maps frames by time, so source and "
                        "record frames do not line up one to one; deflicker it in a timeline of its own rate"
                        .format(facts.label(), facts.media_fps, facts.timeline_fps))
    check_speed(facts, facts.source_frames)
    first = facts.left_offset
    last = first + facts.duration - 1
    count = media_frame_count(facts, media)
    try:
        frames = with_handles(first, last, handles, 0, count - 1)
    except RangeError as error:
        raise PlanError("{}: {} (is the clip retimed? remove speed changes first)".format(facts.label(), error))
    if facts.right_offset is not None and facts.media_frames:
        check_speed(facts, facts.media_frames - facts.left_offset - facts.right_offset)
    return frames


def check_speed(facts, span):
    """Refuse a retimed clip: the `span` of source frames it plays and its record frames differ in
    number, so placing the deflickered source frame for frame would play it at 100% speed. One frame of
    slack, as GetSourceStartFrame is reported one frame off on some clips."""
    if span is not None and abs(span - facts.duration) > SPEED_SLACK:
        raise PlanError("{} is retimed: it plays {} source frame(s) over {} timeline frames (a speed change "
                        "or retime curve); the result would play at 100% speed. Deflicker the clip at 100% "
                        "speed (Clip Speed / Retime Controls back to 100%), then retime the result".format(
                            facts.label(), span, facts.duration))


# ------------------------------------------------------------------ outputs
def output_folder(media_folder, cache_folder, writable):
    """The "Deflicker" folder beside the media, or inside the cache folder when the media's is read-only."""
    if writable(media_folder):
        return os.path.join(media_folder, OUTPUT_FOLDER)
    return os.path.join(cache_folder, OUTPUT_FOLDER)


def next_version(folder, prefix, listdir=os.listdir):
    """1 + the highest N of files named `prefix`N... in `folder`: earlier results are never overwritten."""
    try:
        names = listdir(folder)
    except OSError:
        return 1
    regex = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = [int(m.group(1)) for m in (regex.match(n) for n in names) if m]
    return max(found) + 1 if found else 1


def output_pattern(folder, media, frame_range, listdir=os.listdir, reserved=()):
    """`folder/<stem>_deflicker_<first>-<last>_v<N>.%0Wd.<ext>`; the server numbers a movie's frames
    from 0 and a sequence's like the source's own numbers. `reserved`: prefixes this run already took."""
    ext = OUTPUT_EXT.get(media.ext, MOVIE_OUTPUT_EXT) if media.sequence else MOVIE_OUTPUT_EXT
    prefix = "{}_deflicker_{}-{}_v".format(media.stem, frame_range.first, frame_range.last)
    version = next_version(folder, prefix, listdir)
    while "{}{}".format(prefix, version) in reserved:
        version += 1
    return os.path.join(folder, "{}{}.%0{}d{}".format(prefix, version, media.number_width, ext))


def plan_clip(facts, handles, folder_for, listdir=os.listdir, exists=os.path.exists, reserved=()):
    """Everything needed to deflicker one clip, or PlanError. `folder_for(media_folder)` picks where
    results go (see output_folder)."""
    media = source_media(facts, listdir, exists)
    frame_range = clip_range(facts, media, handles)
    folder = folder_for(media.folder)
    return ClipPlan(facts, media, frame_range, output_pattern(folder, media, frame_range, listdir, reserved))


def version_key(pattern):
    """The `<stem>_..._v<N>` part of an output pattern (what output_pattern's `reserved` holds)."""
    return os.path.basename(pattern).split(".%", 1)[0]


def rendered_frames(pattern, expected, listdir=os.listdir):
    """(first number, last number) of the frames the server wrote for `pattern`; PlanError unless there
    are exactly `expected` of them, numbered without gaps."""
    numbers = pattern_numbers(pattern, listdir)
    if len(numbers) != expected or (numbers and numbers[-1] - numbers[0] + 1 != expected):
        raise PlanError("the server wrote {} frame(s) for {} but {} were asked for".format(
            len(numbers), os.path.basename(pattern), expected))
    return numbers[0], numbers[-1]


def rendered_files(pattern, listdir=os.listdir):
    folder, name = os.path.split(pattern)
    return [os.path.join(folder, name % n) for n in pattern_numbers(pattern, listdir)]


def import_info(pattern, first, last):
    """The ImportMedia clip info for frames `first`..`last` (inclusive) of an image sequence."""
    return {"FilePath": pattern, "StartIndex": int(first), "EndIndex": int(last)}


# ------------------------------------------------------------------ colour
NO_COLORSPACE = ("", "project", "auto", "bypass", "same as timeline")


def clip_params(params, facts):
    """The job's parameters for one clip: an empty `colorspace` (the user left it to the host) becomes the
    clip's own Input Color Space where Resolve names one; without the parameter nothing is added."""
    if "colorspace" not in params or str(params["colorspace"]).strip():
        return dict(params)
    name = facts.colorspace.strip()
    out = dict(params)
    if name.lower() not in NO_COLORSPACE:
        out["colorspace"] = name
    return out


# ------------------------------------------------------------------ the host
def windows_blocked(product, version):
    """True for the free DaVinci Resolve from 19.1 on, which shows no UIManager window of a third-party
    script (Studio does): the script then runs in the console instead."""
    if "studio" in str(product or "").lower():
        return False
    try:
        major, minor = int(version[0]), int(version[1])
    except (TypeError, ValueError, IndexError):
        return False
    return (major, minor) >= (19, 1)


# ------------------------------------------------------------------ placement
def end_frame_inclusive(version):
    """Resolve before 19 reads AppendToTimeline's "endFrame" as the last frame; 19 and later as one past it."""
    try:
        major = int(version[0])
    except (TypeError, ValueError, IndexError):
        return False
    return major < 19


def clip_info(head, count, track, record, inclusive):
    """AppendToTimeline's clip info (without "mediaPoolItem") that places media positions
    `head`..`head + count - 1` on video track `track` (1-based) from absolute record frame `record`."""
    return {"startFrame": int(head), "endFrame": int(head + count - 1 if inclusive else head + count),
            "trackIndex": int(track), "recordFrame": int(record), "mediaType": 1}


def overlaps(spans, start, stop):
    """True when any [a, b) span meets [start, stop)."""
    return any(a < stop and start < b for a, b in spans)


def free_track(spans_of, first, track_count, start, stop):
    """The lowest video track from `first` up that is free over record frames [start, stop); None when
    every existing one is taken there (a new track goes on top). `spans_of(track)` lists [a, b) spans."""
    for track in range(max(1, first), track_count + 1):
        if not overlaps(spans_of(track), start, stop):
            return track
    return None


def run_roots(plans):
    """Folders the server must be allowed to read and write (its --root) when this script starts it."""
    folders = []
    for plan in plans:
        for folder in (plan.media.folder, os.path.dirname(plan.output)):
            if folder not in folders:
                folders.append(folder)
    return folders
