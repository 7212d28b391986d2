"""One function per operation of docs/protocol.md, called on the I/O thread.

A handler either answers at once (returns (header, buffers)), or hands the work to the probe
pool, a stream's ingest thread or the device queue, which answer later through the outbox
(returns None). Handlers only validate and dispatch: nothing here blocks on files or compute.
"""
from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

import numpy as np

from . import wire
from .clips import ClipRecord, StreamIngest, real_folder_and_names
from .errors import RequestError, error_code
from .fingerprint import files_fingerprint, stat_signature
from .jobs import Job
from .tasks import analyse_body, render_body
from .wire import Request, arg, optional_int

if TYPE_CHECKING:
    from .app import Server

Reply = Optional[Tuple[Dict[str, Any], List[Any]]]    # or a list of them (several messages)
ENCODINGS = ("srgb", "linear")
MAX_PATHS = 100_000


def ok(request: Request, result: Dict[str, Any], buffers: List[Any] = ()) -> Reply:
    return wire.reply(request.rid, "ok", request.version, result=result), list(buffers)


# ---------------------------------------------------------------------------------------- session
def hello(srv: "Server", request: Request) -> Reply:
    versions = arg(request.args, "versions", list, [wire.PROTOCOL_VERSIONS[-1]])
    common = sorted(set(v for v in versions if isinstance(v, int)) & set(wire.PROTOCOL_VERSIONS))
    if not common:
        raise RequestError("version", f"no common protocol version: client {versions}, server "
                                      f"{list(wire.PROTOCOL_VERSIONS)}")
    client = arg(request.args, "client", str, "")
    name = arg(request.args, "name", str, "")
    srv.sessions.touch(request.session, request.identity, f"{name} ({client})" if name else client)
    return ok(request, srv.hello_info(common[-1]))


def heartbeat(srv: "Server", request: Request) -> Reply:
    return wire.reply(None, "heartbeat", request.version, server=srv.instance, time=time.time()), []


def describe(srv: "Server", request: Request) -> Reply:
    return ok(request, srv.effect)


def status(srv: "Server", request: Request) -> Reply:
    return ok(request, srv.status())


def shutdown(srv: "Server", request: Request) -> Reply:
    srv.request_stop(f"shutdown requested by session {request.session[:12]}")
    return ok(request, {"stopping": True})


def echo(srv: "Server", request: Request) -> List[Tuple[Dict[str, Any], List[Any]]]:
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
def open_clip(srv: "Server", request: Request) -> Reply:
    args = request.args
    source = arg(args, "source", dict)
    encoding = arg(args, "encoding", str, None)
    if encoding is not None and encoding not in ENCODINGS:
        raise RequestError("parameter", f"encoding '{encoding}' must be one of {list(ENCODINGS)}")
    start, stop = optional_int(args, "start"), optional_int(args, "stop")
    if len(srv.clips.of_session(request.session)) >= srv.limits.max_clips:
        raise RequestError("busy", f"this session holds {srv.limits.max_clips} open clips; close some first")
    kinds = [k for k in ("path", "paths", "stream") if k in source]
    if len(kinds) != 1:
        raise RequestError("bad-request", "source must hold exactly one of 'path', 'paths' or 'stream'")
    if kinds[0] == "stream":
        return _open_stream(srv, request, arg(source, "stream", dict), encoding)
    if kinds[0] == "path":
        real = srv.roots.resolve(arg(source, "path", str), "input")
        srv.submit_light(request, lambda: _probe_path(srv, request, real, encoding, start, stop))
        return None
    paths = arg(source, "paths", list)
    if not paths or len(paths) > MAX_PATHS:
        raise RequestError("bad-request", f"paths must list 1 to {MAX_PATHS} image files")
    reals = [srv.roots.resolve(p, "input") for p in paths]
    srv.submit_light(request, lambda: _spool_paths(srv, request, reals, encoding, start, stop))
    return None


def _range(start: Optional[int], stop: Optional[int], count: int) -> Tuple[int, int]:
    start = 0 if start is None else start
    stop = count if stop is None else stop
    if not 0 <= start < stop <= count:
        raise RequestError("parameter", f"frame range [{start}, {stop}) is outside the source's 0..{count - 1}")
    return start, stop


def _probe_path(srv: "Server", request: Request, real: str, encoding, start, stop) -> Dict[str, Any]:
    with srv.engine.open_source(real) as source:
        info = source.info
    folder, names = real_folder_and_names(real, info)
    if len(names) > 1:
        srv.roots.check_all(folder, names, "input")
    start, stop = _range(start, stop, info.count)
    record = ClipRecord(id=srv.clips.new_id(), session=request.session, origin="path", label=real, start=start,
                        stop=stop, encoding=encoding, path=real, folder=folder, names=names,
                        signature=stat_signature(folder, names), info=info,
                        source_key=files_fingerprint(folder, names))
    srv.clips.add(record)
    return {"clip": record.id, "info": record.describe(srv.engine)}


def _spool_paths(srv: "Server", request: Request, reals: List[str], encoding, start, stop) -> Dict[str, Any]:
    spooled = srv.engine.spool((srv.engine.read_frame(p) for p in reals), encoding, None)
    try:
        start, stop = _range(start, stop, spooled.info.count)
        folder = os.path.commonpath(reals) if len(reals) > 1 else os.path.dirname(reals[0])
        names = tuple(os.path.relpath(p, folder) for p in reals)
        record = ClipRecord(id=srv.clips.new_id(), session=request.session, origin="paths",
                            label=f"{len(reals)} files in {folder}", start=start, stop=stop, encoding=encoding,
                            folder=folder, names=names, info=spooled.info, spooled=spooled,
                            source_key=files_fingerprint(folder, names))
    except BaseException:
        spooled.close()
        raise
    srv.clips.add(record)
    return {"clip": record.id, "info": record.describe(srv.engine)}


def _open_stream(srv: "Server", request: Request, stream: Dict[str, Any], encoding) -> Reply:
    height, width = arg(stream, "height", int), arg(stream, "width", int)
    channels, dtype = arg(stream, "channels", int), arg(stream, "dtype", str)
    count = optional_int(stream, "count")
    fps = arg(stream, "fps", (int, float), None, allow_none=True)
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


def put(srv: "Server", request: Request) -> Reply:
    record = srv.clips.get(arg(request.args, "clip", str))
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
    ingest.put(arrays, (request.identity, request.rid, record.id, request.version), end)
    return None


def close(srv: "Server", request: Request) -> Reply:
    clip_id = arg(request.args, "clip", str)
    srv.clips.get(clip_id)
    srv.clips.remove(clip_id)
    return ok(request, {"closed": clip_id})


# ---------------------------------------------------------------------------------------- jobs
def _job_params(srv: "Server", request: Request):
    values = arg(request.args, "params", dict, {})
    if any(not isinstance(k, str) for k in values):
        raise RequestError("parameter", "parameter names must be strings")
    return srv.engine.params(values)


def _ready_clip(srv: "Server", request: Request) -> ClipRecord:
    record = srv.clips.get(arg(request.args, "clip", str))
    if not record.ready:
        received = record.ingest.received if record.ingest else 0
        raise RequestError("not-ready", f"clip {record.id} has received {received} frames and is not complete; "
                                        "finish the upload (a put with end=true) first")
    return record


def analyse(srv: "Server", request: Request) -> Reply:
    record = _ready_clip(srv, request)
    analysis_params, _, params_dict = _job_params(srv, request)
    srv.queue_job(request, "analyse", analyse_body(srv.tasks, record, analysis_params, params_dict), record.label)
    return None


def render(srv: "Server", request: Request) -> Reply:
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
    window = max(1, min(window, srv.limits.max_window))
    body = render_body(srv.tasks, record, analysis_params, params_dict, render_params, start, stop, output)
    srv.queue_job(request, "render", body, f"{record.label} [{start}, {stop})", credit=window)
    return None


def credit(srv: "Server", request: Request) -> Reply:
    job = srv.queue.find(request.session, request.args.get("request"))
    frames = request.args.get("frames", 1)
    if job is not None and isinstance(frames, int) and not isinstance(frames, bool) and 0 < frames <= 1 << 20:
        srv.queue.grant(job, frames)
    return None


def cancel(srv: "Server", request: Request) -> Reply:
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


def light_reply(request: Request, result: Any = None, error: Optional[BaseException] = None) -> Dict[str, Any]:
    """The final reply of work done on the probe pool."""
    if error is None:
        return wire.reply(request.rid, "ok", request.version, result=result)
    return wire.error_reply(request.rid, error_code(error), str(error) or type(error).__name__)


def queue_guard(srv: "Server", request: Request) -> None:
    """Refuse a job with an id already in flight, or beyond the session's limit."""
    if srv.queue.find(request.session, request.rid) is not None:
        raise RequestError("duplicate-id", f"request id {request.rid!r} is already in flight in this session")
    if len(srv.queue.of_session(request.session)) >= srv.limits.max_in_flight:
        raise RequestError("busy", f"this session already has {srv.limits.max_in_flight} jobs queued or running")


def make_job(request: Request, op: str, body, label: str, credit: int = 0) -> Job:
    job = Job(request.session, request.identity, request.rid, op, body, label)
    job.credit = job.window = credit
    return job
