"""Naming rules: which paths are videos, image sequences, printf/hash patterns, and how frames sort."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import List, Optional, Tuple

VIDEO_INPUT_EXTS = {".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mxf", ".mts", ".m2ts", ".ts", ".mpg", ".mpeg"}
VIDEO_OUTPUT_EXTS = {".mp4", ".mov", ".mkv", ".avi"}
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr"}

_PRINTF = re.compile(r"%(0?)(\d*)d")
_HASHES = re.compile(r"#+")
_DIGITS = re.compile(r"(\d+)")


def ext_of(path: os.PathLike | str) -> str:
    return Path(path).suffix.lower()


def image_format(ext: str) -> str:
    """Group spellings of one format: ".jpeg" is ".jpg", ".tif" is ".tiff"."""
    return {".jpeg": ".jpg", ".tif": ".tiff"}.get(ext.lower(), ext.lower())


def is_pattern(path: os.PathLike | str) -> bool:
    """True for a numbered-image pattern: `plate.%04d.exr`, `plate.%d.png` or `plate.####.exr`.

    An existing file or folder is never a pattern, whatever its name (`shot#3/` is a folder).
    """
    path = Path(path)
    name = path.name
    return (bool(_PRINTF.search(name) or _HASHES.search(name)) and path.suffix.lower() in IMAGE_EXTS
            and not path.exists())


def printf_pattern(name: str) -> str:
    """Normalise a file-name pattern to printf style (`####` -> `%04d`) with exactly one counter."""
    counters = len(_PRINTF.findall(name)) + len(_HASHES.findall(name))
    if counters != 1:
        raise ValueError(f"'{name}' must hold exactly one frame counter (%04d or ####), found {counters}")
    return _HASHES.sub(lambda m: f"%0{len(m.group())}d", name)


def pattern_parts(pattern: str) -> Tuple[str, str]:
    """The text before and after the counter of a printf pattern: `plate.%04d.exr` -> ("plate.", ".exr")."""
    match = _PRINTF.search(pattern)
    return pattern[:match.start()], pattern[match.end():]


def pattern_regex(pattern: str) -> re.Pattern:
    """A regex that matches file names of a printf pattern and captures the frame number."""
    match = _PRINTF.search(pattern)
    head, tail = re.escape(pattern[:match.start()]), re.escape(pattern[match.end():])
    width = int(match.group(2) or 1) if match.group(1) else 1
    return re.compile(rf"{head}(\d{{{width},}}){tail}\Z")


def match_pattern(folder: Path, pattern: str) -> List[Tuple[int, str]]:
    """(frame number, file name) of every file in `folder` that the pattern would have written, by number."""
    regex = pattern_regex(pattern)
    found = []
    for name in os.listdir(folder):
        hit = regex.match(name)
        if hit and pattern % int(hit.group(1)) == name:
            found.append((int(hit.group(1)), name))
    return sorted(found)


def natural_key(name: str) -> list:
    """Sort key that orders `f2.png` before `f10.png`."""
    return [int(part) if part.isdigit() else part.lower() for part in _DIGITS.split(name)]


def frame_number(name: str) -> Optional[int]:
    """The last run of digits in a file's stem (`plate.1001.exr` -> 1001), or None."""
    runs = _DIGITS.findall(Path(name).stem)
    return int(runs[-1]) if runs else None
