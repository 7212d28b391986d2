"""The bodies of analyse and render jobs, as generators: every `yield` ends one quantum of work.

Analysis is one quantum (the engine polls the cancel token inside it); rendering yields after every
frame, so cancellation takes effect within a frame and other clients get their turn. A streamed
render takes one unit of client credit before making each frame and parks (yields WAIT_CREDIT)
when it has none. A job on the render lane never computes an analysis: it yields NEEDS_COMPUTE and
continues on the compute lane. Output renders go through the engine's atomic sinks: cancellation or
failure inside the `with` leaves nothing at the output path.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import numpy as np

from deflicker_engine.errors import InputError

from . import wire
from .cache import AnalysisCache
from .clips import ClipRecord, ClipRegistry
from .errors import RequestError
from .fingerprint import analysis_key
from .jobs import NEEDS_COMPUTE, WAIT_CREDIT, FairQueue, Job, progress_sink
from .outbox import Outbox
from .security import Roots

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


def _progress(ctx: TaskContext, job: Job):
    def send(stage: str, done: int, total: int) -> None:
        ctx.outbox.send(job.identity, wire.reply(job.rid, "progress", stage=stage, done=done, total=total))
    return progress_sink(job, send)


def ensure_analysis(ctx: TaskContext, job: Job, record: ClipRecord, params: Any, params_dict: Dict[str, Any]):
    """Generator: yields NEEDS_COMPUTE while on the render lane with nothing cached, then returns
    (analysis, where it came from: "memory" | "disk" | "", key); computes only on a double miss."""
    while True:
        found = _cached_analysis(ctx, record, params_dict)
        if found is not None or job.lane == COMPUTE_LANE:
            break
        yield NEEDS_COMPUTE
    if found is None:
        found = _compute_analysis(ctx, job, record, params, params_dict)
    job.analysed = True
    return found


def _cached_analysis(ctx: TaskContext, record: ClipRecord, params_dict: Dict[str, Any]) -> Optional[Tuple[Any, str, str]]:
    key = clip_key(ctx, record, params_dict)
    analysis = ctx.cache.get(key)
    if analysis is not None:
        return analysis, "memory", key
    analysis = ctx.cache.load(key)
    if analysis is not None:
        return analysis, "disk", key
    return None


def _compute_analysis(ctx: TaskContext, job: Job, record: ClipRecord, params: Any,
                      params_dict: Dict[str, Any]) -> Tuple[Any, str, str]:
    key = clip_key(ctx, record, params_dict)
    started = time.perf_counter()
    with record.source(ctx.engine) as source:
        analysis = ctx.engine.analyse(source, params, _progress(ctx, job), job.cancel)
    ctx.cache.put(key, analysis, {"source": record.label, "params": params_dict, "range": [record.start, record.stop],
                                  "seconds": round(time.perf_counter() - started, 3)})
    return analysis, "", key


def analyse_body(ctx: TaskContext, record: ClipRecord, params: Any, params_dict: Dict[str, Any]):
    def body(job: Job):
        yield
        started = time.perf_counter()
        with ctx.clips.using(record):
            analysis, cached, key = yield from ensure_analysis(ctx, job, record, params, params_dict)
        return {"clip": record.id, "key": key, "cached": cached, "nbytes": int(analysis.nbytes),
                "seconds": round(time.perf_counter() - started, 4)}
    return body


def render_body(ctx: TaskContext, record: ClipRecord, analysis_params: Any, params_dict: Dict[str, Any],
                render_params: Any, start: int, stop: int, output: Optional[str]):
    """Frames [start, stop) in source positions; streamed back, or written to `output`."""
    def body(job: Job):
        yield
        started = time.perf_counter()
        with ctx.clips.using(record):
            analysis, cached, key = yield from ensure_analysis(ctx, job, record, analysis_params, params_dict)
            yield
            first, last = start - record.start, stop - record.start      # positions inside the clip
            with record.source(ctx.engine) as source:
                progress = _progress(ctx, job) if output else job.report    # a stream's frames are its progress
                frames = ctx.engine.render(source, analysis, render_params, first, last, progress, job.cancel)
                try:
                    if output:
                        _check_output_again(ctx, output)
                        with ctx.engine.open_sink(output, source, first, last) as sink:
                            for _, frame in frames:
                                sink.write(frame)
                                yield
                    else:
                        for _ in range(last - first):
                            while not ctx.queue.take_credit(job):   # the client has `window` frames unread
                                yield WAIT_CREDIT
                            item = next(frames, None)
                            if item is None:
                                raise InputError(f"{record.label}: the engine ended before frame {stop - 1}")
                            index, frame = item
                            _send_frame(ctx, job, record.start + index, frame)
                            yield
                finally:
                    frames.close()
        result = {"clip": record.id, "frames": stop - start, "cached": cached, "key": key,
                  "seconds": round(time.perf_counter() - started, 4)}
        if output:
            result["output"] = output
        return result
    return body


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
