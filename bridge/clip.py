"""A clip held by the server: analyse it, render frame ranges back as a stream or to a file.

Frame indices are positions in the source (0 is its first frame); a clip opened with start/stop
covers [start, stop) of the source and is analysed over that range only. A clip opened by path
survives a server restart: on ConnectionLost or an unknown clip id it is reopened and the
request resumed from the next frame (the server's disk cache makes the re-analysis a load).
"""
from .errors import BridgeError, ConnectionLost, NotFound
from .frames import as_frame

PUT_BYTES = 64 * 1024 * 1024
PUT_WINDOW = 2


class Clip(object):
    """`id` on the server, `info` (count, start, stop, width, height, channels, dtype, fps, encoding)."""

    def __init__(self, connection, clip_id, info, open_args):
        self.connection = connection
        self.id = clip_id
        self.info = info
        self._open_args = open_args  # None for streamed clips: they cannot be reopened

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(cls, connection, path=None, paths=None, frames=None, encoding=None, start=None, stop=None, fps=None):
        if sum(x is not None for x in (path, paths, frames)) != 1:
            raise BridgeError("open a clip with exactly one of path=, paths= or frames=")
        if frames is not None:
            return cls._open_stream(connection, frames, encoding, fps)
        source = {"path": str(path)} if path is not None else {"paths": [str(p) for p in paths]}
        args = {"source": source}
        for key, value in (("encoding", encoding), ("start", start), ("stop", stop)):
            if value is not None:
                args[key] = value
        result, _ = connection.call("open", args)
        return cls(connection, result["clip"], result["info"], args)

    @classmethod
    def _open_stream(cls, connection, frames, encoding, fps):
        iterator = iter(frames)
        try:
            first = as_frame(next(iterator))
        except StopIteration:
            raise BridgeError("cannot open a clip from no frames")
        stream = {"height": first.height, "width": first.width, "channels": first.channels, "dtype": first.dtype}
        if hasattr(frames, "__len__"):
            stream["count"] = len(frames)
        if fps is not None:
            stream["fps"] = float(fps)
        args = {"source": {"stream": stream}}
        if encoding is not None:
            args["encoding"] = encoding
        result, _ = connection.call("open", args)
        clip = cls(connection, result["clip"], result["info"], None)
        clip._upload(first, iterator)
        return clip

    def _upload(self, first, iterator):
        """Send frames in puts of about PUT_BYTES, at most PUT_WINDOW puts in flight."""
        conn = self.connection
        limits = (conn.server or {}).get("limits", {})
        per_put = max(1, min(int(limits.get("max_parts", 64)), PUT_BYTES // max(1, first.nbytes)))
        in_flight, batch, index = [], [first], 0
        for image in iterator:
            if len(batch) >= per_put:
                in_flight.append(conn.submit("put", {"clip": self.id, "start": index}, batch))
                index += len(batch)
                batch = []
                if len(in_flight) >= PUT_WINDOW:
                    conn.wait(in_flight.pop(0), conn.timeout)
            batch.append(as_frame(image))
        in_flight.append(conn.submit("put", {"clip": self.id, "start": index, "end": True}, batch))
        result = None
        for pending in in_flight:
            result, _ = conn.wait(pending, conn.timeout)
        self.info = result.get("info", self.info)

    # ----------------------------------------------------------------- properties
    @property
    def start(self):
        return int(self.info.get("start", 0))

    @property
    def stop(self):
        return int(self.info.get("stop", self.info.get("count", 0)))

    def __len__(self):
        return self.stop - self.start

    def __repr__(self):
        return "Clip({}, frames [{}, {}), {}x{})".format(self.id, self.start, self.stop, self.info.get("width"),
                                                        self.info.get("height"))

    # ----------------------------------------------------------------- work
    def analyse(self, params=None, progress=None, timeout=None):
        """Analyse the clip (or find the analysis in the server's cache). Returns the reply map:
        `cached` is "memory", "disk" or "" (computed now)."""
        args = {"clip": self.id, "params": dict(params or {})}
        return self._resumable(lambda: self.connection.call("analyse", dict(args, clip=self.id), progress=progress,
                                                            timeout=timeout)[0])

    def render_to(self, output, start=None, stop=None, params=None, progress=None, timeout=None):
        """Render [start, stop) to `output` (a file or printf pattern on the server's filesystem),
        written atomically by the server. Returns the reply map (output, frames)."""
        start, stop = self._range(start, stop)
        args = {"clip": self.id, "start": start, "stop": stop, "params": dict(params or {}), "output": str(output)}
        return self._resumable(lambda: self.connection.call("render", dict(args, clip=self.id), progress=progress,
                                                            timeout=timeout)[0])

    def frame(self, index, params=None, numpy=False):
        """One rendered frame (fast once the clip is analysed)."""
        for frame in self.render(index, index + 1, params=params, window=1, numpy=numpy):
            return frame
        raise BridgeError("the server sent no frame {}".format(index))

    def render(self, start=None, stop=None, params=None, window=4, progress=None, numpy=False, timeout=None):
        """Yield rendered frames of [start, stop) in order as the server makes them: bridge.Frame
        objects (numpy arrays with numpy=True). The server keeps at most `window` frames ahead of
        what you have taken. Stopping early cancels the rest on the server."""
        start, stop = self._range(start, stop)
        conn = self.connection
        following, attempts = start, 0
        while following < stop:
            args = {"clip": self.id, "start": following, "stop": stop, "params": dict(params or {}),
                    "window": int(max(1, window))}
            pending = conn.submit("render", args)
            try:
                for header, frames in conn.events(pending, timeout):
                    kind = header.get("kind")
                    if kind == "progress" and progress is not None:
                        progress(header.get("stage", ""), header.get("done", 0), header.get("total", 0))
                    elif kind == "frame" and frames:
                        following = int(header.get("index", following)) + 1
                        yield frames[0].array if numpy else frames[0]
                        conn.credit(pending, 1)
                return
            except (ConnectionLost, NotFound) as error:
                attempts += 1
                if not self._can_resume(error, attempts):
                    raise
                self._reopen()
            finally:
                if not pending.done:
                    conn.cancel(pending, wait=False)

    def close(self):
        """Release the clip on the server (its analysis stays in the server's cache)."""
        try:
            self.connection.call("close", {"clip": self.id})
        except (NotFound, ConnectionLost):
            pass

    # ----------------------------------------------------------------- internals
    def _range(self, start, stop):
        start = self.start if start is None else int(start)
        stop = self.stop if stop is None else int(stop)
        if not self.start <= start < stop <= self.stop:
            raise BridgeError("frame range [{}, {}) is outside the clip's [{}, {})".format(start, stop, self.start,
                                                                                          self.stop))
        return start, stop

    def _can_resume(self, error, attempts):
        if self._open_args is None or attempts > max(1, self.connection.retries):
            return False
        return isinstance(error, ConnectionLost) or getattr(error, "code", "") == "unknown-clip"

    def _resumable(self, request):
        attempts = 0
        while True:
            try:
                return request()
            except (ConnectionLost, NotFound) as error:
                attempts += 1
                if not self._can_resume(error, attempts):
                    raise
                self._reopen()

    def _reopen(self):
        result, _ = self.connection.call("open", self._open_args)
        self.id = result["clip"]
        self.info = result["info"]
