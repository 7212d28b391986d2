# SPDX-License-Identifier: Apache-2.0
"""The node's frames on disk: exported input frames moved into place, results checked and pruned.

The server keys its analysis cache on the input files' size, mtime and bytes. The internal Write
renders into `staging/`; `sync_frames` then keeps every input frame whose bytes did not change
(so its mtime stays, and Render after Analyse reuses the analysis) and replaces the others.
"""
import filecmp
import os
import re
from typing import List


class ExportError(Exception):
    """The internal Write did not produce the frames it was asked for."""


def pattern_regex(pattern: str):
    """A regex for the file names of a `name.%04d.exr` pattern, capturing the frame number."""
    name = os.path.basename(pattern)
    head, tail = name.split("%04d")
    return re.compile(r"\A{}(-?\d+){}\Z".format(re.escape(head), re.escape(tail)))


def frames_on_disk(pattern: str) -> List[int]:
    """The frame numbers of the pattern's files that exist, sorted."""
    folder, regex = os.path.dirname(pattern), pattern_regex(pattern)
    if not os.path.isdir(folder):
        return []
    found = []
    for name in os.listdir(folder):
        hit = regex.match(name)
        if hit and pattern % int(hit.group(1)) == os.path.join(folder, name):
            found.append(int(hit.group(1)))
    return sorted(found)


def missing_frames(pattern: str, first: int, last: int) -> List[int]:
    return [f for f in range(first, last + 1) if not os.path.isfile(pattern % f)]


def remove_frames(pattern: str, keep=()) -> int:
    """Delete the pattern's files except frame numbers in `keep`; returns how many were deleted."""
    removed = 0
    for frame in frames_on_disk(pattern):
        if frame not in keep:
            os.remove(pattern % frame)
            removed += 1
    return removed


def sync_frames(staged: str, target: str, first: int, last: int) -> dict:
    """Move the staged frames first..last to the target pattern, keeping unchanged target files as
    they are; remove target frames outside the range. Returns counts: kept, replaced, removed."""
    missing = missing_frames(staged, first, last)
    if missing:
        raise ExportError("the internal Write did not write frame(s) {} to {}".format(
            frame_ranges(missing), os.path.dirname(staged)))
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        os.makedirs(folder)
    kept = replaced = 0
    for frame in range(first, last + 1):
        new, old = staged % frame, target % frame
        if os.path.isfile(old) and filecmp.cmp(new, old, shallow=False):
            os.remove(new)
            kept += 1
        else:
            os.replace(new, old)
            replaced += 1
    removed = remove_frames(target, keep=range(first, last + 1))
    remove_frames(staged)
    return {"kept": kept, "replaced": replaced, "removed": removed}


def prune_results(results_folder: str, keep_pattern: str) -> int:
    """Delete older result files (any `result_*.exr`) but those of `keep_pattern`."""
    if not os.path.isdir(results_folder):
        return 0
    keep = pattern_regex(keep_pattern)
    removed = 0
    for name in os.listdir(results_folder):
        if name.startswith("result_") and name.endswith(".exr") and not keep.match(name):
            os.remove(os.path.join(results_folder, name))
            removed += 1
    return removed


def frame_ranges(frames: List[int]) -> str:
    """[1, 2, 3, 7] -> "1-3, 7"."""
    spans, start = [], None
    for i, frame in enumerate(frames):
        if start is None:
            start = frame
        if i + 1 == len(frames) or frames[i + 1] != frame + 1:
            spans.append(str(start) if start == frame else "{}-{}".format(start, frame))
            start = None
    return ", ".join(spans)
