# SPDX-License-Identifier: GPL-3.0-or-later
"""Where a source's frames sit on Blender's timeline, and what path the server opens for them.

Blender's rules, checked by rendering numbered frames with Blender 4.5 and 5.0
(tests/nodes/blender/test_blender_frames.py keeps them checked):
- Image (image user, as the node's Start Frame / Offset): scene frame f shows file number
  f - start + 1 + offset of a sequence, and movie frame f - start + offset (0-based) of a movie,
  from f = start - 1 on; before that Blender holds the frame it shows at start - 1.
- Movie Clip (its own Start Frame / Frame Offset): f shows movie frame f - start + offset (0-based),
  and of a sequence the file numbered (number in the clip's file name) + f - start + offset.
The server numbers a sequence's frames by position (0 = the lowest file number), so a sequence
must be contiguous for both to agree.
"""
import os
import re

SEQUENCE, MOVIE = "sequence", "movie"
MOVIE_EXTS = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mxf", ".mts", ".m2ts", ".ts", ".mpg", ".mpeg")
RESULT_EXTS = (".png", ".exr", ".tif", ".tiff")

_LAST_DIGITS = re.compile(r"^(.*?)(\d+)(\D*)$")


class MediaError(Exception):
    """The source cannot be deflickered as it is; the message says what to change."""


def split_number(filename):
    """(head, digits, tail) around the last run of digits of a file name, as Blender reads sequences,
    or None: `plate.1001.exr` -> ("plate.", "1001", ".exr")."""
    stem, ext = os.path.splitext(filename)
    match = _LAST_DIGITS.match(stem)
    if not match:
        return None
    return match.group(1), match.group(2), match.group(3) + ext


def sequence_numbers(path):
    """(printf pattern, sorted frame numbers on disk) of the numbered sequence that `path` belongs to."""
    folder, name = os.path.split(path)
    parts = split_number(name)
    if parts is None:
        raise MediaError("'{}' has no frame number in its name, so it is not an image sequence".format(name))
    head, digits, tail = parts
    width = len(digits)
    try:
        names = os.listdir(folder)
    except OSError as error:
        raise MediaError("cannot read the folder of the sequence {}: {}".format(folder, error.strerror or error))
    numbers = []
    for other in names:
        if other.startswith(head) and other.endswith(tail) and len(other) > len(head) + len(tail):
            middle = other[len(head):len(other) - len(tail)]
            if middle.isdigit() and "%0*d" % (width, int(middle)) == middle:
                numbers.append(int(middle))
    if not numbers:
        raise MediaError("no frames of the sequence {} exist in {}".format(name, folder))
    numbers.sort()
    gaps = [n for n in range(numbers[0], numbers[-1] + 1) if n not in set(numbers)]
    if gaps:
        raise MediaError("the sequence {}{}{} has missing frames ({}{}); render or copy them, or trim the "
                         "sequence to one unbroken run of numbers".format(
                             head, "#" * width, tail, ", ".join(str(n) for n in gaps[:5]),
                             "..." if len(gaps) > 5 else ""))
    pattern = os.path.join(folder, "{}%0{}d{}".format(head.replace("%", "%%"), width, tail.replace("%", "%%")))
    return pattern, numbers


class SourceMap(object):
    """A source the server can open (`path`: a movie file or a printf pattern) whose position 0 plays
    at scene frame `first_frame`; `count` frames. Blender shows them as they are from `shown_from` on."""

    __slots__ = ("kind", "path", "count", "first_frame", "shown_from")

    def __init__(self, kind, path, count, first_frame, shown_from=None):
        self.kind, self.path, self.count, self.first_frame = kind, path, int(count), int(first_frame)
        self.shown_from = self.first_frame if shown_from is None else max(self.first_frame, int(shown_from))

    @property
    def folder(self):
        return os.path.dirname(self.path)

    @property
    def media_first(self):
        return self.shown_from

    @property
    def media_last(self):
        return self.first_frame + self.count - 1

    def position(self, scene_frame):
        return int(scene_frame) - self.first_frame

    def result_ext(self):
        """The deflickered frames' format: the sequence's own where we can read it back, else PNG."""
        ext = os.path.splitext(self.path)[1].lower()
        return ext if self.kind == SEQUENCE and ext in RESULT_EXTS else ".png"

    def __repr__(self):
        return "SourceMap({} {}, {} frames from scene frame {}, shown from {})".format(
            self.kind, self.path, self.count, self.first_frame, self.shown_from)


def _existing(path, what):
    if not path:
        raise MediaError("{} has no file path".format(what))
    if not os.path.isfile(path):
        raise MediaError("{} points to {}, which does not exist; fix its path".format(what, path))
    return os.path.abspath(path)


def image_sequence(path, frame_start, frame_offset, what="the image"):
    """An Image of source SEQUENCE shown through an image user (Start Frame, Offset)."""
    pattern, numbers = sequence_numbers(_existing(path, what))
    return SourceMap(SEQUENCE, pattern, len(numbers), numbers[0] - 1 - frame_offset + frame_start, frame_start - 1)


def clip_sequence(path, frame_start, frame_offset, what="the movie clip"):
    """A Movie Clip of an image sequence: clip frame 1 is the file named in the clip's path."""
    path = _existing(path, what)
    pattern, numbers = sequence_numbers(path)
    named = int(split_number(os.path.basename(path))[1])
    return SourceMap(SEQUENCE, pattern, len(numbers), numbers[0] - named - frame_offset + frame_start)


def movie(path, count, frame_start, frame_offset, what="the movie", image_user=False):
    """A movie file (an Image of source MOVIE through an image user, or a Movie Clip): same rule."""
    path = _existing(path, what)
    if count < 1:
        raise MediaError("{} ({}) has no frames Blender can read".format(what, os.path.basename(path)))
    return SourceMap(MOVIE, path, count, frame_start - frame_offset, frame_start - 1 if image_user else None)


def sequence_offset(path):
    """The image-user offset that plays a sequence's first file at the Start Frame (what Blender's
    Open Image sets): its lowest frame number - 1."""
    return sequence_numbers(path)[1][0] - 1


def result_files(folder):
    """The frames a render wrote into `folder`, in frame order."""
    try:
        names = [n for n in os.listdir(folder) if not n.startswith(".") and n.lower().endswith(RESULT_EXTS)]
    except OSError:
        return []
    keyed = []
    for name in names:
        parts = split_number(name)
        if parts is not None:
            keyed.append((int(parts[1]), name))
    return [os.path.join(folder, name) for _, name in sorted(keyed)]
