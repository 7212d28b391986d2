"""`open_source`: one entry point that turns a path (or an existing source) into a FrameSource."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from ..errors import InputError
from .base import FrameSource
from .paths import IMAGE_EXTS, VIDEO_INPUT_EXTS, ext_of, is_pattern
from .sequence import open_sequence
from .video import VideoSource


def open_source(path: Union[str, "os.PathLike[str]", FrameSource]) -> FrameSource:
    """A video file, a folder of frames, or a numbered pattern (`plate.%04d.exr`, `plate.####.exr`).

    An existing FrameSource is returned as it is, so callers can accept either.
    """
    if isinstance(path, FrameSource):
        return path
    path = Path(os.path.abspath(os.fspath(path)))
    if is_pattern(path) or path.is_dir():
        return open_sequence(path)
    if not path.exists():
        raise InputError(f"input {path} does not exist")
    ext = ext_of(path)
    if ext in VIDEO_INPUT_EXTS:
        return VideoSource(path)
    if ext in IMAGE_EXTS:
        raise InputError(f"{path} is a single image; pass its folder or a pattern such as "
                         f"{path.parent / ('name.%04d' + ext)}")
    raise InputError(f"{path} is not a supported input ({ext or 'no extension'}); use a video "
                     "(.mp4, .mov, .mkv, .avi), a folder of frames or a pattern such as plate.%04d.exr")
