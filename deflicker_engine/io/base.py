"""The one reading interface every clip kind shares, so the engine never cares where frames come from."""
from __future__ import annotations

from typing import Iterator, Optional

import numpy as np

from ..errors import ParameterError
from .info import ClipInfo


class FrameSource:
    """A re-readable clip: `frames(start, stop)` streams native RGB(A) arrays in order, `read(i)` one frame.

    Subclasses implement `_read(index)`; sequential indices are expected to be cheap, random ones may
    seek. Use it as a context manager (or call `close`) to release files, decoders and spools.
    Not thread-safe: give each thread its own source.
    """

    def __init__(self, info: ClipInfo) -> None:
        self._info = info
        self._closed = False

    @property
    def info(self) -> ClipInfo:
        return self._info

    def __len__(self) -> int:
        return self._info.count

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.frames()

    def frames(self, start: int = 0, stop: Optional[int] = None) -> Iterator[np.ndarray]:
        """Frames `start` (inclusive) to `stop` (exclusive, default the end), in order."""
        stop = self._info.count if stop is None else stop
        self._check_range(start, stop)
        return (self.read(index) for index in range(start, stop))

    def read(self, index: int) -> np.ndarray:
        """Frame `index` as a native H x W x C array."""
        if self._closed:
            raise ParameterError(f"{self._info.path}: the source is closed; open it again to read frames")
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < self._info.count:
            raise ParameterError(f"frame {index!r} is outside the clip (frames 0..{self._info.count - 1})")
        return self._read(int(index))

    def close(self) -> None:
        """Release what the source holds; safe to call twice."""
        if not self._closed:
            self._closed = True
            self._close()

    def _check_range(self, start: int, stop: int) -> None:
        count = self._info.count
        if not (isinstance(start, (int, np.integer)) and isinstance(stop, (int, np.integer))) or not 0 <= start <= stop <= count:
            raise ParameterError(f"frame range {start!r}..{stop!r} is outside the clip (frames 0..{count}); "
                                 "use 0 <= start <= stop <= frame count")

    def _read(self, index: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _close(self) -> None:
        """Subclasses release their resources here."""
