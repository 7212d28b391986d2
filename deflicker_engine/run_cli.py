"""`deflicker run INPUT -o OUTPUT`: the main job, in-process, no server needed."""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields
from pathlib import Path
from typing import Dict

from .config import AnalysisParams, RenderParams, as_dict, from_dict, preset_help
from .device import DEVICE_CHOICES
from .progress import stage_progress


def add_param_options(parser: argparse.ArgumentParser, cls) -> None:
    """One option per dataclass field, help and range taken from the field's metadata."""
    for f in fields(cls):
        flag = "--" + f.name.replace("_", "-")
        meta = f.metadata
        if isinstance(f.default, bool):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                                help=f"{meta['help']} (default: {'on' if f.default else 'off'})")
            continue
        if meta.get("choices"):
            extra = f"; {preset_help()}" if f.name == "preset" else ""
            parser.add_argument(flag, dest=f.name, choices=meta["choices"], default=None,
                                help=f"{meta['help']} (default: {f.default}){extra}")
            continue
        bounds = f" [{meta['min']}..{meta['max']}]" if meta.get("min") is not None else ""
        parser.add_argument(flag, dest=f.name, type=type(f.default), default=None, metavar=f.name.upper(),
                            help=f"{meta['help']}{bounds} (default: {f.default})")


def params_from_args(args: argparse.Namespace, cls):
    given = {f.name: getattr(args, f.name) for f in fields(cls) if getattr(args, f.name, None) is not None}
    return from_dict(cls, given)


def _report(seconds: Dict[str, float], frames: int, wall: float) -> str:
    parts = ", ".join(f"{k} {v:.1f}s" for k, v in seconds.items())
    return f"deflickered {frames} frames in {wall:.1f}s ({frames / max(wall, 1e-9):.1f} fps): {parts}"


def device_report(device) -> Dict:
    """The device's name and, on a GPU, its peak memory in MB (for the speed benchmark)."""
    import torch

    if device.type != "cuda":
        return {"device": "cpu"}
    return {"device": torch.cuda.get_device_name(device),
            "gpu_peak_mb": torch.cuda.max_memory_allocated(device) / 2 ** 20}


def run(args: argparse.Namespace) -> int:
    from .io import check_output_path, open_source
    from .pipeline import Deflicker
    from .report import check_report_path, write_report

    analysis_params = params_from_args(args, AnalysisParams)
    render_params = params_from_args(args, RenderParams)
    started = time.perf_counter()
    check_output_path(args.input, args.output)
    if args.report:
        check_report_path(args.report)
    with stage_progress(args.quiet) as progress:  # bars on a terminal, a few lines in a log
        # a bad input or colour space fails here, before the networks load; the source carries the colour space
        with open_source(args.input, colorspace=analysis_params.colorspace) as source:
            engine = Deflicker(device=args.device)
            analysis = engine.process(source, args.output, analysis_params, render_params, progress=progress,
                                      keep_targets=bool(args.save_analysis))
        progress.note(_report(analysis.stage_seconds, analysis.count, time.perf_counter() - started))
        progress.note(f"wrote {args.output}")
        if args.report:
            write_report(args.report, args.input, args.output, {**as_dict(analysis_params), **as_dict(render_params)},
                         analysis.stage_seconds, progress=progress)
            progress.note(f"wrote the report {args.report}")
    if args.save_analysis:
        analysis.save(args.save_analysis)
    if args.timings:
        timings = {"frames": analysis.count, "wall": time.perf_counter() - started, "stages": analysis.stage_seconds,
                   "shots": analysis.shots, "decisions": analysis.decisions, **device_report(engine.device)}
        Path(args.timings).write_text(json.dumps(timings, indent=1, default=float))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run", help="deflicker a video, an image folder or a frame pattern",
        description="Deflicker a clip in-process. INPUT is a video (mp4/mov/mkv/avi), a folder of frames "
                    "(PNG/JPG/TIFF/EXR) or a pattern such as shot/plate.%%04d.exr. The output keeps the frame "
                    "count, frame rate, size, file names, format, bit depth and alpha of the input; it is written "
                    "atomically, so a failed or cancelled run leaves nothing behind.")
    parser.add_argument("input", help="video file, folder of frames, or frame pattern")
    parser.add_argument("-o", "--output", required=True,
                        help="output video file, folder, or pattern (must differ from the input)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto",
                        help="where the networks run: auto picks a CUDA GPU when there is one (default: auto)")
    parser.add_argument("--save-analysis", metavar="FILE", help="also keep the clip's analysis (.npz; it holds "
                        "every frame at the working size, so a long clip makes a large file)")
    parser.add_argument("--timings", metavar="FILE.json", help="also write the seconds per stage, the shots and "
                        "what the appearance model decided for each, as JSON")
    parser.add_argument("--report", metavar="FILE.html",
                        help="also write a QC report: one self-contained HTML page with before/after stills, "
                             "luma and channel curves, a heat map of the correction, the parameters and timings")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress or summary (progress is bars on a terminal, a line per stage and "
                             "at most one every few seconds in a log)")
    add_param_options(parser.add_argument_group("render"), RenderParams)
    add_param_options(parser.add_argument_group("analysis (advanced)"), AnalysisParams)
    parser.set_defaults(func=run)
