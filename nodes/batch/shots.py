"""Which shots a batch command line names, and where each one's output goes.

A SHOT argument may be a video file, a numbered pattern (`plate.%04d.exr`, `plate.####.exr`), a
folder of frames (one shot), a folder of shots (each video and each frame folder in it), or a glob
of any of these; `--list FILE` adds one such entry per line (`#` comments, paths relative to the
list file). Outputs mirror the input's form under OUTDIR: a video keeps its name, a frame folder
its folder name, a pattern goes into a folder named after its own folder.
"""
from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional

VIDEO_EXTS = {".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mxf", ".mts", ".m2ts", ".ts", ".mpg", ".mpeg"}
VIDEO_OUTPUT_EXTS = {".mp4", ".mov", ".mkv", ".avi"}
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr"}
PATTERN = re.compile(r"%0?\d*d|#+")
GLOB = re.compile(r"[*?\[]")


@dataclass
class Shot:
    source: str                     # absolute path, folder or pattern
    output: str = ""                # absolute output path (set by assign_outputs)
    error: Optional[str] = None     # why it cannot be processed (reported as a failed shot)

    @property
    def name(self) -> str:
        path = Path(self.source)
        return f"{path.parent.name}/{path.name}" if PATTERN.search(path.name) else path.name


def _has_frames(folder: Path) -> bool:
    try:
        return any(p.suffix.lower() in IMAGE_EXTS and p.is_file() and not p.name.startswith(".")
                   for p in folder.iterdir())
    except OSError:
        return False


def _from_folder(folder: Path) -> List[Shot]:
    if _has_frames(folder):
        return [Shot(str(folder))]
    found = []
    for child in sorted(folder.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_file() and child.suffix.lower() in VIDEO_EXTS:
            found.append(Shot(str(child)))
        elif child.is_dir() and _has_frames(child):
            found.append(Shot(str(child)))
    if not found:
        return [Shot(str(folder), error="holds no video files and no frames")]
    return found


def expand(entry: str, base: Optional[Path] = None) -> List[Shot]:
    """Shots named by one command-line or list-file entry."""
    path = Path(os.path.expanduser(entry))
    if base is not None and not path.is_absolute():
        path = base / path
    path = Path(os.path.abspath(path))
    if PATTERN.search(path.name):
        if not path.parent.is_dir():
            return [Shot(str(path), error=f"folder {path.parent} does not exist")]
        return [Shot(str(path))]
    if GLOB.search(str(path)):
        matches = sorted(glob.glob(str(path)))
        if not matches:
            return [Shot(str(path), error="matches nothing")]
        return [shot for match in matches for shot in expand(match)]
    if path.is_dir():
        return _from_folder(path)
    if not path.exists():
        return [Shot(str(path), error="does not exist")]
    if path.suffix.lower() in VIDEO_EXTS:
        return [Shot(str(path))]
    if path.suffix.lower() in IMAGE_EXTS:
        return [Shot(str(path), error="is a single image; pass its folder or a pattern such as name.%04d"
                                      f"{path.suffix}")]
    return [Shot(str(path), error="is not a video, a frame folder or a pattern")]


def read_list(list_file: Path) -> List[str]:
    """Entries of a list file: one per line, blank lines and `#` comments skipped."""
    lines = Path(list_file).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def collect(entries: Iterable[str], list_files: Iterable[Path] = ()) -> List[Shot]:
    """Every shot, once, in the order given (duplicates dropped)."""
    shots: List[Shot] = []
    for entry in entries:
        shots += expand(entry)
    for list_file in list_files:
        base = Path(list_file).resolve().parent
        shots += [shot for entry in read_list(list_file) for shot in expand(entry, base)]
    unique, seen = [], set()
    for shot in shots:
        if shot.source not in seen:
            seen.add(shot.source)
            unique.append(shot)
    return unique


def output_for(shot: Shot, outdir: Path) -> Path:
    path = Path(shot.source)
    if PATTERN.search(path.name):
        return outdir / path.parent.name / path.name
    if path.suffix.lower() in VIDEO_EXTS:
        ext = path.suffix.lower() if path.suffix.lower() in VIDEO_OUTPUT_EXTS else ".mov"
        return outdir / (path.stem + ext)
    return outdir / path.name


def _numbered(path: Path, n: int) -> Path:
    if PATTERN.search(path.name):
        return path.parent.with_name(f"{path.parent.name}_{n}") / path.name
    return path.with_name(f"{path.stem}_{n}{path.suffix}")


def assign_outputs(shots: List[Shot], outdir: Path) -> None:
    """Set every shot's output under `outdir`; name clashes get _2, _3... in order."""
    taken = set()
    for shot in shots:
        target = output_for(shot, outdir)
        n = 1
        while str(target) in taken:
            n += 1
            target = _numbered(output_for(shot, outdir), n)
        taken.add(str(target))
        shot.output = str(target)
