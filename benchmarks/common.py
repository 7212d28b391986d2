"""Shared by the benchmark scripts: data loading, the pluggable method list, docs sections, tables.

Data comes from ../shared/data/clips beside the repository (never copied in). A method is any callable
`(frames, fps=None) -> frames` on lists of float32 RGB arrays in [0, 1]; register a new one in make_methods.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # scripts run as `python benchmarks/x.py` from anywhere
    sys.path.insert(0, str(ROOT))
# ../shared/data beside the repository; DEFLICKER_DATA names another copy (the accelerator machine gets a piece)
SHARED_DATA = Path(os.environ.get("DEFLICKER_DATA") or ROOT.parent / "shared" / "data")
DATA = SHARED_DATA / "clips"
DOCS = ROOT / "docs" / "benchmarks.md"
FIGURES = ROOT / "docs" / "figures"

Frames = List[np.ndarray]
Method = Callable[[Frames], Frames]


# ----------------------------------------------------------------------------------------- data


def load_folder(folder: Path, limit: Optional[int] = None) -> Frames:
    """Image files of a folder, sorted by name, as float32 RGB in [0, 1]."""
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff"))
    frames = []
    for path in paths[:limit]:
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise SystemExit(f"cannot read {path}")
        scale = 65535.0 if image.dtype == np.uint16 else 255.0
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        frames.append(cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2RGB).astype(np.float32) / scale)
    return frames


def load_video(path: Path, limit: Optional[int] = None) -> Frames:
    """Frames of a video file (PyAV) as float32 RGB in [0, 1]."""
    import av

    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24").astype(np.float32) / 255.0)
            if limit is not None and len(frames) >= limit:
                break
    return frames


def require_data() -> Path:
    if not DATA.is_dir():
        raise SystemExit(f"benchmark data not found at {DATA}; it lives in ../shared/data beside the repository")
    return DATA


def to_uint16(frames: Frames) -> List[np.ndarray]:
    return [(np.clip(f, 0, 1) * 65535 + 0.5).astype(np.uint16) for f in frames]


def from_native(frames) -> Frames:
    out = []
    for f in frames:
        f = np.asarray(f)
        scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(f.dtype, 1.0)
        out.append(f[..., :3].astype(np.float32) / np.float32(scale))
    return out


# ----------------------------------------------------------------------------------------- methods


def method_raw(frames: Frames, fps: Optional[float] = None) -> Frames:
    """Identity: the flickering input itself."""
    return frames


def ffmpeg_deflicker(frames: Frames, mode: str = "pm", size: int = 7, fps: float = 24) -> Frames:
    """ffmpeg's `deflicker` filter (imageio-ffmpeg's binary), 16-bit in and out through yuv444p16.

    A YUV format keeps the filter's documented behaviour: it scales the luma plane and leaves chroma alone
    (on an RGB-planar format it would scale only the green plane).
    """
    import imageio_ffmpeg

    h, w = frames[0].shape[:2]
    raw = np.stack(to_uint16(frames)).astype("<u2").tobytes()
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "rawvideo",
               "-pix_fmt", "rgb48le", "-s", f"{w}x{h}", "-r", _rate(fps), "-i", "-",
               "-vf", f"format=yuv444p16le,deflicker=mode={mode}:size={size}",
               "-f", "rawvideo", "-pix_fmt", "rgb48le", "-"]
    result = subprocess.run(command, input=raw, capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg deflicker failed: {result.stderr.decode(errors='replace').strip()}")
    out = np.frombuffer(result.stdout, "<u2").reshape(-1, h, w, 3)
    if len(out) != len(frames):
        raise RuntimeError(f"ffmpeg returned {len(out)} frames for {len(frames)}")
    return [f.astype(np.float32) / 65535.0 for f in out]


def _rate(fps: Optional[float]) -> str:
    """A frame rate as "num/den" (24, 25, 30000/1001 ...)."""
    from fractions import Fraction

    return str(Fraction(fps if fps else 24).limit_denominator(1001))


class EngineMethod:
    """Our engine through its public API; one Deflicker (networks loaded once) shared by every call.

    `fps` reaches the engine's clip info (its time constants are in seconds): through deflicker_frames when it
    takes a rate, otherwise by spooling the frames with that rate and running analyse + render, which is what
    deflicker_frames does. `analysis` / `render` override fields of AnalysisParams / RenderParams per call;
    they are built with deflicker_engine.config.from_dict, like the CLI's, so a `preset` brings its values.
    """

    _engines: Dict[str, object] = {}

    def __init__(self, device: str = "auto", weights_dir: Optional[str] = None, **analysis):
        self.device = device
        self.weights_dir = weights_dir  # candidate networks (a folder with filter.pt and refiner.pt); None: shipped
        self.analysis = analysis

    def __call__(self, frames: Frames, fps: Optional[float] = None, analysis: Optional[Dict] = None,
                 render: Optional[Dict] = None) -> Frames:
        import inspect

        from deflicker_engine import AnalysisParams, Deflicker, RenderParams

        key = f"{self.device}|{self.weights_dir or ''}"
        engine = self._engines.get(key)
        if engine is None:
            engine = self._engines[key] = Deflicker(device=self.device, weights_dir=self.weights_dir)
        try:  # as the CLI builds them: a preset's values apply, explicit values win over them
            from deflicker_engine.config import from_dict
        except ImportError:
            def from_dict(cls, values):
                return cls(**values)
        analysis_params = from_dict(AnalysisParams, {**self.analysis, **(analysis or {})})
        render_params = from_dict(RenderParams, dict(render or {}))
        # uint16 frames: sRGB-encoded integers, so the engine sees them as display-referred, like the clips.
        native = iter(to_uint16(frames))
        takes = inspect.signature(engine.deflicker_frames).parameters
        self.decisions = []          # per shot, what the engine chose (where it says): kept with the results
        told = {"decisions": self.decisions} if "decisions" in takes else {}
        if fps is None:
            out = list(engine.deflicker_frames(native, analysis_params, render_params, **told))
        elif "rate" in takes or "fps" in takes:
            rate = {"rate": _rate(fps)} if "rate" in takes else {"fps": fps}
            out = list(engine.deflicker_frames(native, analysis_params, render_params, **rate, **told))
        else:
            from deflicker_engine.io import spool_frames

            with spool_frames(native, rate=_rate(fps)) as source:
                result = engine.analyse(source, analysis_params)
                out = [frame for _, frame in engine.render(source, result, render_params)]
        return from_native(out)


def make_methods(names: Sequence[str], device: str = "auto", weights_dir: Optional[str] = None) -> Dict[str, Method]:
    """Methods by name, in the order asked; unknown names stop the script with the list of known ones.

    Every method takes `(frames, fps=...)`; EngineMethods also take analysis= and render= overrides."""
    factories: Dict[str, Callable[[], Method]] = {
        "raw": lambda: method_raw,
        "ffmpeg": lambda: ffmpeg_deflicker,
        "ffmpeg-am": lambda: (lambda frames, fps=24: ffmpeg_deflicker(frames, mode="am", fps=fps)),
        "ours-no-atlas": lambda: EngineMethod(device, weights_dir, use_atlas=False),
        "ours": lambda: EngineMethod(device, weights_dir),
    }
    unknown = [n for n in names if n not in factories]
    if unknown:
        raise SystemExit(f"unknown method(s) {unknown}; known: {', '.join(factories)}")
    return {name: factories[name]() for name in names}


# ----------------------------------------------------------------------------------------- reporting


def write_section(path: Path, name: str, body: str, title: str = "# Benchmarks") -> None:
    """Replace (or append) the block between `<!-- begin NAME -->` and `<!-- end NAME -->` in path.

    Each script owns one marked section, so quality.py and speed.py never clobber each other.
    """
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else f"{title}\n\nGenerated by the scripts in `benchmarks/`; " \
                                                  "each section is rewritten by its own script.\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def case_script_parser(doc: str, default_cases: str, saved: str) -> argparse.ArgumentParser:
    """The options every per-case diagnostic script takes (seams.py, stages.py)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--cases", default=default_cases, help="comma list of globs on case names")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--report-from", type=Path, metavar=saved, help="write the docs section from a saved run")
    return parser


def flicker_cases(names: str) -> list:
    """The development benchmark's synthetic and genuine cases matching `names` (its clean reference exists)."""
    import devset

    cases = [c for c in devset.cases("all", names=names) if c.kind in ("synthetic", "genuine")]
    if not cases:
        raise SystemExit("no case matches")
    return cases


def write_run_section(name: str, title: str, run: Dict, explanation: str, table: str) -> None:
    """The NAME section of docs/benchmarks.md for a saved run of benchmarks/NAME.py: title, how the run was
    made, what the figures mean, the table."""
    seconds = f", {run['seconds']:.0f}s. " if "seconds" in run else ". "
    made = f"`python benchmarks/{name}.py {' '.join(run['argv'])}` on {run['machine']}{seconds}"
    write_section(DOCS, name, "\n".join([f"## {title}", "", made + explanation, "", table]))
    print(f"wrote {DOCS}")


def save_run(run: Dict, name: str, write_docs: Callable[[Dict], None], docs: bool) -> None:
    """benchmarks/out/NAME.json, and the docs section unless told not to."""
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(run, indent=1))
    if docs:
        write_docs(run)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
                     for r in cells)


def software_note() -> Dict[str, str]:
    """Library versions and the engine's commit: the same code under another OpenCV or numpy can move a
    case's figures (optical flow, RANSAC), so a run records what it ran on."""
    from importlib.metadata import PackageNotFoundError, version

    note = {}
    for name in ("numpy", "opencv-python-headless", "torch", "av"):
        try:
            note[name] = version(name)
        except PackageNotFoundError:
            note[name] = "absent"
    try:
        note["commit"] = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                                        text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        note["commit"] = "unknown"
    return note


def machine_note() -> str:
    import os
    import platform

    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except Exception:  # torch is a dependency of the engine, not of these helpers
        gpu = "unknown GPU"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, {gpu}"
