"""`deflicker eval --ref DIR --out DIR [--gt DIR] [--json FILE]`: score a result for temporal consistency.

E_warp of the output is measured with flow and occlusion masks from the reference (a temporally
consistent clip: the clean video, or the input a per-frame algorithm was given). The reference's own
E_warp is printed beside it as the floor, because flow is never perfect. With --gt, PSNR against it.
Frames are streamed: only the flows are held in memory.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Dict, Iterator, Optional

from .errors import InputError, OutputError
from .progress import stage_progress


def _working_frames(path: str, colorspace: str = "") -> Iterator:
    """Every frame of a clip in the working encoding (float32 RGB, alpha dropped)."""
    from .io import open_source, to_working

    with open_source(path, colorspace=colorspace) as src:
        for frame in src.frames():
            rgb, _ = to_working(frame, src.info)
            yield rgb


def _clip_shape(path: str, role: str):
    from .io import open_source

    with open_source(path) as src:
        info = src.info
    if info.count < 2:
        raise InputError(f"{role} clip {path} has {info.count} frame(s); E_warp needs at least 2")
    return info.count, info.width, info.height


def evaluate(ref: str, out: str, gt: Optional[str] = None, quiet: bool = True,
             colorspace: str = "") -> Dict[str, object]:
    """E_warp of out and of ref (the floor) with ref's flows, and PSNR of out vs gt when given.

    `colorspace` (an OpenColorIO name, for every clip) measures in the same working encoding the
    engine analyses in; empty lets each file decide.
    """
    from .io import colour_transform
    from .metrics import ReferenceFlows, psnr

    colour_transform(colorspace)  # an unknown name fails before any clip is read

    shapes = {"reference": _clip_shape(ref, "reference"), "output": _clip_shape(out, "output")}
    if gt is not None:
        shapes["ground truth"] = _clip_shape(gt, "ground truth")
    count, width, height = shapes["reference"]
    for role, (n, w, h) in shapes.items():
        if n != count:
            raise InputError(f"the {role} clip has {n} frames but the reference has {count}; they must match")
        if (w, h) != (width, height):
            raise InputError(f"the {role} clip is {w}x{h} but the reference is {width}x{height}; "
                             "evaluate at the reference's size")

    with stage_progress(quiet) as progress:  # bars on a terminal, a few lines in a log
        flows = ReferenceFlows(_working_frames(ref, colorspace), total=count,
                               progress=lambda done, total: progress("flow", done, total))
    result_out = flows.warp_error(_working_frames(out, colorspace))
    result_ref = flows.warp_error(_working_frames(ref, colorspace))
    return {
        "frames": count,
        "width": width,
        "height": height,
        "e_warp_out": result_out["e_warp"],
        "e_warp_ref": result_ref["e_warp"],
        "psnr_out_gt": (psnr(_working_frames(out, colorspace), _working_frames(gt, colorspace))
                        if gt is not None else None),
        "per_frame_out": result_out["per_frame"],
        "per_frame_ref": result_ref["per_frame"],
    }


def format_table(numbers: Dict[str, object]) -> str:
    """A small plain-text table of the headline numbers."""
    rows = [("clip", "E_warp"), ("output", f"{numbers['e_warp_out']:.4f}"),
            ("reference (floor)", f"{numbers['e_warp_ref']:.4f}")]
    width = max(len(r[0]) for r in rows)
    lines = [f"{numbers['frames']} frames, {numbers['width']}x{numbers['height']}"]
    lines += [f"{name:<{width}}  {value:>8}" for name, value in rows]
    if numbers.get("psnr_out_gt") is not None:
        lines.append(f"{'PSNR output vs gt':<{width}}  {numbers['psnr_out_gt']:>8.2f} dB")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    numbers = evaluate(args.ref, args.out, args.gt, quiet=args.quiet, colorspace=args.colorspace)
    print(format_table(numbers))
    if args.json:
        target = Path(args.json)
        try:
            target.write_text(json.dumps({"ref": str(args.ref), "out": str(args.out), "gt": args.gt, **numbers},
                                         indent=2) + "\n")
        except OSError as error:
            raise OutputError(f"cannot write {target}: {error.strerror}; choose a writable path for --json") from None
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval", help="measure temporal consistency (E_warp) and PSNR of a result",
        description="Score a deflickered clip (paper eq. 7-8). Flow and occlusion masks come from --ref, a "
                    "temporally consistent clip of the same scene (the clean video, or the input a per-frame "
                    "algorithm was given); the reference's own E_warp is shown as the floor. Clips are videos, "
                    "frame folders or patterns, with equal frame counts and sizes.")
    parser.add_argument("--ref", required=True, help="temporally consistent reference clip (flow source)")
    parser.add_argument("--out", required=True, help="the clip to score")
    parser.add_argument("--gt", help="ground truth for PSNR (for synthetic flicker: the clean clip)")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers (and per-frame E_warp) as JSON")
    parser.add_argument("--colorspace", default="", metavar="NAME",
                        help="the clips' OpenColorIO colour space (as for deflicker run); empty: from the files")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress (bars on a terminal, lines in a log)")
    parser.set_defaults(func=run)
