"""One function per operation of docs/protocol.md, called on the I/O thread.

A handler either answers at once (returns (header, buffers)), or hands the work to the probe
pool, a stream's ingest thread or the device queue, which answer later through the outbox
(returns None). Handlers only validate and dispatch: nothing here blocks on files or compute.
They see the server only as a `ServerContext`; a clip is looked up with the session asking, so
another session's clip is unknown here.
"""
from __future__ import annotations

import math
import os
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from . import wire
from .clips import ClipRecord, StreamIngest, real_folder_and_names
from .context import ServerContext
from .errors import RequestError
from .fingerprint import files_fingerprint
from .security import FileId, PinnedFiles, check_path_text, file_id, regular_stat
from .tasks import analyse_body, clip_key, render_body
from .wire import Request, arg, optional_int

Reply = Optional[Tuple[Dict[str, Any], List[Any]]]    # or a list of them (several messages)
ENCODINGS = ("srgb", "linear")
MAX_PATHS = 100_000


def ok(request: Request, result: Dict[str, Any], buffers: List[Any] = ()) -> Reply:
    return wire.reply(request.rid, "ok", request.version, result=result), list(buffers)


# ---------------------------------------------------------------------------------------- session
def hello(srv: ServerContext, request: Request) -> Reply:
    versions = arg(request.args, "versions", list, [wire.PROTOCOL_VERSIONS[-1]])
    common = sorted(set(v for v in versions if isinstance(v, int)) & set(wire.PROTOCOL_VERSIONS))
    if not common:
        raise RequestError("version", f"no common protocol version: client {versions}, server "
                                      f"{list(wire.PROTOCOL_VERSIONS)}")
    client = arg(request.args, "client", str, "")
    name = arg(request.args, "name", str, "")
    srv.sessions.touch(request.session, request.identity, f"{name} ({client})" if name else client)
    return ok(request, srv.hello_info(common[-1]))


def heartbeat(srv: ServerContext, request: Request) -> Reply:
    return wire.reply(None, "heartbeat", request.version, server=srv.instance, time=time.time()), []


def describe(srv: ServerContext, request: Request) -> Reply:
    return ok(request, srv.effect)


def status(srv: ServerContext, request: Request) -> Reply:
    return ok(request, srv.status(request.session))


def shutdown(srv: ServerContext, request: Request) -> Reply:
    srv.request_stop(f"shutdown requested by session {request.session[:12]}")
    return ok(request, {"stopping": True})


def echo(srv: ServerContext, request: Request) -> List[Tuple[Dict[str, Any], List[Any]]]:
    """The transport alone: the same buffers straight back, zero copy; with `repeat` n, first as n-1
    `frame` events (what a streamed render looks like on the wire, minus the compute)."""
    repeat = arg(request.args, "repeat", int, 1)
    if not 1 <= repeat <= 1000:
        raise RequestError("bad-request", "repeat must be 1 to 1000")
    parts = [wire.descriptor(p.shape, p.dtype) for p in request.parts]
    buffers = [p.buffer for p in request.parts]
    events = [(wire.reply(request.rid, "frame", request.version, index=i, parts=parts), buffers)
              for i in range(repeat - 1)]
    final = wire.reply(request.rid, "ok", request.version, result={"parts": len(parts)}, parts=parts)
    return events + [(final, buffers)]


# ---------------------------------------------------------------------------------------- clips
def open_clip(srv: ServerContext, request: Request) -> Reply:
    args = request.args
    source = arg(args, "source", dict)
    encoding = arg(args, "encoding", str, None)
    if encoding is not None and encoding not in ENCODINGS:
        raise RequestError("parameter", f"encoding '{encoding}' must be one of {list(ENCODINGS)}")
    start, stop = optional_int(args, "start"), optional_int(args, "stop")
    if len(srv.clips.of_session(request.session)) >= srv.limits.max_clips:
        raise RequestError("busy", f"this session holds {srv.limits.max_clips} open clips; close some first")
    if len(srv.clips) >= srv.limits.max_clips_total:
        raise RequestError("busy", f"the server holds {srv.limits.max_clips_total} open clips; try again later")
    kinds = [k for k in ("path", "paths", "stream") if k in source]
    if len(kinds) != 1:
        raise RequestError("bad-request", "source must hold exactly one of 'path', 'paths' or 'stream'")
    if kinds[0] == "stream":
        return _open_stream(srv, request, arg(source, "stream", dict), encoding)
    if kinds[0] == "path":
        real = srv.roots.resolve(arg(source, "path", str), "input")
        srv.submit_light(request, lambda touch: _probe_path(srv, request, real, encoding, start, stop, touch))
        return None
    paths = arg(source, "paths", list)
    if not paths or len(paths) > MAX_PATHS:
        raise RequestError("bad-request", f"paths must list 1 to {MAX_PATHS} image files")
    for path in paths:   # cheap checks here; resolving 100,000 paths is the probe's job, off this thread
        check_path_text(path, "input")
    srv.submit_light(request, lambda touch: _spool_paths(srv, request, paths, encoding, start, stop, touch))
    return None


def _range(start: Optional[int], stop: Optional[int], count: int) -> Tuple[int, int]:
    start = 0 if start is None else start
    stop = count if stop is None else stop
    if not 0 <= start < stop <= count:
        raise RequestError("parameter", f"frame range [{start}, {stop}) is outside the source's 0..{count - 1}")
    return start, stop


def _probe_path(srv: ServerContext, request: Request, real: str, encoding, start, stop,
                touch: Callable[[], None]) -> Dict[str, Any]:
    """Runs on the probe pool. Every file is identified (inside the roots, a regular file) before the
    engine opens anything, and checked again after it has."""
    try:
        listing = srv.engine.frame_files(real)
    except OSError as error:
        raise RequestError("input", f"cannot read {real}: {error.strerror or error}") from None
    if listing is None:
        regular_stat(real, "input")                       # a FIFO or device is refused before it is opened
        listing = (os.path.dirname(real), [os.path.basename(real)])
    folder, listed = listing
    known: Dict[str, FileId] = {}
    for name in listed:
        known[name] = file_id(srv.roots, os.path.join(folder, name))
        touch()
    try:
        with srv.engine.open_source(real) as source:
            info = source.info
    except OSError as error:
        raise RequestError("input", f"cannot read {real}: {error.strerror or error}") from None
    touch()
    folder, names = real_folder_and_names(real, info)
    if any(name not in known for name in names):
        raise RequestError("stale-clip", f"{real} changed while it was being opened; open it again")
    pinned = PinnedFiles.pin(srv.roots, folder, names, real, known)
    pinned.check_all()
    start, stop = _range(start, stop, info.count)
    record = ClipRecord(id=srv.clips.new_id(), session=request.session, origin="path", label=real, start=start,
                        stop=stop, encoding=encoding, path=real, folder=folder, names=names, pinned=pinned,
                        info=info, source_key=files_fingerprint(folder, names))
    pinned.check_all()                                    # the fingerprint read the files we pinned
    srv.clips.add(record)
    return {"clip": record.id, "info": record.describe(srv.engine)}


def _spool_paths(srv: ServerContext, request: Request, paths: List[str], encoding, start, stop,
                 touch: Callable[[], None]) -> Dict[str, Any]:
    """Runs on the probe pool: pin every file, fingerprint them, then read each one (checked again just
    before) into a spool; the files are never read again."""
    reals = []
    for path in paths:
        reals.append(srv.roots.resolve(path, "input"))
        touch()
    folder = os.path.commonpath(reals) if len(reals) > 1 else os.path.dirname(reals[0])
    names = tuple(os.path.relpath(p, folder) for p in reals)
    pinned = PinnedFiles.pin(srv.roots, folder, names, f"{len(reals)} files in {folder}", touch=touch)
    source_key = files_fingerprint(folder, names)

    def frames():
        for index, real in enumerate(reals):
            pinned.check(index)
            touch()
            yield srv.engine.read_frame(real)

    try:
        spooled = srv.engine.spool(frames(), encoding, None)
    except OSError as error:
        raise RequestError("input", f"cannot read the listed files: {error.strerror or error}") from None
    try:
        pinned.check_all()                                # what was spooled is what was fingerprinted
        start, stop = _range(start, stop, spooled.info.count)
        record = ClipRecord(id=srv.clips.new_id(), session=request.session, origin="paths",
                            label=f"{len(reals)} files in {folder}", start=start, stop=stop, encoding=encoding,
                            folder=folder, names=names, info=spooled.info, spooled=spooled, source_key=source_key)
    except BaseException:
        spooled.close()
        raise
    srv.clips.add(record)
    return {"clip": record.id, "info": record.describe(srv.engine)}


def _open_stream(srv: ServerContext, request: Request, stream: Dict[str, Any], encoding) -> Reply:
    height, width = arg(stream, "height", int), arg(stream, "width", int)
    channels, dtype = arg(stream, "channels", int), arg(stream, "dtype", str)
    count = optional_int(stream, "count")
    fps = arg(stream, "fps", (int, float), None, allow_none=True)
    if fps is not None and not (math.isfinite(fps) and 0 < fps <= 10_000):
        raise RequestError("parameter", f"fps must be a finite number of frames per second (0 to 10000], got {fps!r}")
    uploading = [r for r in srv.clips.all() if r.ingest is not None and not r.ready]
    if sum(r.session == request.session for r in uploading) >= srv.limits.max_uploads:
        raise RequestError("busy", f"this session has {srv.limits.max_uploads} streamed clips still receiving frames; "
                                   "finish or close some first")
    if len(uploading) >= srv.limits.max_uploads_total:
        raise RequestError("busy", f"{len(uploading)} streamed clips are still receiving frames; try again later")
    if channels not in (3, 4) or dtype not in wire.DTYPE_SIZES or not (0 < height <= 65536 and 0 < width <= 65536):
        raise RequestError("bad-request", f"stream frames must be H x W x 3|4 of {sorted(wire.DTYPE_SIZES)} "
                                          f"(got {height}x{width}x{channels} {dtype})")
    if height * width * channels * wire.DTYPE_SIZES[dtype] > srv.limits.max_part_bytes:
        raise RequestError("too-large", "stream frames would exceed the frame size limit")
    if count is not None and count < 1:
        raise RequestError("bad-request", "count must be at least 1")
    record = ClipRecord(id=srv.clips.new_id(), session=request.session, origin="stream", label="streamed frames",
                        encoding=encoding, stream={"height": height, "width": width, "channels": channels,
                                                   "dtype": dtype, "count": count, "fps": fps,
                                                   "encoding": encoding})
    record.ingest = StreamIngest(record, srv.engine, srv.ack_put, count, on_exit=srv.outbox.release)
    srv.clips.add(record)
    return ok(request, {"clip": record.id, "info": record.describe(srv.engine)})


def put(srv: ServerContext, request: Request) -> Reply:
    record = srv.clips.get(arg(request.args, "clip", str), request.session)
    ingest = record.ingest
    if ingest is None or record.ready:
        raise RequestError("bad-request", f"clip {record.id} does not take frames (not a stream, or complete)")
    start = arg(request.args, "start", int)
    end = arg(request.args, "end", bool, False)
    if start != ingest.received:
        raise RequestError("bad-request", f"frames must arrive in order: expected start {ingest.received}, got {start}")
    s = record.stream
    shape = (s["height"], s["width"], s["channels"])
    for i, part in enumerate(request.parts):
        if part.shape != shape or part.dtype != s["dtype"]:
            raise RequestError("bad-frame", f"frame {start + i} is {list(part.shape)} {part.dtype} but the stream "
                                            f"is {list(shape)} {s['dtype']}")
    total = start + len(request.parts)
    expected = s.get("count")
    if expected is not None and (total > expected or (end and total != expected)):
        raise RequestError("bad-request", f"the stream was opened for {expected} frames; this put makes {total}")
    if total == 0 and end:
        raise RequestError("bad-request", "a stream needs at least one frame")
    if expected is not None and total == expected:
        end = True
    if ingest.pending() >= srv.limits.max_puts_pending:
        raise RequestError("busy", f"{ingest.pending()} uploads of clip {record.id} are still being written; "
                                   "wait for their replies")
    arrays = [np.frombuffer(p.buffer, dtype=p.dtype).reshape(p.shape) for p in request.parts]
    srv.inflight.claim(request.session, request.rid)
    try:
        ingest.put(arrays, (request.identity, request.rid, record.id, request.version, request.session), end)
    except BaseException:
        srv.inflight.release(request.session, request.rid)
        raise
    return None


def close(srv: ServerContext, request: Request) -> Reply:
    clip_id = arg(request.args, "clip", str)
    srv.clips.get(clip_id, request.session)
    srv.clips.remove(clip_id)
    return ok(request, {"closed": clip_id})


# ---------------------------------------------------------------------------------------- jobs
def _job_params(srv: ServerContext, request: Request):
    values = arg(request.args, "params", dict, {})
    if any(not isinstance(k, str) for k in values):
        raise RequestError("parameter", "parameter names must be strings")
    return srv.engine.params(values)


def _ready_clip(srv: ServerContext, request: Request) -> ClipRecord:
    record = srv.clips.get(arg(request.args, "clip", str), request.session)
    if not record.ready:
        received = record.ingest.received if record.ingest else 0
        raise RequestError("not-ready", f"clip {record.id} has received {received} frames and is not complete; "
                                        "finish the upload (a put with end=true) first")
    return record


def analyse(srv: ServerContext, request: Request) -> Reply:
    record = _ready_clip(srv, request)
    analysis_params, _, params_dict = _job_params(srv, request)
    srv.queue_job(request, "analyse", analyse_body(srv.tasks, record, analysis_params, params_dict), record.label,
                  cached=_cached(srv, record, params_dict))
    return None


def _cached(srv: ServerContext, record: ClipRecord, params_dict: Dict[str, Any]) -> Callable[[], bool]:
    """Whether the job's analysis is cached already: such a job may run on the render lane."""
    key = clip_key(srv.tasks, record, params_dict)
    return lambda: srv.cache.has(key)


def render(srv: ServerContext, request: Request) -> Reply:
    record = _ready_clip(srv, request)
    analysis_params, render_params, params_dict = _job_params(srv, request)
    start = optional_int(request.args, "start")
    stop = optional_int(request.args, "stop")
    start = record.start if start is None else start
    stop = record.stop if stop is None else stop
    if not record.start <= start < stop <= record.stop:
        raise RequestError("parameter", f"frame range [{start}, {stop}) is outside the clip's "
                                        f"[{record.start}, {record.stop})")
    output = arg(request.args, "output", str, None)
    if output is not None:
        output = srv.roots.resolve(output, "output")
        srv.roots.check_output(output)
    window = arg(request.args, "window", int, 4)
    window = max(1, min(window, srv.limits.max_window))      # clamped, as docs/protocol.md says
    body = render_body(srv.tasks, record, analysis_params, params_dict, render_params, start, stop, output)
    srv.queue_job(request, "render", body, f"{record.label} [{start}, {stop})", credit=window,
                  cached=_cached(srv, record, params_dict))
    return None


def credit(srv: ServerContext, request: Request) -> Reply:
    job = srv.queue.find(request.session, request.args.get("request"))
    frames = request.args.get("frames", 1)
    if job is not None and isinstance(frames, int) and not isinstance(frames, bool) and 0 < frames <= 1 << 20:
        srv.queue.grant(job, frames)
    return None


def cancel(srv: ServerContext, request: Request) -> Reply:
    target = request.args.get("request")
    job = srv.queue.find(request.session, target)
    if job is None:
        raise RequestError("unknown-request", f"no job {target!r} of this session is running or queued")
    srv.queue.cancel(job)
    return ok(request, {"cancelled": True, "request": target})


HANDLERS = {
    "hello": hello, "heartbeat": heartbeat, "describe": describe, "status": status, "shutdown": shutdown,
    "echo": echo, "open": open_clip, "put": put, "close": close, "analyse": analyse, "render": render,
    "credit": credit, "cancel": cancel,
}

