"""The server's only door to the engine: a small adapter, so the server core can be tested with a fake.

`RealEngine` wraps deflicker_engine (Deflicker, ClipAnalysis, the io contract, the params
dataclasses). Any object with the same methods can stand in (`deflicker serve --engine
module:factory`, used by tests and possible plug-ins); the methods are:

    device, engine_id                       strings: where it runs; what makes its analyses valid
    memory() -> dict | None                 the accelerator's memory in MB (None on the CPU)
    describe() -> {"analysis": [...], "render": [...]}     config.schema of the params dataclasses
    params(values) -> (analysis, render, analysis_dict)    validated; unknown names rejected
    open_source(path) -> source             a FrameSource (info: ClipInfo); use as a context manager
    spool(frames, encoding, fps) -> source  consume an iterator of arrays into a re-readable source
    view(source, start, stop, encoding, owns, guard=None)  frames [start, stop) of `source` as a clip of
                                            their own (closing it closes `source` when it owns it); guard(i)
                                            runs before frame i of `source` is read
    frame_files(path) -> (folder, names) | None   the files a sequence path would read (listing only,
                                            nothing opened); None for a single (video) file
    read_frame(path) -> array               one image file (clips opened from a list of files)
    analyse(source, params, progress, cancel, folder) -> analysis
                                            a disk analysis written into `folder` chunk by chunk (see
                                            analysis_files for the layout); an interrupted one there is
                                            resumed at its first missing chunk
    open_analysis(folder, targets) -> analysis   the finished analysis in `folder`, its targets read
                                            through `targets` (the server's chunk store: get(index), nbytes)
    render(source, analysis, params, start, stop, progress, cancel) -> iterator of (index, frame)
    open_sink(path, source, start, stop)    atomic output of frames [start, stop) of `source`
    info_dict(info) -> dict                 ClipInfo as plain data for the wire
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from deflicker_engine.errors import ParameterError


def load_engine(spec: Optional[str], device: str) -> Any:
    """The real engine, or the factory named by `spec` ("package.module:callable") called with device."""
    if not spec:
        return RealEngine(device)
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ParameterError(f"--engine '{spec}' must look like package.module:factory")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as error:
        raise ParameterError(f"cannot load engine '{spec}': {error}") from error
    return factory(device)


def _view_class():
    from deflicker_engine.io import FrameSource

    class RangeView(FrameSource):
        """Frames [start, stop) of a source, renumbered from 0, optionally read with another encoding."""

        def __init__(self, base, start: int, stop: int, encoding: Optional[str], owns: bool,
                     guard: Optional[Callable[[int], None]] = None) -> None:
            info = base.info
            names = info.names[start:stop] if info.names else None
            super().__init__(dataclasses.replace(info, count=stop - start, names=names,
                                                 encoding=encoding or info.encoding))
            self._base, self._start, self._owns, self._guard = base, start, owns, guard

        def frames(self, start: int = 0, stop: Optional[int] = None) -> Iterator[Any]:
            stop = self.info.count if stop is None else stop
            self._check_range(start, stop)
            if self._guard is None:
                return self._base.frames(self._start + start, self._start + stop)
            return (self._read(index) for index in range(start, stop))   # one checked file at a time

        def _read(self, index: int) -> Any:
            if self._guard is not None:
                self._guard(self._start + index)
            return self._base.read(self._start + index)

        def _close(self) -> None:
            if self._owns:
                self._base.close()

    return RangeView


class EngineIO:
    """Everything but the networks: parameters, sources, spools, views, sinks (the engine's io contract)."""

    def __init__(self) -> None:
        from deflicker_engine import config, io
        from deflicker_engine.io.sequence import read_frame

        self._config, self._io = config, io
        self._view = _view_class()
        self._read_frame = read_frame

    def memory(self) -> Optional[Dict[str, Any]]:
        return None

    def describe(self) -> Dict[str, list]:
        return {"analysis": self._config.schema(self._config.AnalysisParams),
                "render": self._config.schema(self._config.RenderParams),
                "presets": self._config.presets_schema()}

    def params(self, values: Dict[str, Any]) -> Tuple[Any, Any, Dict[str, Any]]:
        config = self._config
        analysis_names = {f.name for f in dataclasses.fields(config.AnalysisParams)}
        render_names = {f.name for f in dataclasses.fields(config.RenderParams)}
        unknown = set(values) - analysis_names - render_names
        if unknown:
            raise ParameterError(f"unknown parameter(s) {sorted(unknown)}; known: "
                                 f"{sorted(analysis_names | render_names)}")
        analysis = config.from_dict(config.AnalysisParams, {k: v for k, v in values.items() if k in analysis_names})
        render = config.from_dict(config.RenderParams, {k: v for k, v in values.items() if k in render_names})
        return analysis, render, config.as_dict(analysis)

    def open_source(self, path: str) -> Any:
        return self._io.open_source(path)

    def spool(self, frames: Iterable[Any], encoding: Optional[str], fps: Optional[float]) -> Any:
        rate = None
        if fps:
            from fractions import Fraction
            exact = Fraction(fps).limit_denominator(1001)
            rate = f"{exact.numerator}/{exact.denominator}"
        return self._io.spool_frames(frames, rate=rate, encoding=encoding)

    def view(self, source: Any, start: int, stop: int, encoding: Optional[str], owns: bool,
             guard: Optional[Callable[[int], None]] = None) -> Any:
        return self._view(source, start, stop, encoding, owns, guard)

    def frame_files(self, path: str) -> Optional[Tuple[str, List[str]]]:
        """(folder, file names) of a folder or numbered pattern, by listing only; None for one file."""
        from deflicker_engine.io.paths import is_pattern
        from deflicker_engine.io.sequence import folder_files, pattern_files

        real = Path(path)
        if real.is_dir():
            return str(real), folder_files(real)
        if is_pattern(real):
            return str(real.parent), pattern_files(real)
        return None

    def read_frame(self, path: str) -> Any:
        return self._read_frame(path)

    def open_sink(self, path: str, source: Any, start: int, stop: int) -> Any:
        info = source.info
        names = info.names[start:stop] if info.names else None
        part = dataclasses.replace(info, count=stop - start, names=names)
        return self._io.open_sink(path, part, like=part)

    @staticmethod
    def info_dict(info: Any) -> Dict[str, Any]:
        return {"kind": info.kind, "count": info.count, "width": info.width, "height": info.height,
                "channels": info.channels, "dtype": info.dtype, "encoding": info.encoding, "fps": info.fps,
                "rate": info.rate, "names": list(info.names) if info.names else None}


class RealEngine(EngineIO):
    """deflicker_engine behind the adapter interface; the networks load once, here."""

    def __init__(self, device: str = "auto") -> None:
        super().__init__()
        from deflicker_engine.pipeline import ClipAnalysis, Deflicker

        self._engine = Deflicker(device)
        self.device = str(self._engine.device)
        self.engine_id = _engine_id(ClipAnalysis.VERSION)

    def analyse(self, source, params, progress, cancel, folder: Path) -> Any:
        return self._engine.analyse(source, params, progress=progress, cancel=cancel, folder=folder)

    def memory(self) -> Optional[Dict[str, Any]]:
        from deflicker_engine.device import memory_report

        return memory_report(self._engine.device)

    def open_analysis(self, folder: Path, targets: Any) -> Any:
        return open_disk_analysis(folder, targets)

    def render(self, source, analysis, params, start, stop, progress, cancel) -> Iterator[Tuple[int, Any]]:
        return self._engine.render(source, analysis, params, start=start, stop=stop, progress=progress, cancel=cancel)


def open_disk_analysis(folder: Path, targets: Any) -> Any:
    """A finished disk analysis of the engine, reading its targets through `targets`. The engine checks the
    folder (version, complete, every chunk present); its own chunk reader is swapped for the server's, which
    shares one memory budget across analyses and checks every chunk's CRC. Needs no networks."""
    from deflicker_engine.pipeline import ClipAnalysis

    return dataclasses.replace(ClipAnalysis.open(folder, resident=1), store=targets)


def _engine_id(analysis_version: int) -> str:
    """Package version, analysis format and a hash of the shipped weights: a change to any of them
    must not reuse analyses made before it."""
    from importlib import metadata

    import deflicker_engine

    try:
        version = metadata.version("deflicker")
    except metadata.PackageNotFoundError:
        version = "dev"
    h = hashlib.blake2b(digest_size=12)
    for path in sorted((Path(deflicker_engine.__file__).parent / "weights").glob("*.pt")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return f"deflicker-{version}/analysis-{analysis_version}/weights-{h.hexdigest()}"
