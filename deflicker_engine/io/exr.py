"""OpenEXR frames (half or float, RGB or RGBA, scene-linear) through the OpenEXR package."""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np
import OpenEXR

from ..errors import InputError, OutputError

STORABLE = {".exr": ("float16", "float32")}


def _layout(names, path: str) -> Tuple[str, ...]:
    """Pick the colour channels: R,G,B(,A), or a single Y/grey channel; refuse anything else."""
    names = set(names)
    if {"R", "G", "B"} <= names:
        return ("R", "G", "B", "A") if "A" in names else ("R", "G", "B")
    if "Y" in names:
        return ("Y", "A") if "A" in names else ("Y",)
    raise InputError(f"EXR {path} has channels {sorted(names)}; it needs R, G, B (and optionally A) or Y")


def _dtype(types) -> str:
    """Half stays half; float, uint or any mixture becomes float32."""
    return "float16" if all(t == "HALF" for t in types) else "float32"


def probe_exr(path: str) -> Optional[Tuple[int, int, int, str]]:
    """(width, height, channels, dtype) from the header only; None if the header cannot be read."""
    try:
        handle = OpenEXR.InputFile(path)
        try:
            header = handle.header()
        finally:
            handle.close()
    except Exception:  # OpenEXR raises plain OSError/RuntimeError for anything; decode will name it
        return None
    window = header["dataWindow"]
    try:
        layout = _layout(header["channels"].keys(), path)
    except InputError:
        return None
    types = [str(header["channels"][name].type) for name in layout]
    channels = 4 if layout[-1] == "A" else 3
    return window.max.x - window.min.x + 1, window.max.y - window.min.y + 1, channels, _dtype(types)


def read_exr(path: str) -> np.ndarray:
    """The data window's pixels as H x W x 3|4, float16 if every used channel is half, else float32."""
    try:
        planes: Dict[str, np.ndarray] = {name: channel.pixels for name, channel in
                                         OpenEXR.File(path, separate_channels=True).channels().items()}
    except Exception:  # OpenEXR reports every failure as a generic exception with a multi-line text
        raise InputError(f"cannot read EXR {path}: the file is damaged or not an EXR image") from None
    layout = _layout(planes.keys(), path)
    dtype = _dtype("HALF" if planes[name].dtype == np.float16 else "FLOAT" for name in layout)
    colour = [planes[name].astype(dtype, copy=False) for name in layout if name != "A"]
    if len(colour) == 1:
        colour = colour * 3
    if layout[-1] == "A":
        colour.append(planes["A"].astype(dtype, copy=False))
    return np.ascontiguousarray(np.stack(colour, axis=2))


def write_exr(path: str, frame: np.ndarray) -> None:
    """Write a float16/float32 RGB(A) frame with lossless ZIP compression."""
    names = ("R", "G", "B", "A")[: frame.shape[2]]
    planes = {name: np.ascontiguousarray(frame[:, :, i]) for i, name in enumerate(names)}
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    try:
        OpenEXR.File(header, planes).write(path)
    except Exception as error:
        raise OutputError(f"cannot write EXR {path}: {error}") from None
