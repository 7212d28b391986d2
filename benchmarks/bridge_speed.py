"""Bridge and server speed: transport throughput, cached-frame latency, first versus second render.

    python benchmarks/bridge_speed.py [--frames 40] [--clip-frames 100] [--clip-size 640x360] [--quick]

1. Throughput of 1080p float32 RGBA frames (33 MB each) through the bridge over loopback tcp (and
   ipc for comparison), beside a plain memory copy of the same bytes on this machine: streamed
   server -> client (echo with repeat: a render's wire traffic without its compute) and a round trip
   (client -> server -> client). Targets: >= 1 GB/s, within 4x of the copy.
2. First versus second render of a 100-frame clip with the real engine and default parameters:
   the first includes the analysis, the second finds it in memory (target: >= 10x faster); then a
   restarted server (analysis from the disk cache).
3. Latency of one frame of the analysed clip (frame 37), end to end.
Figures are printed and written to benchmarks/out/bridge_speed.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import deflicker_bridge as bridge  # noqa: E402
from tests.server.procs import ServerProcess  # noqa: E402

FAKE = "tests.server.server_fakes:FakeEngine"
GB = 1e9


def synthetic_clip(folder: Path, count: int, width: int, height: int, seed: int = 0) -> Path:
    """A panning texture with strong global and colour flicker, as 8-bit PNGs."""
    rng = np.random.default_rng(seed)
    big = cv2.resize(rng.random((height // 8, (width + count * 2) // 8, 3)).astype(np.float32),
                     (width + count * 2, height), interpolation=cv2.INTER_CUBIC)
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(count):
        frame = big[:, 2 * t:2 * t + width] * (1 + rng.uniform(-0.25, 0.25, 3))
        frame = (np.clip(0.2 + 0.6 * frame, 0, 1) * 255).round().astype(np.uint8)
        cv2.imwrite(str(folder / f"f_{t:04d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return folder


def memory_copy(frame: np.ndarray, repeats: int) -> Dict[str, float]:
    dst = np.empty_like(frame)
    np.copyto(dst, frame)
    started = time.perf_counter()
    for _ in range(repeats):
        np.copyto(dst, frame)
    into = frame.nbytes * repeats / (time.perf_counter() - started) / GB
    started = time.perf_counter()
    for _ in range(repeats):
        bytes(memoryview(frame).cast("B"))
    fresh = frame.nbytes * repeats / (time.perf_counter() - started) / GB
    return {"copy_into": into, "copy_new": fresh}


def transport(address: str, frame: np.ndarray, repeats: int) -> Dict[str, float]:
    with bridge.Connection(address, timeout=120) as conn:
        conn.echo([frame])                                          # warm up the connection
        pending = conn.submit("echo", {"repeat": repeats + 1}, [frame])
        events = conn.events(pending, timeout=300)
        next(events)                                                # first frame back: the upload is over
        started, received = time.perf_counter(), 0
        for header, frames in events:
            received += sum(f.nbytes for f in frames)
        stream = received / (time.perf_counter() - started) / GB
        rtts = []
        for _ in range(max(3, repeats // 4)):
            started = time.perf_counter()
            back = conn.echo([frame])
            rtts.append(time.perf_counter() - started)
            assert back[0].nbytes == frame.nbytes
    rtt = statistics.median(rtts)
    return {"stream": stream, "round_trip": 2 * frame.nbytes / rtt / GB, "rtt_ms": rtt * 1000}


def timed_render(server: ServerProcess, shot: Path, params: Dict) -> float:
    with bridge.Connection(server.address, timeout=120) as conn:
        clip = conn.open(path=str(shot))
        started = time.perf_counter()
        count = sum(1 for _ in clip.render(params=params, window=8))
        seconds = time.perf_counter() - started
        assert count == len(clip)
    return seconds


def frame_latency(server: ServerProcess, shot: Path, params: Dict, index: int = 37, repeats: int = 15) -> List[float]:
    with bridge.Connection(server.address, timeout=120) as conn:
        clip = conn.open(path=str(shot))
        clip.frame(index, params=params)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            clip.frame(index, params=params)
            times.append((time.perf_counter() - started) * 1000)
    return times


def _param(pair: str):
    name, _, text = pair.partition("=")
    if text.lower() in ("true", "false"):
        return name, text.lower() == "true"
    for kind in (int, float):
        try:
            return name, kind(text)
        except ValueError:
            pass
    return name, text


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40, help="1080p frames per throughput run (default 40)")
    parser.add_argument("--trials", type=int, default=3, help="throughput runs per transport (median reported)")
    parser.add_argument("--clip-frames", type=int, default=100)
    parser.add_argument("--clip-size", default="640x360", help="WIDTHxHEIGHT of the render benchmark clip")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="analysis/render parameter for the render benchmark (default: engine defaults)")
    parser.add_argument("--engine", default="real",
                        help="engine for the render part: real (default), fake, or module:factory")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "bridge_speed.md")
    args = parser.parse_args(argv)
    params = dict(_param(pair) for pair in args.param)
    width, height = (int(x) for x in args.clip_size.split("x"))
    rows, notes = [], []

    with tempfile.TemporaryDirectory(prefix="bridge-speed-") as tmp_name:
        tmp = Path(tmp_name)
        frame = np.random.default_rng(0).random((1080, 1920, 4), dtype=np.float32)
        mb = frame.nbytes / 1e6
        copies = [memory_copy(frame, args.frames) for _ in range(args.trials)]
        copy = {key: statistics.median(c[key] for c in copies) for key in copies[0]}
        rows.append(("memory copy into a buffer (np.copyto)", f"{copy['copy_into']:.2f} GB/s", ""))
        rows.append(("memory copy into new bytes", f"{copy['copy_new']:.2f} GB/s", ""))
        for kind in ("tcp", "ipc"):
            extra = []
            server = ServerProcess(tmp / kind, engine=FAKE)
            if kind == "ipc":
                server.address = f"ipc://{tmp / 'bench.ipc'}"
            (tmp / kind).mkdir()
            server.start()
            try:
                trials = [transport(server.address, frame, args.frames) for _ in range(args.trials)]
            finally:
                server.stop()
            t = {key: statistics.median(trial[key] for trial in trials) for key in trials[0]}
            spread = {key: f"{min(x[key] for x in trials):.2f}-{max(x[key] for x in trials):.2f}" for key in t}
            rows.append((f"bridge stream server->client, loopback {kind}", f"{t['stream']:.2f} GB/s",
                         f"range {spread['stream']}; {copy['copy_into'] / t['stream']:.1f}x slower than copy_into, "
                         f"{copy['copy_new'] / t['stream']:.1f}x than copy_new"))
            rows.append((f"bridge round trip client->server->client, {kind}", f"{t['round_trip']:.2f} GB/s",
                         f"range {spread['round_trip']}; {t['rtt_ms']:.1f} ms per {mb:.0f} MB frame"))

        shot = synthetic_clip(tmp / "clip", args.clip_frames, width, height)
        engine = {"real": None, "fake": FAKE}.get(args.engine, args.engine)
        server = ServerProcess(tmp / "render", engine=engine, roots=[tmp], client_timeout=30)
        (tmp / "render").mkdir()
        server.start(timeout=300)
        try:
            first = timed_render(server, shot, params)
            second = timed_render(server, shot, params)
            latency = frame_latency(server, shot, params)
        finally:
            server.stop()
        restarted = ServerProcess(tmp / "render", engine=engine, roots=[tmp], cache=server.cache, client_timeout=30)
        restarted.start(timeout=300)
        try:
            third = timed_render(restarted, shot, params)
        finally:
            restarted.stop()
        label = f"{args.clip_frames} frames {width}x{height}, {args.engine} engine, params {params or 'defaults'}"
        rows.append((f"first render ({label}): analysis + render", f"{first:.2f} s", ""))
        rows.append(("second render (analysis in memory)", f"{second:.2f} s", f"{first / second:.1f}x faster"))
        rows.append(("render after a server restart (analysis from disk)", f"{third:.2f} s",
                     f"{first / third:.1f}x faster than the first"))
        rows.append((f"one cached frame (frame 37, {width}x{height} uint8)", f"{statistics.median(latency):.1f} ms",
                     f"median of {len(latency)}, p90 {sorted(latency)[int(0.9 * len(latency)) - 1]:.1f} ms"))

    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}"
    command = " ".join(["python benchmarks/bridge_speed.py", *(argv or sys.argv[1:])])
    lines = ["# Bridge speed", "", f"`{command}` on {machine}, "
             f"Python {platform.python_version()}, pyzmq {__import__('zmq').__version__}, "
             f"libzmq {__import__('zmq').zmq_version()}; 1080p float32 RGBA = {mb:.1f} MB per frame.", "",
             "| measure | figure | note |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    text = "\n".join(lines + [""] + notes) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
