"""PNG, JPEG and TIFF frames through OpenCV, always handed over as RGB(A), never BGR."""
from __future__ import annotations

import cv2
import numpy as np

from ..errors import InputError, OutputError

# Sample types each format can store; anything else is converted on write (see sinks).
STORABLE = {".png": ("uint8", "uint16"), ".jpg": ("uint8",), ".tiff": ("uint8", "uint16", "float32")}

_WRITE_FLAGS = {
    ".png": [cv2.IMWRITE_PNG_COMPRESSION, 3],
    ".jpg": [cv2.IMWRITE_JPEG_QUALITY, 95, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444],
    ".tiff": [],
}


def read_image(path: str) -> np.ndarray:
    """Decode one image file; grey becomes 3 channels, alpha is kept, bit depth is kept."""
    try:
        data = np.fromfile(path, dtype=np.uint8)  # works with any path encoding, unlike cv2.imread
    except OSError as error:
        raise InputError(f"cannot read image {path}: {error.strerror or error}") from None
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise InputError(f"cannot decode image {path}: the file is damaged or not an image")
    if image.dtype not in (np.uint8, np.uint16, np.float32):
        raise InputError(f"image {path} has {image.dtype} samples; use 8 or 16-bit integer or 32-bit float")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 3:
        return np.ascontiguousarray(image[:, :, ::-1])
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    raise InputError(f"image {path} has {image.shape[2]} channels; use grey, RGB or RGBA images")


def write_image(path: str, frame: np.ndarray, ext: str) -> None:
    """Encode an RGB(A) frame; `ext` picks the format so `path` may be a temporary name."""
    bgr = frame[:, :, ::-1] if frame.shape[2] == 3 else cv2.cvtColor(frame, cv2.COLOR_RGBA2BGRA)
    ok, data = cv2.imencode(ext, np.ascontiguousarray(bgr), _WRITE_FLAGS[ext])
    if not ok:
        raise OutputError(f"OpenCV could not encode {frame.dtype} {ext} image for {path}")
    try:
        data.tofile(path)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
