"""A QC report people look at: one self-contained HTML page per shot, built from the files alone.

`write_report(path, input, output, params, seconds)` reads the input and the deflickered output once,
side by side, at low resolution, and writes one HTML file with everything embedded (images as data
URIs, curves as inline SVG, no scripts, nothing fetched): before/after stills, per-frame mean luma and
per-channel means of both clips, a heat map of where the correction was strongest with its colour scale,
the parameters (which preset ran) and the stage timings. It needs only the two files and the numbers,
never the pipeline's internals, so `deflicker run --report` and `deflicker batch --report-dir` (whose
shots run on a server) share it. `write_index` makes the batch's index page.

Values are measured in the working encoding (sRGB-like, see io.colour), the one the analysis sees.
"""
from __future__ import annotations

import base64
import html
import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from .config import PRESETS, AnalysisParams, RenderParams
from .errors import InputError, OutputError
from .progress import CancelToken, ProgressFn, check_cancel, no_progress

PathLike = Union[str, "os.PathLike[str]"]

LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)   # Rec.709 weights, on the working encoding (Y')
MEASURE_SIZE = 192      # long side at which means and the heat map are measured
STILL_SIZE = 640        # long side of the embedded stills
THUMB_SIZE = 200        # long side of the batch index's thumbnails
STILLS = 4              # before/after pairs per report


# --- measuring ------------------------------------------------------------------------------------

@dataclass
class Still:
    index: int
    label: str              # the frame's file name for sequences, else "frame N"
    before: np.ndarray      # uint8 RGB, display-ready
    after: np.ndarray


@dataclass
class Measurements:
    """Everything a report shows that comes from the pixels."""

    count: int
    width: int
    height: int
    fps: Optional[float]
    luma_in: np.ndarray             # [N] mean luma per frame
    luma_out: np.ndarray
    rgb_in: np.ndarray              # [N, 3] mean per channel
    rgb_out: np.ndarray
    heat: np.ndarray                # [h, w] mean |output - input| over frames and channels
    stills: List[Still] = field(default_factory=list)
    colour: str = ""                # how the colours were read, in words

    @property
    def jitter_in(self) -> float:
        """Mean absolute frame-to-frame change of mean luma: the global flicker a viewer sees."""
        return _jitter(self.luma_in)

    @property
    def jitter_out(self) -> float:
        return _jitter(self.luma_out)


def _jitter(values: np.ndarray) -> float:
    return float(np.mean(np.abs(np.diff(values)))) if len(values) > 1 else 0.0


def still_indices(count: int, stills: int = STILLS) -> List[int]:
    """A few frames spread over the clip, first and last included."""
    if count <= 0:
        return []
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, min(stills, count))})


def _size(height: int, width: int, long_side: int) -> Tuple[int, int]:
    scale = min(1.0, long_side / max(height, width))
    return max(1, int(round(height * scale))), max(1, int(round(width * scale)))


def _resize(image: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    if image.shape[:2] == shape:
        return image
    return cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def _display(rgb: np.ndarray, long_side: int) -> np.ndarray:
    """Working-encoded float RGB -> uint8 RGB for the page (values beyond [0, 1] clipped for display)."""
    small = _resize(rgb, _size(rgb.shape[0], rgb.shape[1], long_side))
    return np.rint(np.clip(small, 0.0, 1.0) * 255.0).astype(np.uint8)


def _label(names: Optional[Sequence[str]], index: int) -> str:
    return names[index] if names and index < len(names) else f"frame {index}"


def _colour_words(info) -> str:
    colour = getattr(info, "colour", None)
    if colour is not None:
        return f"{colour.colorspace} (OpenColorIO config {colour.config_name}); analysed as {colour.working}"
    return "from the file: scene-linear EXR through the sRGB curve" if info.encoding == "linear" else \
        "from the file: sRGB-encoded"


def measure(input_path: PathLike, output_path: PathLike, colorspace: str = "", stills: int = STILLS,
            progress: ProgressFn = no_progress, cancel: Optional[CancelToken] = None) -> Measurements:
    """Read input and output side by side once; keep only low-resolution sums and a few stills."""
    from .io import open_source, to_working

    with open_source(input_path, colorspace=colorspace) as src, \
            open_source(output_path, colorspace=colorspace) as out:
        a, b = src.info, out.info
        if (a.count, a.width, a.height) != (b.count, b.width, b.height):
            raise InputError(f"the output {b.path} ({b.count} frames of {b.width}x{b.height}) does not match the "
                             f"input {a.path} ({a.count} frames of {a.width}x{a.height}); report on the output "
                             "that was made from this input")
        shape = _size(a.height, a.width, MEASURE_SIZE)
        wanted = set(still_indices(a.count, stills))
        luma_in, luma_out = np.zeros(a.count), np.zeros(a.count)
        rgb_in, rgb_out = np.zeros((a.count, 3)), np.zeros((a.count, 3))
        heat = np.zeros(shape, np.float64)
        kept: List[Still] = []
        for i, (frame_in, frame_out) in enumerate(zip(src.frames(), out.frames())):
            check_cancel(cancel)
            work_in, work_out = to_working(frame_in, a)[0], to_working(frame_out, b)[0]
            small_in, small_out = _resize(work_in, shape), _resize(work_out, shape)
            rgb_in[i], rgb_out[i] = small_in.mean(axis=(0, 1)), small_out.mean(axis=(0, 1))
            luma_in[i], luma_out[i] = float(rgb_in[i] @ LUMA), float(rgb_out[i] @ LUMA)
            heat += np.abs(small_out - small_in).mean(axis=2)
            if i in wanted:
                kept.append(Still(i, _label(a.names, i), _display(work_in, STILL_SIZE), _display(work_out, STILL_SIZE)))
            progress("report", i + 1, a.count)
        return Measurements(a.count, a.width, a.height, a.fps, luma_in, luma_out, rgb_in, rgb_out,
                            (heat / max(a.count, 1)).astype(np.float32), kept, _colour_words(a))


# --- pictures -------------------------------------------------------------------------------------

def data_uri(rgb: np.ndarray, fmt: str = ".png", quality: int = 90) -> str:
    """An RGB uint8 image as a data: URI (PNG for exact colours, JPEG for photographs)."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == ".jpg" else []
    ok, buffer = cv2.imencode(fmt, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
        raise OutputError(f"cannot encode a {rgb.shape} image as {fmt}")
    mime = "image/jpeg" if fmt == ".jpg" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(buffer.tobytes()).decode('ascii')}"


def colour_map(values: np.ndarray, top: float) -> np.ndarray:
    """Values in [0, top] -> uint8 RGB through the perceptually uniform 'inferno' colour map."""
    scaled = np.clip(values / max(top, 1e-12), 0.0, 1.0)
    indices = np.rint(scaled * 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(indices, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def heat_scale_top(heat: np.ndarray) -> float:
    """The colour scale's top: the 99.5th percentile, so one hot pixel does not wash the map out."""
    top = float(np.percentile(heat, 99.5)) if heat.size else 0.0
    return top if top > 0 else max(float(heat.max()) if heat.size else 0.0, 1e-6)


@dataclass
class Series:
    name: str
    values: np.ndarray
    colour: str
    kind: str               # "input" | "output"
    dashed: bool = False


def svg_chart(series: Sequence[Series], element_id: str, title: str, y_label: str, width: int = 760,
              height: int = 240) -> str:
    """A line chart as inline SVG: one polyline per series over the frame index, axes, ticks and a legend."""
    left, right, top, bottom = 56, 12, 26, 34
    count = max(len(s.values) for s in series)
    values = np.concatenate([np.asarray(s.values, np.float64) for s in series])
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    pad = max((hi - lo) * 0.08, 1e-3)
    lo, hi = lo - pad, hi + pad
    plot_w, plot_h = width - left - right, height - top - bottom

    def x_of(i: float) -> float:
        return left + (plot_w * i / (count - 1) if count > 1 else plot_w / 2)

    def y_of(v: float) -> float:
        return top + plot_h * (1 - (v - lo) / (hi - lo))

    parts = [f'<svg id="{element_id}" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">',
             f'<title>{html.escape(title)}</title>',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="plot"/>']
    for k in range(5):  # horizontal grid and value labels
        v = lo + (hi - lo) * k / 4
        y = y_of(v)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{v:.3f}</text>')
    for i in sorted({int(round(t)) for t in np.linspace(0, max(count - 1, 0), min(count, 6))}):
        x = x_of(i)
        parts.append(f'<text x="{x:.1f}" y="{height - bottom + 16}" class="tick" text-anchor="middle">{i}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" class="axis" text-anchor="middle">frame</text>')
    parts.append(f'<text x="14" y="{top + plot_h / 2:.1f}" class="axis" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">{html.escape(y_label)}</text>')
    for s in series:
        vals = np.asarray(s.values, np.float64)
        points = " ".join(f"{x_of(i):.1f},{y_of(v):.2f}" for i, v in enumerate(vals))
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        parts.append(f'<polyline class="curve {s.kind}" data-series="{html.escape(s.name)}" points="{points}" '
                     f'fill="none" stroke="{s.colour}" stroke-width="{1.4 if s.dashed else 1.8}"{dash}>'
                     f'<title>{html.escape(s.name)}</title></polyline>')
    x = left
    for s in series:  # legend along the top
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        parts.append(f'<line x1="{x}" x2="{x + 18}" y1="13" y2="13" stroke="{s.colour}" stroke-width="2"{dash}/>')
        parts.append(f'<text x="{x + 22}" y="17" class="legend">{html.escape(s.name)}</text>')
        x += 30 + 7 * len(s.name)
    parts.append("</svg>")
    return "\n".join(parts)


# --- parameters and the page ----------------------------------------------------------------------

def split_params(values: Mapping[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any]]:
    """(analysis, render, other): every known parameter with its default filled in, plus unknown extras.

    A preset's own values fill in under explicit ones, as the engine does (config.from_dict).
    """
    analysis_names = [f.name for f in fields(AnalysisParams)]
    render_names = [f.name for f in fields(RenderParams)]
    preset = PRESETS.get(values.get("preset", "auto")) if isinstance(values.get("preset", "auto"), str) else None
    filled = {**(preset.values if preset else {}), **values}
    analysis = {f.name: filled.get(f.name, f.default) for f in fields(AnalysisParams)}
    render = {f.name: filled.get(f.name, f.default) for f in fields(RenderParams)}
    other = {k: v for k, v in values.items() if k not in analysis_names and k not in render_names}
    return analysis, render, other


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1400px;
padding:0 20px;color:#1d1f23;background:#f6f6f4}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 10px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;margin:0}.preset{display:inline-block;background:#233e6b;color:#fff;border-radius:4px;padding:1px 8px;
font-weight:600}.figures{display:flex;gap:14px;flex-wrap:wrap;margin-top:14px}
.figure{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 14px}.figure b{display:block;font-size:18px}
.stills{display:grid;grid-template-columns:repeat(auto-fill,minmax(620px,1fr));gap:16px}
.still{background:#fff;border:1px solid #ddd;border-radius:6px;margin:0;padding:8px}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:6px}.pair div{position:relative}
.pair img{width:100%;height:auto;display:block}.pair span{position:absolute;left:6px;top:4px;background:rgba(0,0,0,.6);
color:#fff;font-size:12px;padding:0 6px;border-radius:3px}figcaption{color:#555;margin-top:4px}
.chart{background:#fff;border:1px solid #ddd;border-radius:6px;max-width:100%;height:auto}
.chart .plot{fill:#fcfcfb;stroke:#ccc}.chart .grid{stroke:#e6e6e6}
.chart .tick,.chart .legend,.chart .axis{font-size:11px;fill:#444}
.heat{display:flex;gap:20px;align-items:flex-start;flex-wrap:wrap}.heat img.map{width:560px;max-width:100%;
height:auto;border:1px solid #ddd}.scale{width:320px}.scale img{width:100%;height:14px;display:block}
.scale .ends{display:flex;justify-content:space-between;font-size:12px;color:#444}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:3px 10px;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}.bar{background:#6d8fc7;height:10px;display:inline-block}
.changed{font-weight:600}.cols{display:flex;gap:28px;flex-wrap:wrap;align-items:flex-start}
footer{color:#777;margin-top:30px;font-size:12px}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("deflicker")
    except Exception:  # pragma: no cover - running from a source tree without metadata
        return "source"


def _params_table(title: str, values: Mapping[str, Any], defaults: Mapping[str, Any]) -> str:
    rows = []
    for name, value in values.items():
        changed = name in defaults and value != defaults[name]
        shown = value if value != "" else "(empty)"
        rows.append(f'<tr{" class=changed" if changed else ""}><td>{_e(name)}</td><td>{_e(shown)}</td></tr>')
    return f'<table class="params"><caption>{_e(title)}</caption><tr><th>parameter</th><th>value</th></tr>' \
           f'{"".join(rows)}</table>'


def _timings_table(seconds: Mapping[str, float]) -> str:
    if not seconds:
        return "<p>No timings were recorded.</p>"
    total = sum(float(v) for v in seconds.values())
    longest = max(max(float(v) for v in seconds.values()), 1e-9)
    rows = [f'<tr><td>{_e(stage)}</td><td class="num">{float(v):.2f} s</td>'
            f'<td><span class="bar" style="width:{200 * float(v) / longest:.0f}px"></span></td></tr>'
            for stage, v in seconds.items()]
    rows.append(f'<tr><th>total</th><th class="num">{total:.2f} s</th><th></th></tr>')
    return f'<table id="timings-table"><tr><th>stage</th><th>time</th><th></th></tr>{"".join(rows)}</table>'


def _stills_html(stills: Sequence[Still]) -> str:
    def picture(kind: str, image: np.ndarray, label: str) -> str:
        return (f'<div><img class="{kind}" alt="{kind}, {_e(label)}" src="{data_uri(image, ".jpg")}">'
                f'<span>{kind}</span></div>')

    return "\n".join(f'<figure class="still" data-frame="{s.index}"><div class="pair">'
                     f'{picture("before", s.before, s.label)}{picture("after", s.after, s.label)}</div>'
                     f'<figcaption>{_e(s.label)} (frame {s.index})</figcaption></figure>' for s in stills)


def _charts_html(m: Measurements) -> Tuple[str, str]:
    luma = svg_chart([Series("input", m.luma_in, "#d9822b", "input"),
                      Series("output", m.luma_out, "#233e6b", "output")],
                     "luma-curves", "Mean luma per frame", "mean luma")
    colours = ("#c62828", "#2e7d32", "#1565c0")
    channels = svg_chart(
        [Series(f"{c} in", m.rgb_in[:, k], colours[k], "input", dashed=True) for k, c in enumerate("RGB")]
        + [Series(f"{c} out", m.rgb_out[:, k], colours[k], "output") for k, c in enumerate("RGB")],
        "channel-curves", "Mean of each channel per frame", "channel mean")
    return luma, channels


def _figures_html(m: Measurements, seconds: Mapping[str, float]) -> str:
    drop = 100.0 * (1 - m.jitter_out / m.jitter_in) if m.jitter_in > 0 else 0.0
    figures = [("luma flicker in", f"{m.jitter_in:.4f}"), ("luma flicker out", f"{m.jitter_out:.4f}"),
               ("flicker removed", f"{drop:.0f}%"), ("strongest correction", f"{float(m.heat.max()):.3f}"),
               ("total time", f"{sum(float(v) for v in seconds.values()):.1f} s")]
    cells = "".join(f'<div class="figure">{_e(k)}<b>{_e(v)}</b></div>' for k, v in figures)
    return f'<div class="figures" id="figures">{cells}</div>'


def _heat_html(heat: np.ndarray) -> str:
    top = heat_scale_top(heat)
    ramp = colour_map(np.tile(np.linspace(0, top, 256, dtype=np.float32), (8, 1)), top)
    return f"""<div class="heat"><img class="map" id="heatmap" alt="mean absolute change per pixel"
src="{data_uri(colour_map(heat, top))}">
<div class="scale"><img id="heat-scale" alt="colour scale" src="{data_uri(ramp)}">
<div class="ends"><span>0</span><span>{top / 2:.3f}</span><span>{top:.3f}</span></div>
<p class="meta">Mean absolute difference between output and input per pixel, over all frames and channels
({heat.shape[1]}x{heat.shape[0]}, working encoding; 1.0 is full white).</p></div></div>"""


def _params_html(params: Mapping[str, Any], extra: Optional[Mapping[str, Any]]) -> str:
    analysis, render, other = split_params(params)
    defaults = {f.name: f.default for f in fields(AnalysisParams) + fields(RenderParams)}
    extras = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in {**other, **(extra or {})}.items())
    others = f'<table class="params"><caption>other</caption>{extras}</table>' if extras else ""
    return (f'<div class="cols">{_params_table("analysis", analysis, defaults)}'
            f'{_params_table("render", render, defaults)}{others}</div>'
            '<p class="meta">Bold rows differ from the defaults.</p>')


def report_html(m: Measurements, title: str, params: Mapping[str, Any], seconds: Mapping[str, float],
                input_path: str = "", output_path: str = "", extra: Optional[Mapping[str, Any]] = None) -> str:
    """The page itself: one string of HTML with every image and chart inside it."""
    analysis, render, _ = split_params(params)
    rate = f", {m.fps:.3f} fps" if m.fps else ""
    luma, channels = _charts_html(m)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Deflicker QC: {_e(title)}</title><style>{_CSS}</style></head>
<body>
<header><h1>{_e(title)}</h1>
<p class="meta">preset <span class="preset" id="preset">{_e(analysis["preset"])}</span> &middot; {m.count} frames
&middot; {m.width}x{m.height}{rate} &middot; strength {_e(render.get("strength"))}</p>
<p class="meta">input <code>{_e(input_path)}</code><br>output <code>{_e(output_path)}</code><br>
colour {_e(m.colour)}</p>
{_figures_html(m, seconds)}
</header>
<section id="stills"><h2>Before and after</h2><div class="stills">{_stills_html(m.stills)}</div></section>
<section id="curves"><h2>Mean luma per frame</h2>
<p class="meta">Flicker shows as a jagged input curve; the output should follow the scene's own slow changes.
Luma flicker is the mean change from one frame to the next.</p>
{luma}
<h2>Channels per frame</h2><p class="meta">Input dashed, output solid: colour flicker moves one channel
against the others.</p>
{channels}</section>
<section id="heat"><h2>Where the correction was strongest</h2>{_heat_html(m.heat)}</section>
<section id="params"><h2>Parameters</h2>{_params_html(params, extra)}</section>
<section id="timings"><h2>Timings</h2>{_timings_table(seconds)}</section>
<footer>deflicker {_e(_version())} &middot; report made {_e(time.strftime("%Y-%m-%d %H:%M:%S"))}</footer>
</body></html>
"""


# --- files ----------------------------------------------------------------------------------------

@dataclass
class ReportSummary:
    """What an index page shows of one report."""

    title: str
    path: str
    frames: int
    preset: str
    jitter_in: float
    jitter_out: float
    seconds: float
    thumbnail: str          # data URI


def _write_text(path: Path, text: str) -> None:
    from .io import atomic_file

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path, "w", permissions=0o644) as handle:  # a page for everyone, not a private temp
            handle.write(text)
    except OSError as error:
        raise OutputError(f"cannot write the report {path}: {error.strerror or error}; choose a writable "
                          "path") from None


def check_report_path(path: PathLike) -> Path:
    """Refuse a report path that is not an .html file, before any work is done."""
    target = Path(os.path.abspath(os.fspath(path)))
    if target.suffix.lower() not in (".html", ".htm"):
        raise OutputError(f"the report {target} must be an .html file")
    if target.is_dir():
        raise OutputError(f"the report {target} is a folder; name an .html file")
    return target


def write_report(path: PathLike, input_path: PathLike, output_path: PathLike, params: Mapping[str, Any],
                 seconds: Mapping[str, float], title: Optional[str] = None, progress: ProgressFn = no_progress,
                 cancel: Optional[CancelToken] = None, extra: Optional[Mapping[str, Any]] = None) -> ReportSummary:
    """Measure `input_path` against `output_path` and write the report to `path` (atomically).

    `params` are the parameter values used (missing ones are shown with their defaults); the colour
    space among them decides how both clips are read. `seconds` are stage timings, shown in order.
    """
    target = check_report_path(path)
    colorspace = params.get("colorspace", "") or ""
    m = measure(input_path, output_path, colorspace, progress=progress, cancel=cancel)
    name = title or Path(os.fspath(input_path)).name
    _write_text(target, report_html(m, name, params, seconds, os.path.abspath(os.fspath(input_path)),
                                    os.path.abspath(os.fspath(output_path)), extra))
    middle = m.stills[len(m.stills) // 2].after if m.stills else np.zeros((1, 1, 3), np.uint8)
    thumb = _resize(middle, _size(middle.shape[0], middle.shape[1], THUMB_SIZE))
    return ReportSummary(name, str(target), m.count, split_params(params)[0]["preset"], m.jitter_in,
                         m.jitter_out, float(sum(float(v) for v in seconds.values())), data_uri(thumb, ".jpg"))


@dataclass
class IndexEntry:
    """One shot of a batch on the index page: its report, or why there is none."""

    name: str
    status: str                          # done | skipped | failed
    summary: Optional[ReportSummary] = None
    reason: str = ""


def index_html(entries: Sequence[IndexEntry], folder: PathLike, title: str = "Deflicker batch") -> str:
    """The batch's index page: one row per shot, linking its report (relative links, so the folder moves)."""
    rows = []
    for entry in entries:
        s = entry.summary
        status = f'<tr class="{_e(entry.status)}">'
        if s is None:
            rows.append(f'{status}<td></td><td>{_e(entry.name)}</td><td>{_e(entry.status)}</td>'
                        f'<td colspan="4">{_e(entry.reason)}</td></tr>')
            continue
        link = _e(os.path.relpath(s.path, os.fspath(folder)))
        drop = 100.0 * (1 - s.jitter_out / s.jitter_in) if s.jitter_in > 0 else 0.0
        thumb = f'<a href="{link}"><img class="thumb" alt="{_e(entry.name)}" src="{s.thumbnail}"></a>'
        rows.append(f'{status}<td>{thumb}</td><td><a href="{link}">{_e(entry.name)}</a></td><td>{_e(entry.status)}</td>'
                    f'<td><span class="preset">{_e(s.preset)}</span></td><td class="num">{s.frames}</td>'
                    f'<td class="num">{s.jitter_in:.4f} &rarr; {s.jitter_out:.4f} ({drop:.0f}%)</td>'
                    f'<td class="num">{s.seconds:.1f} s</td></tr>')
    counts = {k: sum(e.status == k for e in entries) for k in ("done", "skipped", "failed")}
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title><style>{_CSS}
img.thumb{{width:{THUMB_SIZE}px;height:auto;display:block}}tr.failed td{{color:#a11}}</style></head>
<body><h1>{_e(title)}</h1>
<p class="meta">{len(entries)} shot(s): {counts["done"]} done, {counts["skipped"]} skipped, {counts["failed"]} failed
&middot; made {_e(time.strftime("%Y-%m-%d %H:%M:%S"))}</p>
<table id="shots"><tr><th></th><th>shot</th><th>status</th><th>preset</th><th>frames</th>
<th>luma flicker in &rarr; out</th><th>time</th></tr>
{"".join(rows)}</table>
<footer>deflicker {_e(_version())}</footer></body></html>
"""


def write_index(path: PathLike, entries: Sequence[IndexEntry], title: str = "Deflicker batch") -> Path:
    """Write the index page next to the reports it links (atomically)."""
    target = Path(os.path.abspath(os.fspath(path)))
    _write_text(target, index_html(entries, target.parent, title))
    return target
