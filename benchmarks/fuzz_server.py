"""Fuzz a real server process over loopback: malformed, truncated, oversized and out-of-order messages,
interleaved with well-formed sessions that must still get correct frames.

    python benchmarks/fuzz_server.py [--messages 100000] [--seed 1] [--engine fake|real] [--docs]

A seeded generator (the same seed sends the same messages) drives a few hostile DEALER sockets: random
bytes, truncated and type-confused headers, mutated requests of every operation with hostile values
(NaN, huge and negative numbers, long strings, paths outside the roots, over-long paths, a FIFO, other
sessions' clip ids), buffers that do not match their descriptors, too many and oversized parts,
out-of-order puts, credits and cancels for jobs that do not exist, reused ids. Meanwhile a well-behaved
client (the bridge) runs complete sessions in a thread of its own: stream a clip, analyse, render it
back (strength 0 gives the input back) and check every frame; open a sequence by path and render a
range. A prober asks the server for an echo every few hundred messages: no answer within the time
limit is a hang. The server's resident memory (VmRSS) is read at the start, after a warm-up and at the
end (after sessions and stalled renders had time to expire).

It prints counts by reply code; `--docs` writes the run into docs/benchmarks.md (section "fuzz").
`run()` is what tests/server/test_server_fuzz.py calls for its short version.
"""
from __future__ import annotations

import argparse
import collections
import math
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import msgpack
import numpy as np
import zmq

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

FAKE_ENGINE = "tests.server.server_fakes:FakeEngine"
OPS = ["hello", "heartbeat", "describe", "open", "put", "analyse", "render", "credit", "cancel", "status", "close",
       "echo"]                     # every operation but shutdown, which any client may send and which ends the run
DTYPES = ["uint8", "uint16", "float16", "float32"]
HANG_S = 10.0                      # the prober's patience
SETTLE_S = 12.0                    # after the run: sessions expire (3 s), the server trims its heap (every 10 s)
PROBE_EVERY = 500                  # messages between liveness probes
BURST = 64                         # messages per socket between reads of its replies
MAX_FRAME_MB = 1                   # the server's per-buffer limit in the run (so "oversized" is cheap)


# ------------------------------------------------------------------------------------------ the server
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> Optional[float]:
    """Resident memory of a process in MB (Linux /proc), None elsewhere."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


class Server:
    """`python -m deflicker_server` on a free loopback port, its root and cache in `folder`."""

    def __init__(self, folder: Path, engine: str = "fake", client_timeout: float = 3.0,
                 credit_timeout: float = 2.0) -> None:
        self.folder = folder
        self.address = f"tcp://127.0.0.1:{free_port()}"
        argv = [sys.executable, "-m", "deflicker_server", "--bind", self.address, "--root", str(folder),
                "--cache-dir", str(folder / "cache"), "--device", "cpu", "--client-timeout", str(client_timeout),
                "--credit-timeout", str(credit_timeout), "--probe-timeout", "5", "--max-frame-mb", str(MAX_FRAME_MB)]
        if engine == "fake":
            argv += ["--engine", FAKE_ENGINE]
        elif engine != "real":
            argv += ["--engine", engine]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        self.log = open(folder / "server.stderr", "wb")
        self.process = subprocess.Popen(argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=self.log,
                                        stderr=self.log)

    def wait_ready(self, timeout: float = 120.0) -> None:
        from deflicker_bridge.launcher import answers

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited with {self.process.returncode}; see {self.log.name}")
            if answers(self.address, 1.0):
                return
            time.sleep(0.2)
        raise SystemExit(f"the server did not answer within {timeout:.0f} s")

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss(self) -> Optional[float]:
        return rss_mb(self.process.pid)

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()


# ------------------------------------------------------------------------------------------ material
def make_material(folder: Path) -> Dict[str, Any]:
    """A small PNG sequence inside the root, a FIFO, and paths of every kind for the fuzzer to use."""
    import cv2

    shot = folder / "shot"
    shot.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    frames = []
    for i in range(6):
        frame = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        cv2.imwrite(str(shot / f"f_{i:04d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        frames.append(frame)
    fifo = folder / "pipe.mp4"
    if hasattr(os, "mkfifo") and not fifo.exists():
        os.mkfifo(fifo)
    paths = [str(shot), str(shot / "f_%04d.png"), str(shot / "f_0001.png"), str(fifo), "/etc/passwd", "relative/p",
             str(folder / ("x" * 300)), "/" + "y/" * 3000, str(folder / "missing.mp4"), str(shot) + "\x00",
             str(folder / "out" / "o_%04d.png"), str(folder / "out.mp4"), str(folder), "/"]
    return {"shot": shot, "frames": frames, "fifo": fifo, "paths": paths}


# ------------------------------------------------------------------------------------------ hostile messages
class Generator:
    """Seeded hostile messages; `known` collects clip ids and request ids seen, for out-of-order use."""

    def __init__(self, seed: int, material: Dict[str, Any]) -> None:
        self.rng = random.Random(seed)
        self.material = material
        self.clips: List[str] = ["clip-0000000000000000"]
        self.own: Dict[Any, List[str]] = collections.defaultdict(list)     # session -> clips it opened
        self.opens: "collections.OrderedDict[Any, Any]" = collections.OrderedDict()   # open's id -> session
        self.rids: collections.deque = collections.deque(maxlen=64)
        self.next_id = 1
        self.sessions = [None] + [f"fuzz-{seed}-{i}" for i in range(12)]

    # values ---------------------------------------------------------------------------------
    def value(self, depth: int = 0) -> Any:
        r = self.rng
        pick = r.randrange(16 if depth < 2 else 12)
        if pick == 0:
            return None
        if pick == 1:
            return r.choice([True, False])
        if pick == 2:
            return r.choice([0, 1, -1, 2, 7, 16, 255, 65536, 2 ** 31, 2 ** 63 - 1, -2 ** 63, 2 ** 64 - 1])
        if pick == 3:
            return r.choice([0.0, -0.0, 0.5, 1.5, -1.0, 1e308, -1e308, 5e-324, math.nan, math.inf, -math.inf])
        if pick == 4:
            return "".join(r.choice("abc%#/.\\\x00é€") for _ in range(r.randrange(0, 24)))
        if pick == 5:
            return "z" * r.choice([129, 200, 5000])
        if pick == 6:
            return r.randbytes(r.randrange(0, 32))
        if pick == 7:
            return r.choice(self.material["paths"])
        if pick == 8:
            return r.choice(self.clips)
        if pick == 9:
            return r.choice(DTYPES + ["int64", "complex128", ""])
        if pick == 10:
            return [r.randrange(-2, 70) for _ in range(r.randrange(0, 5))]
        if pick == 11:
            return r.choice(list(self.rids) or [1])
        if pick in (12, 13):
            return [self.value(depth + 1) for _ in range(r.randrange(0, 4))]
        return {r.choice(["a", "clip", "path", "start", "stop", "window", "params", "strength"]): self.value(depth + 1)
                for _ in range(r.randrange(0, 4))}

    def rid(self) -> Any:
        r = self.rng
        roll = r.random()
        if roll < 0.08 and self.rids:
            return r.choice(list(self.rids))            # reuse: duplicates of ids possibly in flight
        if roll < 0.12:
            return self.value()                          # an id of any type
        self.next_id += 1
        self.rids.append(self.next_id)
        return self.next_id

    def buffer(self) -> tuple:
        r = self.rng
        dtype = r.choice(DTYPES)
        shape = [r.randrange(1, 9), r.randrange(1, 9), r.choice([3, 4])]
        size = int(np.prod(shape)) * {"uint8": 1, "uint16": 2, "float16": 2, "float32": 4}[dtype]
        return {"dtype": dtype, "shape": shape}, r.randbytes(size)

    # requests --------------------------------------------------------------------------------
    def args_for(self, op: str) -> Dict[str, Any]:
        r = self.rng
        clip = r.choice(self.clips)
        stream = {"height": r.choice([1, 8, 24, -1, 0, 70000]), "width": r.choice([1, 8, 32, 0]),
                  "channels": r.choice([3, 4, 1]), "dtype": r.choice(DTYPES + ["x"]),
                  "count": r.choice([None, 1, 3, 0, -1]), "fps": r.choice([None, 24.0, math.nan, math.inf, 0, -5])}
        sources = [{"path": r.choice(self.material["paths"])}, {"paths": r.sample(self.material["paths"], 3)},
                   {"stream": stream}, {}, {"path": 1, "stream": stream}]
        params = r.choice([{}, {"strength": r.choice([0.0, 0.5, math.nan, math.inf, 9])},
                           {"atlas_steps": r.choice([0, -1, 2.5, "many"])}, {"nope": 1}, {1: 2},
                           {"preset": r.choice(["auto", "x", None])}])
        return {
            "hello": {"versions": r.choice([[1], [2], [], "1", [1, 1.0]]), "client": "fuzz", "name": self.value()},
            "open": {"source": r.choice(sources), "start": r.choice([None, 0, 1, -1, 10 ** 6]),
                     "stop": r.choice([None, 2, 0]), "encoding": r.choice([None, "srgb", "linear", "rec709"])},
            "put": {"clip": clip, "start": r.choice([0, 1, 2, -1, 99]), "end": r.choice([False, True, 1])},
            "analyse": {"clip": clip, "params": params},
            "render": {"clip": clip, "params": params, "start": r.choice([None, 0, 2, -3]),
                       "stop": r.choice([None, 3, 100]), "window": r.choice([None, 0, 1, 4, 10 ** 9]),
                       "output": r.choice([None, None, None] + self.material["paths"])},
            "credit": {"request": r.choice(list(self.rids) or [1]), "frames": r.choice([1, 0, -1, 2 ** 40, "x"])},
            "cancel": {"request": r.choice(list(self.rids) or [1])},
            "close": {"clip": clip},
            "echo": {"repeat": r.choice([1, 2, 0, 1001, None])},
        }.get(op, {})

    def well_formed(self) -> List[Any]:
        """A syntactically valid request of a random operation with hostile arguments."""
        r = self.rng
        op = r.choice(OPS)
        header = {"v": 1, "op": op, "id": None if op in ("heartbeat", "credit") else self.rid(),
                  "session": r.choice(self.sessions), "args": self.args_for(op)}
        if header["session"] is None:
            del header["session"]
        elif op == "open":
            self._opening(header)
        buffers = []
        if op in ("echo", "put") and r.random() < 0.7:
            parts = [self.buffer() for _ in range(r.randrange(1, 4))]
            header["parts"] = [p[0] for p in parts]
            buffers = [p[1] for p in parts]
        return [header, *buffers]

    def mutate(self, header: Dict[str, Any]) -> Dict[str, Any]:
        r = self.rng
        for _ in range(r.randrange(1, 4)):
            key = r.choice(["v", "op", "id", "session", "args", "parts", "extra"])
            if r.random() < 0.3:
                header.pop(key, None)
            else:
                header[key] = self.value()
        if header.get("op") == "shutdown":
            header["op"] = "status"
        return header

    def message(self) -> tuple:
        """(kind, frames) of one hostile message."""
        r = self.rng
        roll = r.random()
        if roll < 0.08:
            return "garbage", [r.randbytes(r.randrange(0, 64))]
        if roll < 0.16:
            packed = msgpack.packb(self.well_formed()[0])
            return "truncated", [packed[:r.randrange(0, max(1, len(packed)))]]
        if roll < 0.22:
            return "wrong-type", [msgpack.packb(self.value())]
        if roll < 0.45:
            frames = self.well_formed()
            frames[0] = self.mutate(frames[0])
            return "mutated", frames
        if roll < 0.55:
            frames = self.well_formed()
            header = frames[0]
            mess = r.randrange(4)
            if mess == 0:
                frames = frames[:1] + [r.randbytes(r.randrange(0, 100))]           # buffer without descriptor
            elif mess == 1:
                header["parts"] = [self.buffer()[0]]
                frames = [header, r.randbytes(r.randrange(0, 50))]                  # wrong size
            elif mess == 2:
                header["parts"] = [self.value() for _ in range(r.randrange(0, 3))]
            else:
                frames = [header] + [b"x"] * 65                                     # too many parts
            return "bad-buffers", frames
        if roll < 0.557:
            header = self.well_formed()[0]
            header["pad"] = "p" * (70 * 1024)                                      # header over its limit
            return "oversized-header", [header]
        if roll < 0.56:
            return "oversized-part", None                                          # sent on its own socket
        if roll < 0.70:
            return "out-of-order", self.out_of_order()
        return "hostile-args", self.well_formed()

    def _opening(self, header: Dict[str, Any]) -> None:
        if isinstance(header.get("id"), (int, str)):
            self.opens[header["id"]] = header.get("session")
            while len(self.opens) > 256:
                self.opens.popitem(last=False)

    def out_of_order(self) -> List[Any]:
        """Valid requests in the wrong order or state: puts out of sequence, work on clips that are not
        ready, closed or someone else's (mostly the sender's own: those get past ownership), credits and
        cancels for nothing."""
        r = self.rng
        owners = [s for s, clips in self.own.items() if clips]
        if owners and r.random() < 0.7:
            session = r.choice(owners)
            clip = r.choice(self.own[session])
        else:
            session, clip = r.choice(self.sessions[1:]), r.choice(self.clips)
        choice = r.randrange(7)
        base = {"v": 1, "session": session}
        if choice == 0:
            part, data = self.buffer()
            return [dict(base, op="put", id=self.rid(), args={"clip": clip, "start": r.randrange(0, 5)},
                         parts=[part]), data]
        if choice == 1:
            return [dict(base, op=r.choice(["analyse", "render"]), id=self.rid(), args={"clip": clip})]
        if choice == 2:
            return [dict(base, op="close", id=self.rid(), args={"clip": clip})]
        if choice == 3:
            return [dict(base, op="credit", id=None, args={"request": self.rid(), "frames": 3})]
        if choice == 4:
            return [dict(base, op="cancel", id=self.rid(), args={"request": r.choice(list(self.rids) or [0])})]
        if choice == 5:
            stream = {"height": 8, "width": 8, "channels": 3, "dtype": "uint8", "count": 2}
            source = r.choice([{"stream": stream}, {"path": str(self.material["shot"])}])
            header = dict(base, op="open", id=self.rid(), args={"source": source})
            self._opening(header)
            return [header]
        return [dict(base, op="render", id=self.rid(), args={"clip": clip, "window": 1})]

    def learn(self, header: Any) -> None:
        """Remember clip ids the server handed out (and to which session), so later messages can misuse them."""
        if isinstance(header, dict) and isinstance(header.get("result"), dict):
            clip = header["result"].get("clip")
            if isinstance(clip, str) and clip not in self.clips:
                self.clips.append(clip)
                del self.clips[:-200]
                rid = header.get("id")
                if isinstance(rid, (int, str)) and rid in self.opens:
                    mine = self.own[self.opens.pop(rid)]
                    mine.append(clip)
                    del mine[:-32]


def pack(frames: List[Any]) -> List[bytes]:
    out = []
    for frame in frames:
        if isinstance(frame, (bytes, bytearray, memoryview)):
            out.append(bytes(frame))
        else:
            try:
                out.append(msgpack.packb(frame))
            except (OverflowError, TypeError, ValueError):
                out.append(msgpack.packb(repr(frame)))
    return out


# ------------------------------------------------------------------------------------------ the good client
class GoodClient(threading.Thread):
    """Complete, correct sessions through the bridge while the fuzzer runs; every frame is checked."""

    def __init__(self, address: str, material: Dict[str, Any], seed: int, stop: threading.Event) -> None:
        super().__init__(name="good-client", daemon=True)
        self.address, self.material, self.stop_event = address, material, stop
        self.rng = np.random.default_rng(seed)
        self.sessions = self.frames = 0
        self.failures: List[str] = []

    def run(self) -> None:
        import deflicker_bridge as bridge

        while not self.stop_event.is_set():
            try:
                with bridge.Connection(self.address, timeout=30.0, heartbeat_timeout=15.0, retries=0,
                                       name="fuzz good client") as conn:
                    self._stream_session(conn)
                    self._path_session(conn)
                self.sessions += 1
            except Exception as error:  # recorded: a well-formed session must never fail
                self.failures.append(f"{type(error).__name__}: {error}")
                time.sleep(0.5)

    def _stream_session(self, conn) -> None:
        dtype = self.rng.choice(["uint8", "uint16", "float32"])
        h, w, c = int(self.rng.integers(8, 40)), int(self.rng.integers(8, 40)), int(self.rng.choice([3, 4]))
        count = int(self.rng.integers(2, 7))
        if dtype == "float32":
            frames = [self.rng.random((h, w, c), dtype=np.float32) for _ in range(count)]
        else:
            top = 255 if dtype == "uint8" else 65535
            frames = [self.rng.integers(0, top + 1, (h, w, c)).astype(dtype) for _ in range(count)]
        clip = conn.open(frames=frames)
        clip.analyse()
        got = list(clip.render(params={"strength": 0.0}, window=2, numpy=True))
        if len(got) != count:
            raise AssertionError(f"streamed clip: {len(got)} frames back for {count}")
        tolerance = 2e-3 if dtype == "float32" else 1      # the real engine's round trip through float
        for i, (out, src) in enumerate(zip(got, frames)):
            if out.shape != src.shape or out.dtype != src.dtype or not np.allclose(out, src, atol=tolerance, rtol=0):
                raise AssertionError(f"streamed clip frame {i}: not the input at strength 0")
        self.frames += count
        clip.close()

    def _path_session(self, conn) -> None:
        clip = conn.open(path=str(self.material["shot"]))
        got = list(clip.render(1, 4, params={"strength": 0.0}, numpy=True))
        for out, src in zip(got, self.material["frames"][1:4]):
            if out.shape != src.shape or not np.allclose(out, src, atol=1, rtol=0):
                raise AssertionError("path clip: a frame is not the input at strength 0")
        if len(got) != 3:
            raise AssertionError(f"path clip: {len(got)} frames back for 3")
        self.frames += 3
        clip.close()


# ------------------------------------------------------------------------------------------ the run
def _probe(prober: zmq.Socket, n: int) -> Optional[float]:
    """Seconds until the server echoed, or None when it did not answer within HANG_S (a hang)."""
    started = time.monotonic()
    prober.send(msgpack.packb({"v": 1, "op": "echo", "id": f"probe-{n}", "session": "fuzz-prober"}))
    deadline = started + HANG_S
    while time.monotonic() < deadline:
        if prober.poll(100):
            header = msgpack.unpackb(prober.recv_multipart()[0])
            if header.get("id") == f"probe-{n}":
                return time.monotonic() - started
    return None


def _drain(sock: zmq.Socket, counts: collections.Counter, gen: Generator) -> None:
    while sock.poll(0):
        frames = sock.recv_multipart()
        try:
            header = msgpack.unpackb(frames[0], strict_map_key=False)
        except Exception:
            counts["(unreadable reply)"] += 1
            continue
        kind = header.get("kind") if isinstance(header, dict) else None
        code = (header.get("error") or {}).get("code") if kind == "error" else kind
        counts[str(code)] += 1
        gen.learn(header)


def run(address: str, messages: int = 100_000, seed: int = 1, material: Optional[Dict[str, Any]] = None,
        alive: Callable[[], bool] = lambda: True, rss: Callable[[], Optional[float]] = lambda: None,
        settle_s: float = 6.0, log: Callable[[str], None] = lambda line: None) -> Dict[str, Any]:
    """Send `messages` hostile messages to the server at `address` while a good client works; return counts."""
    context = zmq.Context.instance()
    gen = Generator(seed, material)
    attackers = []
    for _ in range(4):
        sock = context.socket(zmq.DEALER)
        sock.linger = 0
        sock.setsockopt(zmq.RCVHWM, 0)
        sock.connect(address)
        attackers.append(sock)
    prober = context.socket(zmq.DEALER)
    prober.linger = 0
    prober.connect(address)
    stop = threading.Event()
    good = GoodClient(address, material, seed, stop)
    sent: collections.Counter = collections.Counter()
    replies: collections.Counter = collections.Counter()
    probes: List[float] = []
    hangs = disconnects = 0
    memory = {"start": rss()}
    started = time.monotonic()
    good.start()
    try:
        for n in range(messages):
            if not alive():
                break
            kind, frames = gen.message()
            sent[kind] += 1
            if kind == "oversized-part":
                lone = context.socket(zmq.DEALER)     # the server disconnects it: a socket of its own
                lone.linger = 0
                lone.connect(address)
                size = MAX_FRAME_MB * (1 << 20) + 1
                lone.send_multipart([msgpack.packb({"v": 1, "op": "echo", "id": n,
                                                    "parts": [{"dtype": "uint8", "shape": [size]}]}), bytes(size)])
                lone.close(0)
                disconnects += 1
            else:
                sock = attackers[n % len(attackers)]
                sock.send_multipart(pack(frames))
            if n % BURST == BURST - 1:
                for sock in attackers:
                    _drain(sock, replies, gen)
            if n % PROBE_EVERY == PROBE_EVERY - 1:
                waited = _probe(prober, n)
                if waited is None:
                    hangs += 1
                    log(f"no answer to the liveness probe after message {n + 1}")
                else:
                    probes.append(waited)
            if n == messages // 10:
                memory["warm"] = rss()
            if n % 20_000 == 19_999:
                now = rss()
                if now is not None:
                    memory["peak"] = max(memory.get("peak") or 0.0, now)
                log(f"{n + 1} messages, {sum(replies.values())} replies, good sessions {good.sessions}, "
                    f"rss {now} MB")
        fuzz_seconds = time.monotonic() - started
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            for sock in attackers:
                _drain(sock, replies, gen)
            time.sleep(0.05)
    finally:
        stop.set()
        good.join(60)
        for sock in attackers + [prober]:
            sock.close(0)
    time.sleep(settle_s)                       # sessions, parked renders and stuck opens expire
    memory["end"] = rss()
    return {"messages": sum(sent.values()), "sent": dict(sent), "replies": dict(replies), "hangs": hangs,
            "crashed": not alive(), "disconnects": disconnects, "seconds": round(fuzz_seconds, 1),
            "probe_max_s": round(max(probes), 3) if probes else None,
            "probe_median_s": round(float(np.median(probes)), 4) if probes else None,
            "good_sessions": good.sessions, "good_frames": good.frames, "good_failures": good.failures,
            "memory_mb": {k: (round(v, 1) if v is not None else None) for k, v in memory.items()}}


# ------------------------------------------------------------------------------------------ report
def report(result: Dict[str, Any], args: argparse.Namespace) -> str:
    from benchmarks.common import markdown_table

    mem = result["memory_mb"]
    lines = ["## Server fuzzing (issue 10)", "",
             f"`python benchmarks/fuzz_server.py --messages {args.messages} --seed {args.seed} --engine {args.engine}` "
             f"on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
             f"pyzmq {zmq.__version__}, libzmq {zmq.zmq_version()}; server on loopback tcp with --max-frame-mb "
             f"{MAX_FRAME_MB}, --client-timeout 3, --credit-timeout 2.", "",
             markdown_table(["measure", "figure"], [
                 ["hostile messages sent", f"{result['messages']:,} in {result['seconds']} s "
                                           f"({result['messages'] / max(result['seconds'], 1e-9):,.0f}/s)"],
                 ["server crashes", "0" if not result["crashed"] else "**1**"],
                 ["hangs (echo probe unanswered for 10 s)", result["hangs"]],
                 ["echo probe latency under load", f"median {result['probe_median_s']} s, max {result['probe_max_s']} s"],
                 ["well-formed sessions meanwhile (stream + path clip, frames checked)",
                  f"{result['good_sessions']} sessions, {result['good_frames']} frames, "
                  f"{len(result['good_failures'])} failed"],
                 ["server memory (VmRSS)", f"{mem.get('start')} MB at start, {mem.get('warm')} MB after 10% of the "
                                           f"messages, at most {mem.get('peak')} MB while running (sampled every "
                                           f"20,000), {mem.get('end')} MB at the end (after {SETTLE_S:g} s for "
                                           "sessions to expire)"],
             ]), "",
             "Messages by kind:", "",
             markdown_table(["kind", "sent"], sorted(result["sent"].items(), key=lambda kv: -kv[1])), "",
             "Replies by code (`id`-less errors included; notices and disconnected senders get none):", "",
             markdown_table(["reply", "count"], sorted(result["replies"].items(), key=lambda kv: -kv[1]))]
    lines += ["", "What earlier runs of this fuzzer found, fixed since: a job's final reply could overtake its last "
              "frames once a job moved between the compute and render lanes (one outbox FIFO now keeps a job's "
              "messages in order); libzmq 4.3 aborted the server (assertion `!_io_error`, zeromq/libzmq#3937) after "
              "about 290,000 messages, when a ZMTP heartbeat timed out on a flooding peer (TCP keepalive replaces "
              "ZMTP heartbeats on the server; tests/server/test_server_hardening.py floods a server for 30 s); one "
              "session could hold every upload slot (uploads are now limited per session too); resident memory "
              "crept up with every burst (glibc kept freed heap: the server now trims it every 10 s). The Python "
              "heap itself (tracemalloc, server in-process, 4 rounds of 40,000 messages) stayed at 14-15 MB."]
    if result["good_failures"]:
        lines += ["", "Failures of well-formed sessions:", ""] + [f"- {f}" for f in result["good_failures"][:10]]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000, help="hostile messages to send (default 100000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the message generator (default 1)")
    parser.add_argument("--engine", default="fake", help="fake (numpy stand-in, default), real, or module:factory")
    parser.add_argument("--docs", action="store_true", help="write the run into docs/benchmarks.md (section fuzz)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="deflicker-fuzz-") as tmp:
        folder = Path(tmp)
        material = make_material(folder)
        server = Server(folder, args.engine)
        try:
            server.wait_ready()
            result = run(server.address, args.messages, args.seed, material, server.alive, server.rss,
                         settle_s=SETTLE_S, log=lambda line: print(line, flush=True))
        finally:
            server.stop()
            try:
                os.close(os.open(material["fifo"], os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
            log_tail = (folder / "server.stderr").read_text(errors="replace").splitlines()[-60:]
    text = report(result, args)
    if result["crashed"] or result["hangs"] or result["good_failures"]:
        print("the server's last log lines:\n" + "\n".join(log_tail))
        print(f"exit status: {server.process.returncode}")
    print(text)
    if args.docs:
        from benchmarks.common import DOCS, write_section
        write_section(DOCS, "fuzz", text)
        print(f"written to {DOCS}")
    ok = not result["crashed"] and not result["hangs"] and not result["good_failures"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
