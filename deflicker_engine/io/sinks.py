"""Writing clips: `open_sink` picks a video file, a frame folder or a numbered pattern from the output
path, converts frames only where the format needs it, and publishes atomically (see staging)."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable, List, Tuple, Union

import numpy as np

from ..errors import OutputError
from .colour import convert_frame
from .encoder import VideoWriter, choose_codec
from .exr import STORABLE as EXR_STORABLE, write_exr
from .guard import check_output_path, check_writable, output_kind
from .images import STORABLE as IMAGE_STORABLE, write_image
from .info import ClipInfo, frame_signature
from .paths import ext_of, frame_number, image_format, is_pattern, printf_pattern
from .staging import StagedFile, StagedFiles, StagedFolder

STORABLE = {**IMAGE_STORABLE, **EXR_STORABLE}


class FrameSink:
    """Receives exactly `info.count` native frames of `info`'s shape and dtype, in order.

    Use as a context manager: a clean exit publishes the output; an exception (or a wrong frame
    count) removes everything written and publishes nothing.
    """

    def __init__(self, path: Path, info: ClipInfo, stored: ClipInfo) -> None:
        self.path, self.info, self._stored = path, info, stored
        self._written, self._done = 0, False

    def __enter__(self) -> "FrameSink":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self.abort()
            return False
        self.close()
        return False

    def write(self, frame: np.ndarray) -> None:
        """Append the next frame (native dtype, RGB(A), H x W x C)."""
        if self._done:
            raise OutputError(f"{self.path}: the sink is already closed")
        if not isinstance(frame, np.ndarray) or frame.shape != self.info.shape or str(frame.dtype) != self.info.dtype:
            got = frame_signature(frame) if isinstance(frame, np.ndarray) else type(frame).__name__
            want = "x".join(map(str, self.info.shape)) + f" {self.info.dtype}"
            raise OutputError(f"frame {self._written} for {self.path} is {got}, expected {want}")
        if self._written >= self.info.count:
            raise OutputError(f"{self.path} expects {self.info.count} frames; got more")
        self._put(convert_frame(frame, self.info, self._stored), self._written)
        self._written += 1

    def close(self) -> None:
        """Publish if every frame arrived; otherwise discard and raise OutputError."""
        if self._done:
            return
        if self._written != self.info.count:
            self.abort()
            raise OutputError(f"{self.path} received {self._written} of {self.info.count} frames; "
                              "nothing was written")
        try:
            self._finish()
        except BaseException:
            self.abort()
            raise
        self._done = True

    def abort(self) -> None:
        """Discard everything written so far; safe to call twice."""
        if not self._done:
            self._done = True
            self._discard()

    def _put(self, frame: np.ndarray, index: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _finish(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _discard(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class VideoSink(FrameSink):
    """One video file, encoded by the policy in `encoder` and renamed into place when complete."""

    def __init__(self, path: Path, info: ClipInfo) -> None:
        codec = choose_codec(ext_of(path), info.dtype, info.channels, info.width, info.height)
        super().__init__(path, info, dataclasses.replace(info, dtype=codec.dtype, encoding="srgb"))
        self.codec = codec
        self._staged = StagedFile(path)
        try:
            self._writer = VideoWriter(str(self._staged.temp), ext_of(path), codec, info.width, info.height,
                                       info.rate)
        except BaseException:
            self._staged.abort()
            raise

    def _put(self, frame: np.ndarray, index: int) -> None:
        self._writer.write(frame)

    def _finish(self) -> None:
        self._writer.finish()
        self._staged.commit()

    def _discard(self) -> None:
        self._writer.abort()
        self._staged.abort()


class ImageSink(FrameSink):
    """One image file per frame, named `names[i]`, staged in a folder (new, swapped, or merged)."""

    def __init__(self, path: Path, info: ClipInfo, stored: ClipInfo, names: List[str], folder: Path) -> None:
        super().__init__(path, info, stored)
        ext = image_format(Path(names[0]).suffix)
        self._names = names
        self._write: Callable[[str, np.ndarray], None] = (
            write_exr if ext == ".exr" else (lambda p, f: write_image(p, f, ext)))
        # a pattern into an existing folder merges its files in; otherwise the whole folder is staged
        merge = folder != path and folder.is_dir()
        self._staged = StagedFiles(folder, path.name) if merge else StagedFolder(folder)

    def _put(self, frame: np.ndarray, index: int) -> None:
        self._write(str(self._staged.temp / self._names[index]), frame)

    def _finish(self) -> None:
        if isinstance(self._staged, StagedFiles):
            self._staged.commit(self._names)
        else:
            self._staged.commit()

    def _discard(self) -> None:
        self._staged.abort()


def stored_info(info: ClipInfo, ext: str) -> ClipInfo:
    """How an image format stores this clip: the same dtype when it can, else the closest it can."""
    storable = STORABLE[ext]
    if info.dtype in storable:
        dtype = info.dtype
    elif ext == ".exr":
        dtype = "float16" if info.dtype == "uint8" else "float32"
    elif info.dtype.startswith("float") and "float32" in storable:
        dtype = "float32"
    else:
        dtype = storable[-1] if info.dtype != "uint8" else storable[0]
    if ext == ".exr":
        encoding = "linear"
    elif dtype.startswith("float"):
        encoding = info.encoding
    else:
        encoding = "srgb"
    return dataclasses.replace(info, dtype=dtype, encoding=encoding)


def _numbers(like: ClipInfo, count: int) -> List[int]:
    """The input's own frame numbers when it is a numbered sequence of the same length, else 0, 1, ..."""
    if like.kind == "sequence" and like.names and len(like.names) == count:
        numbers = [frame_number(name) for name in like.names]
        if None not in numbers and len(set(numbers)) == count:
            return numbers
        if numbers[0] is not None:
            return list(range(numbers[0], numbers[0] + count))
    return list(range(count))


def _folder_plan(info: ClipInfo, like: ClipInfo) -> Tuple[List[str], ClipInfo]:
    """File names and stored format of a folder output (see open_sink)."""
    if like.kind == "sequence" and like.names:
        if len(like.names) == info.count:
            names = list(like.names)
        else:
            names = [f"frame_{i:06d}{Path(like.names[0]).suffix}" for i in range(info.count)]
        return names, stored_info(info, image_format(Path(names[0]).suffix))
    if info.dtype.startswith("float"):
        return [f"frame_{i:06d}.exr" for i in range(info.count)], stored_info(info, ".exr")
    return [f"frame_{i:06d}.png" for i in range(info.count)], dataclasses.replace(info, dtype="uint16", encoding="srgb")


def open_sink(path: Union[str, "os.PathLike[str]"], info: ClipInfo, *, like=None) -> FrameSink:
    """A sink for `info.count` frames of `info` at `path` (video file, folder, or `name.%04d.ext` pattern).

    `like` (a ClipInfo or FrameSource, default `info`) is the input whose naming the output copies:
    a folder output reuses its file names, format and bit depth (video or spooled input gives 16-bit
    PNG `frame_000000.png`..., float input EXR), a pattern output uses its frame numbers (else 0, 1, ...).
    Frames are converted only where the format cannot store `info.dtype` (see stored_info, encoder).
    The sink refuses paths that would overwrite `info.path` or `like.path` (see check_output_path).
    """
    like_info: ClipInfo = getattr(like, "info", like) if like is not None else info
    target = Path(os.path.abspath(os.fspath(path)))
    kind = output_kind(target)
    for source in {info.path, like_info.path}:
        if source and (Path(source).exists() or is_pattern(source)):
            check_output_path(source, target)
    check_writable(target, kind)
    if info.count < 1:
        raise OutputError(f"{target}: a clip needs at least one frame")
    if kind == "video":
        return VideoSink(target, info)
    if kind == "folder":
        names, stored = _folder_plan(info, like_info)
        return ImageSink(target, info, stored, names, folder=target)
    printf = printf_pattern(target.name)
    names = [printf % number for number in _numbers(like_info, info.count)]
    stored = stored_info(info, image_format(Path(names[0]).suffix))
    return ImageSink(target, info, stored, names, folder=target.parent)
