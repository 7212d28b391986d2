"""The bodies of analyse and render jobs, as generators: every `yield` ends one quantum of work.

Analysis is one quantum (the engine polls the cancel token between frames inside it); it writes into
the key's cache folder chunk by chunk, so a cancelled, failed or killed analysis leaves its finished
chunks, and the next one for the same key resumes from them. Rendering yields after every frame, so
cancellation takes effect within a frame and other clients get their turn. A streamed render takes one
unit of client credit before making each frame and parks (yields WAIT_CREDIT) when it has none. A job
on the render lane never computes an analysis: it yields NEEDS_COMPUTE and continues on the compute
lane; so does a render that meets a damaged chunk (the cache has removed the entry), which then goes on
from that frame. Output renders go through the engine's atomic sinks: cancellation or failure inside
the `with` leaves nothing at the output path.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Generator, Optional

import numpy as np

from deflicker_engine.errors import DeflickerError, InputError
from deflicker_engine.progress import ProgressFn

from . import wire
from .analysis_files import Damaged
from .cache import AnalysisCache
from .clips import ClipRecord, ClipRegistry
from .errors import RequestError
from .fingerprint import analysis_key
from .jobs import NEEDS_COMPUTE, WAIT_CREDIT, FairQueue, Job, progress_sink
from .outbox import Outbox
from .security import Roots

log = logging.getLogger("deflicker.server")

COMPUTE_LANE = "compute"


@dataclass
class TaskContext:
    engine: Any
    cache: AnalysisCache
    clips: ClipRegistry
    queue: FairQueue
    outbox: Outbox
    roots: Roots


def clip_key(ctx: TaskContext, record: ClipRecord, params_dict: Dict[str, Any]) -> str:
    """The cache key of `record` analysed with `params_dict` (cheap: no file is read)."""
    return analysis_key(ctx.engine.engine_id, record.source_key, record.meta(), params_dict)


def _progress(ctx: TaskContext, job: Job) -> ProgressFn:
    def send(stage: str, done: int, total: int) -> None:
        ctx.outbox.send(job.identity, wire.reply(job.rid, "progress", stage=stage, done=done, total=total))
    return progress_sink(job, send)


@dataclass
class Found:
    """An analysis ready to render, and where it came from."""

    analysis: Any
    cached: str             # "memory" | "disk" | "" (computed by this job)
    key: str
    resumed_from: int = 0   # computed by this job: the frames an interrupted analysis had left on disk


Steps = Generator[Any, None, Found]


def ensure_analysis(ctx: TaskContext, job: Job, record: ClipRecord, params: Any, params_dict: Dict[str, Any]) -> Steps:
    """Generator: yields NEEDS_COMPUTE while on the render lane with nothing cached, then returns the
    analysis (Found); computes only on a double miss."""
    while True:
        found = _cached_analysis(ctx, record, params_dict)
        if found is not None or job.lane == COMPUTE_LANE:
            break
        yield NEEDS_COMPUTE
    if found is None:
        found = _compute_analysis(ctx, job, record, params, params_dict)
    job.analysed = True
    return found


def _cached_analysis(ctx: TaskContext, record: ClipRecord, params_dict: Dict[str, Any]) -> Optional[Found]:
    key = clip_key(ctx, record, params_dict)
    analysis = ctx.cache.get(key)
    if analysis is not None:
        return Found(analysis, "memory", key)
    analysis = ctx.cache.load(key)
    if analysis is not None:
        return Found(analysis, "disk", key)
    return None


def _compute_analysis(ctx: TaskContext, job: Job, record: ClipRecord, params: Any,
                      params_dict: Dict[str, Any]) -> Found:
    """Analyse into the key's folder; an interrupted analysis there is resumed at its first missing chunk."""
    key = clip_key(ctx, record, params_dict)
    started = time.perf_counter()
    with ctx.cache.computing(key) as resume:
        if resume.surveyed:
            log.info("resuming analysis %s of %s: pass one is on disk, and its first %d frames", key, record.label,
                     resume.frames)
        with record.source(ctx.engine) as source:
            kept = resume.frames if _analyse_into(ctx, job, source, params, key, resume.surveyed) else 0
        analysis = ctx.cache.put(key, {"source": record.label, "params": params_dict,
                                       "range": [record.start, record.stop],
                                       "seconds": round(time.perf_counter() - started, 3), "resumed_from": kept})
    return Found(analysis, "", key, kept)


def _analyse_into(ctx: TaskContext, job: Job, source: Any, params: Any, key: str, resuming: bool) -> bool:
    """The engine's analysis into the key's folder; False when it had to start again from the first frame.
    A resume that fails before its first finalised frame for a reason of its own (a survey.npz the engine
    cannot load: not a DeflickerError, which is the clip's or the device's) starts again from an empty
    folder, once."""
    progress = _progress(ctx, job)
    finalising = [False]

    def watched(stage: str, done: int, total: int) -> None:
        finalising[0] = finalising[0] or stage == "finalise"
        progress(stage, done, total)

    try:
        ctx.engine.analyse(source, params, watched, job.cancel, ctx.cache.path(key))
        return True
    except DeflickerError:
        raise
    except Exception as error:
        if not resuming or finalising[0]:
            raise
        ctx.cache.restart(key, f"its resume state does not load: {type(error).__name__}: {error}")
    ctx.engine.analyse(source, params, progress, job.cancel, ctx.cache.path(key))
    return False


def _result(ctx: TaskContext, record: ClipRecord, found: Found, started: float) -> Dict[str, Any]:
    footprint = ctx.cache.footprint(found.key)
    result = {"clip": record.id, "key": found.key, "cached": found.cached, "nbytes": footprint["nbytes"],
              "chunks": footprint["chunks"], "resident": footprint["resident"],
              "seconds": round(time.perf_counter() - started, 4)}
    if not found.cached:
        result["resumed_from"] = found.resumed_from
    return result


def analyse_body(ctx: TaskContext, record: ClipRecord, params: Any, params_dict: Dict[str, Any]):
    def body(job: Job):
        yield
        started = time.perf_counter()
        key = clip_key(ctx, record, params_dict)
        with ctx.clips.using(record), ctx.cache.using(key):
            found = yield from ensure_analysis(ctx, job, record, params, params_dict)
            return _result(ctx, record, found, started)
    return body


def render_body(ctx: TaskContext, record: ClipRecord, analysis_params: Any, params_dict: Dict[str, Any],
                render_params: Any, start: int, stop: int, output: Optional[str]):
    """Frames [start, stop) in source positions; streamed back, or written to `output`."""
    def body(job: Job):
        yield
        started = time.perf_counter()
        key = clip_key(ctx, record, params_dict)
        with ctx.clips.using(record), ctx.cache.using(key):
            found = yield from ensure_analysis(ctx, job, record, analysis_params, params_dict)
            yield
            first, last = start - record.start, stop - record.start      # positions inside the clip
            with record.source(ctx.engine) as source:
                progress = _progress(ctx, job) if output else job.report    # a stream's frames are its progress
                render = _Render(ctx, job, record, source, render_params, first, last, progress)
                if output:
                    _check_output_again(ctx, output)
                    with ctx.engine.open_sink(output, source, first, last) as sink:
                        found = yield from render.run(found, analysis_params, params_dict,
                                                      lambda index, frame: sink.write(frame), streamed=False)
                else:
                    found = yield from render.run(found, analysis_params, params_dict,
                                                  lambda index, frame: _send_frame(ctx, job, record.start + index,
                                                                                   frame), streamed=True)
        result = {"clip": record.id, "frames": stop - start, "cached": found.cached, "key": found.key,
                  "seconds": round(time.perf_counter() - started, 4)}
        if output:
            result["output"] = output
        return result
    return body


@dataclass
class _Render:
    """Frames [first, last) of a clip (positions inside it) rendered from its analysis, one per quantum."""

    ctx: TaskContext
    job: Job
    record: ClipRecord
    source: Any
    params: Any
    first: int
    last: int
    progress: ProgressFn

    def run(self, found: Found, analysis_params: Any, params_dict: Dict[str, Any],
            deliver: Callable[[int, np.ndarray], None], streamed: bool) -> Steps:
        """Generator (yields the worker's signals): each frame to `deliver`, in order; a streamed render
        takes a unit of credit first. A damaged chunk met on the way was removed by the cache: the
        analysis is computed again (once) and the render goes on from that frame."""
        index, frames, credited, recovered = self.first, None, False, False
        try:
            while index < self.last:
                while streamed and not credited:
                    credited = self.ctx.queue.take_credit(self.job)   # the client has `window` frames unread
                    if not credited:
                        yield WAIT_CREDIT
                if frames is None:
                    frames = self.ctx.engine.render(self.source, found.analysis, self.params, index, self.last,
                                                    self._shifted(index), self.job.cancel)
                try:
                    item = next(frames, None)
                except Damaged:
                    if recovered:
                        raise
                    recovered, frames = True, None
                    found = yield from ensure_analysis(self.ctx, self.job, self.record, analysis_params, params_dict)
                    continue
                if item is None:
                    raise InputError(f"{self.record.label}: the engine ended before frame "
                                     f"{self.record.start + self.last - 1}")
                done, frame = item
                deliver(done, frame)
                index, credited = done + 1, False
                yield
        finally:
            if frames is not None:
                frames.close()
        return found

    def _shifted(self, start: int) -> ProgressFn:
        """The render's progress over the whole range when the engine restarts it at `start`."""
        skipped, total = start - self.first, self.last - self.first
        return lambda stage, done, _: self.progress(stage, done + skipped, total)


def _check_output_again(ctx: TaskContext, output: str) -> None:
    """The output was checked when the render was asked for; a folder on its way may have been swapped
    for a link since, so resolve it again right before writing."""
    if ctx.roots.resolve(output, "output") != output:
        raise RequestError("forbidden", f"output {output} now leads elsewhere (a folder on its way was replaced "
                                        "since the render was asked for); ask again")
    ctx.roots.check_output(output)


def _send_frame(ctx: TaskContext, job: Job, index: int, frame: np.ndarray) -> None:
    frame = np.ascontiguousarray(frame)
    header = wire.reply(job.rid, "frame", index=int(index), parts=[wire.descriptor(frame.shape, str(frame.dtype))])
    ctx.outbox.send(job.identity, header, [frame])   # zero copy: zmq holds the array until sent
