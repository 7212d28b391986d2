"""`open_source`: one entry point that turns a path (or an existing source) into a FrameSource."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Optional, Union

from ..errors import InputError
from .base import FrameSource
from .info import ClipInfo
from .ocio import ColourTransform, colour_transform
from .paths import IMAGE_EXTS, VIDEO_INPUT_EXTS, ext_of, is_pattern
from .sequence import open_sequence
from .video import VideoSource


def open_source(path: Union[str, "os.PathLike[str]", FrameSource], colorspace: str = "") -> FrameSource:
    """A video file, a folder of frames, or a numbered pattern (`plate.%04d.exr`, `plate.####.exr`).

    `colorspace` names the clip's colour space in the OpenColorIO config ($OCIO, else OCIO's built-in
    ACES studio config); empty lets the file decide (EXR scene-linear, everything else sRGB). It is chosen
    here, once per clip, and travels on `source.info.colour`. An existing FrameSource is returned as it
    is (with the colour space attached when one is named), so callers can accept either.
    """
    colour = colour_transform(colorspace)  # an unknown name fails before any file is touched
    if isinstance(path, FrameSource):
        return with_colour(path, colour) if colour is not None else path
    source = _open(path)
    return with_colour(source, colour) if colour is not None else source


def with_colorspace(info: ClipInfo, colorspace: str) -> ClipInfo:
    """`info` with the colour space `colorspace` attached (a copy; empty returns `info` as it is).

    For code that gets a source opened elsewhere and the colour space as a parameter (the engine's
    analyse and render): it changes no shared object, so jobs on one source cannot disturb each other.
    """
    colour = colour_transform(colorspace)
    return info if colour is None or info.colour == colour else dataclasses.replace(info, colour=colour)


def with_colour(source: FrameSource, colour: Optional[ColourTransform]) -> FrameSource:
    """Attach (or with None, remove) a clip's colour handling; returns the same source."""
    if source.info.colour != colour:
        source._info = dataclasses.replace(source.info, colour=colour)
    return source


def _open(path: Union[str, "os.PathLike[str]"]) -> FrameSource:
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
