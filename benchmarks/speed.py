"""Speed benchmark: `deflicker run` end to end, seconds per stage, frames per second, peak memory.

    python benchmarks/speed.py                    # the four standard cases
    python benchmarks/speed.py --quick            # one tiny case: a smoke run of the harness
    python benchmarks/speed.py --device cuda      # forwarded to `deflicker run`

Each case runs the real command line (`python -m deflicker_engine.cli run IN -o OUT`) in a child process:
wall time is the whole command (interpreter start, network loading, decode, analysis, render, encode);
peak memory is the child's ru_maxrss, taken by a small launcher process (see PEAK_LAUNCHER); per-stage seconds come from the engine's own
`analysis.stage_seconds`, read back through `--timings`. Input clips are H.264 mp4s made once into
--out/clips: the real bmx-trees clip when ../shared/data is present, otherwise generated scenes
(examples/make_example.py) with synthetic flicker. Writes the `speed` section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import cv2
import numpy as np

from common import DATA, DOCS, ROOT, load_folder, machine_note, markdown_table, text_table, write_section

sys.path.insert(0, str(ROOT / "examples"))
from make_example import flicker_example, render_scene, write_mp4  # noqa: E402


@dataclass(frozen=True)
class Case:
    name: str
    frames: int
    width: int
    height: int
    source: str  # "bmx" (real clip), "scene" (generated) or "pan" (a generated long take, see pan_take)


CASES = (
    Case("bmx 432x240", 70, 432, 240, "bmx"),
    Case("scene 854x480", 100, 854, 480, "scene"),
    Case("scene 640x360 long", 240, 640, 360, "scene"),
    Case("scene 1080p (memory)", 48, 1920, 1080, "scene"),
    Case("scene 1080p long (memory)", 300, 1920, 1080, "scene"),
)
# Long takes: one shot each, so time per frame and peak memory show whether either grows with the shot.
LONG_TAKES = (
    Case("1080p single shot 250", 250, 1920, 1080, "pan"),
    Case("1080p single shot 1000", 1000, 1920, 1080, "pan"),
    Case("1080p single shot 3000", 3000, 1920, 1080, "pan"),
)
# On an accelerator (issue 13): 1080p 100 frames, 4K 48 frames, 1080p 1,000 frames.
GPU_CASES = (
    Case("1080p 100", 100, 1920, 1080, "scene"),
    Case("4K 48", 48, 3840, 2160, "pan"),
    Case("1080p 1000", 1000, 1920, 1080, "pan"),
)
SETS = {"standard": CASES, "long": LONG_TAKES, "gpu": GPU_CASES}
QUICK_CASES = (Case("scene 256x144 quick", 16, 256, 144, "scene"),)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pan_take(count: int, width: int, height: int, period: int = 480) -> Iterator[np.ndarray]:
    """A slow pan back and forth over one rendered landscape: one shot of any length with camera motion, at
    about one warp a frame (rendering the scene afresh costs seconds a 1080p frame; 3,000 of them, hours)."""
    span = width // 4
    panorama = next(render_scene(1, width + span, height, supersample=1))
    for t in range(count):
        x = span * 0.5 * (1.0 - math.cos(2.0 * math.pi * t / period))
        shift = np.float32([[1, 0, -x], [0, 1, 0]])
        yield cv2.warpAffine(panorama, shift, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def make_clip(case: Case, folder: Path) -> Path:
    """The case's input mp4, made once and reused (generation is not what is being timed)."""
    path = folder / f"{case.source}_{case.width}x{case.height}_{case.frames}.mp4"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    if case.source == "bmx" and (DATA / "clean_bmx_trees").is_dir():
        from deflicker_engine.synthetic import add_flicker

        clean = load_folder(DATA / "clean_bmx_trees", case.frames)
        frames = add_flicker(clean, window=1, seed=0)
    else:
        supersample = 2 if case.width * case.height <= 640 * 360 else 1
        clean = (pan_take(case.frames, case.width, case.height) if case.source == "pan"
                 else render_scene(case.frames, case.width, case.height, supersample=supersample))
        frames = flicker_example(clean)  # a frame at a time: a long 1080p clip never sits in memory
    write_mp4(frames, path)
    return path


# Linux carries a parent's peak RSS into a forked child's ru_maxrss, even across exec: measured straight
# from this (large) process, `deflicker run` would be charged for the clips this script holds. A tiny
# launcher in between forks the real child from a few MB, and reports that child's own peak (KiB).
PEAK_LAUNCHER = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[2:]); "
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
    "sys.exit(code)"
)


def run_case(case: Case, clip: Path, out_dir: Path, device: str, extra: List[str]) -> Dict:
    """Run `deflicker run` on clip in a child process; wall time, peak RSS, stage seconds."""
    output = out_dir / f"out_{clip.name}"
    analysis = out_dir / f"timings_{clip.stem}.json"
    for stale in (output, analysis):
        stale.unlink(missing_ok=True)
    command = [sys.executable, "-m", "deflicker_engine.cli", "run", str(clip), "-o", str(output), "-q",
               "--device", device, "--timings", str(analysis), *extra]
    log_path = out_dir / f"log_{clip.stem}.txt"
    peak_path = out_dir / f"peak_{clip.stem}.txt"
    with open(log_path, "wb") as log_file:  # a file, not a pipe: a chatty child can never block on it
        started = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", PEAK_LAUNCHER, str(peak_path), *command],
                                 stdout=log_file, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(child.pid, 0)  # the launcher's usage includes the child it waited for
        wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    peak_mb = int(peak_path.read_text()) / 1024.0 if peak_path.exists() else float("nan")
    peak_path.unlink(missing_ok=True)
    if child.returncode != 0:
        tail = log_path.read_text(errors="replace").strip()[-2000:]
        raise SystemExit(f"{case.name}: deflicker run failed ({child.returncode}):\n{tail}")
    timings = json.loads(analysis.read_text())
    stages = dict(timings["stages"])
    analysis.unlink(missing_ok=True)
    output.unlink(missing_ok=True)
    stages["other"] = max(0.0, wall - sum(stages.values()))  # start-up, imports, network loading, saving
    row = dict(case=case.name, frames=case.frames, width=case.width, height=case.height, wall=wall,
               fps=case.frames / wall, cpu=usage.ru_utime + usage.ru_stime, peak_rss_mb=peak_mb, stages=stages)
    if timings.get("device"):
        row["device"] = timings["device"]
    if timings.get("gpu_peak_mb") is not None:
        row["gpu_peak_mb"] = timings["gpu_peak_mb"]
    return row


def tables(rows: List[Dict]):
    stages = list(dict.fromkeys(s for r in rows for s in r["stages"]))
    gpu = any("gpu_peak_mb" in r for r in rows)
    header = (["case", "frames", "size", "wall s", "fps", "s/frame", "CPU s/frame", "peak RSS MB"] + (["peak GPU MB"] if gpu else [])
              + [f"{s} s" for s in stages])
    table = [[r["case"], r["frames"], f"{r['width']}x{r['height']}", f"{r['wall']:.1f}", f"{r['fps']:.2f}",
              f"{r['wall'] / r['frames']:.3f}", f"{r['cpu'] / r['frames']:.3f}" if "cpu" in r else "",
              f"{r['peak_rss_mb']:.0f}"]
             + ([f"{r.get('gpu_peak_mb', float('nan')):.0f}"] if gpu else [])
             + [f"{r['stages'].get(s, 0.0):.1f}" for s in stages] for r in rows]
    return header, table


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda (passed to deflicker run)")
    parser.add_argument("--quick", action="store_true", help="one tiny case, to check the harness")
    parser.add_argument("--set", choices=sorted(SETS), default="standard",
                        help="standard (the five cases), long (one-shot 1080p takes of 250, 1000 and 3000 frames: "
                             "seconds per frame and peak memory against length), gpu (the accelerator cases)")
    parser.add_argument("--cases", help="comma list of case numbers (1-based, within the set) to run; default all")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out",
                        help="work folder: input clips (kept) and speed.json")
    parser.add_argument("--no-docs", action="store_true", help="do not touch docs/benchmarks.md")
    parser.add_argument("--make-only", action="store_true",
                        help="only make the input clips (run one per case in parallel before timing them)")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the report to write the section into")
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="after --: more options for deflicker run")
    parser.add_argument("--report-from", type=Path, nargs="+", metavar="SPEED.json",
                        help="write the docs section for --set from saved runs (their rows, in order), running nothing")
    args = parser.parse_args(argv)
    if args.report_from:
        runs = [json.loads(p.read_text()) for p in args.report_from]
        commands = "; ".join(f"`python benchmarks/speed.py {' '.join(r['argv'])}`" for r in runs)
        write_docs(args.docs, args.set, False, f"{commands} on {runs[0]['machine']}.",
                   [row for r in runs for row in r["rows"]])
        return 0
    cases = list(QUICK_CASES if args.quick else SETS[args.set])
    if args.cases:
        cases = [cases[int(i) - 1] for i in args.cases.split(",")]
    extra = [a for a in args.extra if a != "--"]

    if args.make_only:
        for case in cases:
            log(f"{case.name}: {make_clip(case, args.out / 'clips')}")
        return 0
    rows = []
    for case in cases:
        clip = make_clip(case, args.out / "clips")
        log(f"{case.name}: {case.frames} frames ...")
        rows.append(run_case(case, clip, args.out, args.device, extra))
        r = rows[-1]
        log(f"  {r['wall']:.1f}s, {r['wall'] / r['frames']:.3f} s/frame, CPU {r['cpu'] / r['frames']:.3f} s/frame, peak RSS {r['peak_rss_mb']:.0f} MB, stages "
            + ", ".join(f"{k} {v:.1f}s" for k, v in r["stages"].items()))

    header, table = tables(rows)
    print(text_table(header, table))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"speed-{'quick' if args.quick else args.set}.json").write_text(json.dumps({"argv": argv, "machine": machine_note(), "rows": rows}, indent=1))
    if not args.no_docs:
        write_docs(args.docs, args.set, args.quick, f"`python benchmarks/speed.py {' '.join(argv)}` on "
                   f"{machine_note()}, device `{args.device}`.", rows)
    return 0


def write_docs(docs: Path, set_name: str, quick: bool, how: str, rows: List[Dict]) -> None:
    header, table = tables(rows)
    body = "\n".join([
        f"## Speed{' (quick smoke run)' if quick else ''}"
        + {"standard": "", "long": ": long takes", "gpu": ": on an accelerator"}[set_name], "",
        f"{how} Wall time is the whole `deflicker run` command (interpreter start, network loading, decode, "
        "analysis, render, encode); `other` is wall time outside the engine's stages. Peak RSS is the "
        "child process's host memory (ru_maxrss), not GPU memory. CPU s/frame is the child's user + system "
        "time per frame: unlike wall time it does not grow when other work shares the machine.", "",
        markdown_table(header, table)])
    write_section(docs, "speed" if set_name == "standard" else f"speed-{set_name}", body)
    print(f"wrote {docs}")


if __name__ == "__main__":
    raise SystemExit(main())
