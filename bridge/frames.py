"""Frames as raw buffers with a shape and a sample type; numpy arrays when numpy is there.

Nuke ships without numpy, so a Frame is usable on bytes alone (`buffer`, `tobytes()`, `shape`,
`dtype`); `array` gives a zero-copy, read-only numpy view when numpy is importable.
"""
from .wire import DTYPE_SIZES, descriptor


def numpy_or_none():
    """numpy if it can be imported here, else None (imported on demand: no import-time work)."""
    try:
        import numpy
    except ImportError:
        return None
    return numpy


class Frame(object):
    """One image: `index` in the clip, `shape` (height, width, channels), `dtype` name, raw `buffer`."""

    __slots__ = ("index", "shape", "dtype", "buffer", "_owner")

    def __init__(self, buffer, shape, dtype, index=None, owner=None):
        self.buffer = memoryview(buffer).cast("B") if not isinstance(buffer, memoryview) else buffer.cast("B")
        self.shape = tuple(int(n) for n in shape)
        self.dtype = str(dtype)
        self.index = index
        self._owner = owner  # keeps the zmq message alive while the view is in use

    @property
    def height(self):
        return self.shape[0]

    @property
    def width(self):
        return self.shape[1]

    @property
    def channels(self):
        return self.shape[2] if len(self.shape) > 2 else 1

    @property
    def nbytes(self):
        return self.buffer.nbytes

    def tobytes(self):
        """A copy of the samples as bytes (row-major, interleaved channels, little-endian)."""
        return self.buffer.tobytes()

    @property
    def array(self):
        """A read-only numpy view of the samples (no copy); raises ImportError without numpy."""
        numpy = numpy_or_none()
        if numpy is None:
            raise ImportError("numpy is not available here; use Frame.buffer or Frame.tobytes()")
        return numpy.frombuffer(self.buffer, dtype=numpy.dtype(self.dtype).newbyteorder("<")).reshape(self.shape)

    def descriptor(self):
        return descriptor(self.shape, self.dtype)

    def __repr__(self):
        return "Frame(index={}, shape={}, dtype={})".format(self.index, self.shape, self.dtype)


def as_frame(image, index=None):
    """Accept a Frame, a numpy array (H x W x C), or a (buffer, shape, dtype) tuple; return a Frame."""
    if isinstance(image, Frame):
        return image
    if isinstance(image, tuple) and len(image) == 3:
        buffer, shape, dtype = image
        frame = Frame(buffer, shape, dtype, index)
    else:
        numpy = numpy_or_none()
        if numpy is None or not isinstance(image, numpy.ndarray):
            raise TypeError("a frame must be a bridge.Frame, a numpy array or a (buffer, shape, dtype) tuple")
        if image.ndim == 2:
            image = image[:, :, None]
        image = numpy.ascontiguousarray(image)
        if image.dtype.byteorder == ">":
            image = image.astype(image.dtype.newbyteorder("<"))
        frame = Frame(memoryview(image).cast("B"), image.shape, image.dtype.name, index, owner=image)
    if frame.dtype not in DTYPE_SIZES:
        raise ValueError("unsupported sample type {!r}; use one of {}".format(frame.dtype, sorted(DTYPE_SIZES)))
    expected = DTYPE_SIZES[frame.dtype]
    for n in frame.shape:
        expected *= n
    if expected != frame.nbytes:
        raise ValueError("buffer of {} bytes does not match {} {}".format(frame.nbytes, frame.dtype, frame.shape))
    return frame
