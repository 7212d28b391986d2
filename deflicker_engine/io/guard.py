"""Output path rules: what kind of output a path asks for, and refusing outputs that would touch inputs."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Union

from ..errors import OutputError
from .paths import IMAGE_EXTS, VIDEO_OUTPUT_EXTS, ext_of, is_pattern, pattern_parts, pattern_regex, printf_pattern

PathLike = Union[str, "os.PathLike[str]"]


def output_kind(path: PathLike) -> str:
    """"pattern", "video" or "folder" from the path's spelling; OutputError for anything else."""
    path = Path(path)
    ext = ext_of(path)
    if is_pattern(path):
        try:
            printf_pattern(path.name)
        except ValueError as error:
            raise OutputError(str(error)) from None
        return "pattern"
    if ext in VIDEO_OUTPUT_EXTS:
        return "video"
    if ext in IMAGE_EXTS:
        raise OutputError(f"{path} is a single image but a clip has many frames; give a folder or a "
                          f"pattern such as {re.sub(r'[._-]?[0-9]+$', '', path.stem) or 'frame'}.%04d{ext}")
    if path.is_dir() or not ext:
        return "folder"
    raise OutputError(f"cannot write {ext} files ({path}); use .mp4, .mov, .mkv, .avi, a folder or a pattern")


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a == b or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _source_path(source) -> Path:
    info = getattr(source, "info", source)
    return Path(os.fspath(getattr(info, "path", info)))


def check_output_path(input_path, output_path: PathLike) -> None:
    """OutputError if writing `output_path` could overwrite, replace or land inside the input, or if its
    folder does not exist or is not writable. `input_path` may also be a FrameSource or ClipInfo."""
    source, output = _source_path(input_path), Path(os.path.abspath(output_path))
    kind = output_kind(output)
    target = _real(output)  # resolves links; a name that does not exist yet is kept as it is
    if is_pattern(source):
        folder = _real(source.parent)
        parts = pattern_parts(printf_pattern(source.name))
        clash = target.parent == folder and (
            pattern_regex(printf_pattern(source.name)).match(target.name)
            or (kind == "pattern" and pattern_parts(printf_pattern(target.name)) == parts))
        replaces = kind == "folder" and _inside(folder, target)
        if clash or replaces:
            raise OutputError(f"output {output} would overwrite the input frames {source}; choose another path")
    elif source.is_dir():
        folder = _real(source)
        if _inside(target, folder) or (kind == "folder" and _inside(folder, target)):
            raise OutputError(f"output {output} would write into or replace the input folder {source}; "
                              "write it somewhere outside that folder")
    else:
        if _same_file(target, _real(source)) or (kind == "folder" and _inside(_real(source), target)):
            raise OutputError(f"output {output} is the input {source} (or holds it); choose another path")
    check_writable(output, kind)


def _only_frames(folder: Path) -> bool:
    """True when every entry is an image file (a previous frame output), hidden staging files aside."""
    return all(entry.name.startswith(".") or (entry.is_file() and entry.suffix.lower() in IMAGE_EXTS)
               for entry in folder.iterdir())


def check_writable(output: Path, kind: str) -> None:
    """The folder that will receive the output must exist and accept new files."""
    if kind == "video" and output.is_dir():
        raise OutputError(f"{output} is a folder; give a video file name such as {output / 'out.mp4'}")
    if kind == "folder" and output.exists() and not output.is_dir():
        raise OutputError(f"{output} is an existing file; give a folder path for a frame folder")
    if kind == "folder" and output.is_dir() and not _only_frames(output):
        # a folder output replaces the target folder whole: never let a typo wipe a folder of other things
        raise OutputError(f"output folder {output} already holds files other than frames; "
                          "give a new or empty folder (an earlier frame output may be replaced)")
    parent = output.parent
    if kind == "pattern" and not parent.is_dir():
        if parent.exists():
            raise OutputError(f"{parent} is a file, not a folder for the frames of {output.name}")
        parent = parent.parent  # the frames' folder will be created in its parent
    if not parent.is_dir():
        raise OutputError(f"output folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {parent} is not writable; choose a folder you can write to")
