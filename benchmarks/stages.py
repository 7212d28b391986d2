"""Where flicker gets through: each stage of pass two measured against the clean reference.

    python benchmarks/stages.py                                   # the window-flicker cases named below
    python benchmarks/stages.py --cases 'd04/w10-local' --no-docs

For every frame and stage (the input; the atlas's look to reach; the look the filter is given, which falls back
to the frame where the atlas has lost the picture; the filtered frame, anchored to the look; the refined
frame; the consolidated target; the full-resolution output), the appearance error is the log ratio to the
clean reference blurred at the anchor's scale (5% of the short side), so structure hardly counts and a
smooth gain does. Per stage: its level (RMS) and its change from frame to frame (RMS), split for window
flicker of W frames into the pairs where the flicker is redrawn (t % W == 0) and the others. A stage that
removes flicker shows a smaller step at the boundaries than the stage before it. Writes the `stages` section
of docs/benchmarks.md.
"""
from __future__ import annotations

import json
import re
import sys
import time
from typing import Dict, List, Optional

import cv2
import numpy as np

from common import (_rate, case_script_parser, flicker_cases, from_native, machine_note, markdown_table,
                    save_run, text_table, to_uint16, write_run_section)

STAGES = ("input", "look", "look given", "filtered", "refined", "target", "output")
EPS = 0.02
BLUR = 0.05           # of the short side: the anchor's scale
KEEP = 4              # error maps are kept at 1/KEEP of the working size


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def window_of(setting: str) -> Optional[int]:
    match = re.match(r"w(\d+)-", setting)
    return int(match.group(1)) if match else None


class StageErrors:
    """Blurred log error against the reference of every (stage, frame) it is shown, kept small."""

    def __init__(self, reference: List[np.ndarray]) -> None:
        self.reference = reference
        self.size: Optional[tuple] = None          # (h, w) of the working size, from the first stage seen
        self.maps: Dict[str, Dict[int, np.ndarray]] = {}

    def __call__(self, stage: str, index: int, image) -> None:
        image = np.asarray(image.cpu() if hasattr(image, "cpu") else image, np.float32)[..., :3]
        if self.size is None:
            self.size = image.shape[:2]
        h, w = self.size
        if image.shape[:2] != (h, w):
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        ref = cv2.resize(self.reference[index], (w, h), interpolation=cv2.INTER_AREA)
        error = np.log(np.clip(image, 0, None) + EPS) - np.log(np.clip(ref, 0, None) + EPS)
        error = cv2.GaussianBlur(error, (0, 0), BLUR * min(h, w))
        self.maps.setdefault(stage, {})[index] = cv2.resize(error, (max(1, w // KEEP), max(1, h // KEEP)),
                                                            interpolation=cv2.INTER_AREA)

    def figures(self, window: Optional[int]) -> List[Dict]:
        rows, before = [], None
        for stage in STAGES:
            maps = self.maps.get(stage)
            if not maps:
                continue
            frames = sorted(maps)
            e = np.stack([maps[t] for t in frames])
            step = np.sqrt(((e[1:] - e[:-1]) ** 2).mean(axis=(1, 2, 3)))
            row = {"stage": stage, "level": float(np.sqrt((e ** 2).mean())), "step": float(step.mean())}
            if window:
                t = np.asarray(frames[1:])
                row["step_boundary"] = float(step[t % window == 0].mean())
                if window > 1:
                    row["step_inside"] = float(step[t % window != 0].mean())
                if before is not None:
                    row["boundary_vs_input"] = row["step_boundary"] / max(before, 1e-9)
                else:
                    before = row["step_boundary"]
            rows.append(row)
        return rows


HEADER = ["case", "stage", "level", "step", "step at redraws", "step between", "redraw step / input's"]


def _f(row: Dict, key: str, fmt: str = "{:.4f}") -> str:
    return fmt.format(row[key]) if key in row else ""


def table_rows(cases: List[Dict]) -> List[List]:
    return [[c["case"], r["stage"], _f(r, "level"), _f(r, "step"), _f(r, "step_boundary"), _f(r, "step_inside"),
             _f(r, "boundary_vs_input", "{:.2f}")] for c in cases for r in c["stages"]]


def write_docs(run: Dict) -> None:
    write_run_section(
        "stages", "Where flicker gets through: pass two stage by stage", run,
        "Appearance error = log ratio to the clean reference, blurred at 5% of the short side; level = its "
        "RMS; step = RMS of its change from frame to frame, at the frames where the W-frame flicker is "
        "redrawn and between them; the last column is a stage's step at redraws over the input's. `look` is "
        "the atlas frame with the kept look, `look given` what the filter gets (the frame itself, brought to "
        "the look by a smooth gain, where the atlas has lost the picture), `target` the consolidated working-"
        "size frame, `output` the full-resolution result.",
        markdown_table(HEADER, table_rows(run["cases"])))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = case_script_parser(__doc__, "d04/w10-local,d01/w10-local,d03/w3-local,d05/w1-local",
                              "STAGES.json").parse_args(argv)
    if args.report_from:
        write_docs(json.loads(args.report_from.read_text()))
        return 0

    from deflicker_engine import AnalysisParams, Deflicker
    from deflicker_engine.config import from_dict

    engine = Deflicker(device=args.device)
    cases = flicker_cases(args.cases)
    results = []
    started = time.perf_counter()
    for case in cases:
        inputs, reference = case.inputs(), case.reference()
        errors = StageErrors([np.asarray(f, np.float32) for f in reference])
        t0 = time.perf_counter()
        params = from_dict(AnalysisParams, {"preset": case.preset})   # as quality.py runs it
        # uint16 (display-referred, like the clips) at the case's rate: what quality.py's engine method does
        outputs = engine.deflicker_frames(iter(to_uint16(inputs)), params, observe=errors, rate=_rate(case.fps))
        for index, output in enumerate(outputs):
            errors("output", index, from_native([output])[0])
        for index, frame in enumerate(inputs):
            errors("input", index, frame)
        window = window_of(case.setting)
        results.append({"case": case.name, "window": window, "stages": errors.figures(window)})
        log(f"{case.name}: {len(inputs)} frames, {time.perf_counter() - t0:.0f}s")
    print(text_table(HEADER, table_rows(results)))
    run = {"argv": argv, "machine": machine_note(), "seconds": time.perf_counter() - started, "cases": results}
    save_run(run, "stages", write_docs, not args.no_docs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
