"""Seams where atlas windows join (issue 12): frame-to-frame error and brightness steps at the joins against
the middles of windows, on the long clips of the development benchmark.

    python benchmarks/seams.py                         # dlong/* (1,200 frames) and h240/*: 240 frames
    python benchmarks/seams.py --cases 'dlong/drift' --no-docs

For each case the engine runs with its defaults (windows of `window` frames, `overlap` shared); the windows
come from its own pass one. Per frame pair (t-1, t): the short-term warping error of the output under the
clean reference's flow and occlusion mask, as a ratio to the reference's own (1.0 = as steady as the clean
clip), and the brightness step |dY_out - dY_ref| (mean luma change between the two frames, output against
reference, in 8-bit levels). Join frames: each overlap (where two windows cross-fade) widened by 2 frames on
both sides; middle frames: at least one overlap away from any window edge. A seam would show as joins worse
than middles. Writes the `seams` section of docs/benchmarks.md.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Dict, List, Sequence, Tuple

import numpy as np

from common import (case_script_parser, flicker_cases, machine_note, markdown_table, save_run, text_table,
                    write_run_section)
import devset

LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def zones(spans: List[Tuple[int, int]], count: int, overlap: int) -> Tuple[np.ndarray, np.ndarray]:
    """Boolean masks over frames 1..count-1 (a pair ends at its frame): joins and window middles."""
    join = np.zeros(count, bool)
    near_edge = np.zeros(count, bool)
    for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
        if b0 < a1:                                  # the cross-fade of two windows of one shot
            join[max(0, b0 - 2):min(count, a1 + 2)] = True
    for s0, s1 in spans:
        for edge in (s0, s1):
            near_edge[max(0, edge - overlap):min(count, edge + overlap)] = True
    return join[1:], ~near_edge[1:] & ~join[1:]


def pair_figures(outputs: Sequence[np.ndarray], references: Sequence[np.ndarray], flows) -> Dict[str, np.ndarray]:
    """Per pair (t-1, t), t = 1..N-1: output and reference short-term warping error, and the brightness step."""
    out_err = np.array([flows.previous[t - 1].error(outputs[t], outputs[t - 1]) for t in range(1, len(outputs))])
    ref_err = np.array([flows.previous[t - 1].error(references[t], references[t - 1])
                        for t in range(1, len(references))])
    y_out = np.array([float(np.mean(f @ LUMA)) for f in outputs])
    y_ref = np.array([float(np.mean(f @ LUMA)) for f in references])
    step = np.abs(np.diff(y_out) - np.diff(y_ref)) * 255.0
    return {"out_err": out_err, "ref_err": ref_err, "step": step}


def summarise(figures: Dict[str, np.ndarray], mask: np.ndarray) -> Dict[str, float]:
    if not mask.any():
        return {"pairs": 0}
    return {"pairs": int(mask.sum()),
            "ratio": float(figures["out_err"][mask].mean() / max(figures["ref_err"][mask].mean(), 1e-12)),
            "step_mean": float(figures["step"][mask].mean()), "step_p95": float(np.percentile(figures["step"][mask], 95)),
            "step_max": float(figures["step"][mask].max())}


HEADER = ["case", "split", "frames", "windows", "zone", "pairs", "E_warp/floor (pairs)", "luma step mean", "p95", "max"]


def table_rows(rows: List[Dict]) -> List[List]:
    return [[r["case"], r["split"], r["frames"], r["windows"], r["zone"], r["pairs"]]
            + ([f"{r['ratio']:.3f}", f"{r['step_mean']:.3f}", f"{r['step_p95']:.3f}", f"{r['step_max']:.3f}"]
               if r["pairs"] else ["", "", "", ""]) for r in rows]


def write_docs(run: Dict) -> None:
    write_run_section(
        "seams", "Seams at atlas-window joins (issue 12)", run,
        "Per frame pair, the output's short-term warping error under the clean reference's flow, as a ratio "
        "to the reference's own over the same pairs, and the brightness step |dY_out - dY_ref| in 8-bit "
        "levels. Joins: every overlap where two windows cross-fade, 2 frames wider on each side; middles: "
        "at least one overlap from any window edge. A seam shows as joins worse than middles.",
        markdown_table(HEADER, table_rows(run["rows"])))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = case_script_parser(__doc__, "dlong/*,h240/*", "SEAMS.json").parse_args(argv)
    if args.report_from:
        write_docs(json.loads(args.report_from.read_text()))
        return 0

    from deflicker_engine import AnalysisParams, Deflicker

    engine = Deflicker(device=args.device)
    cases = flicker_cases(args.cases)
    rows = []
    started = time.perf_counter()
    for case in cases:
        inputs, reference = case.inputs(), case.reference()
        params = AnalysisParams(preset=case.preset)
        t0 = time.perf_counter()
        decisions: List[Dict] = []
        outputs = list(engine.deflicker_frames(iter(inputs), params, decisions=decisions))
        spans = [(start, stop) for shot in decisions for start, stop in shot["windows"]]
        log(f"{case.name}: {len(inputs)} frames, {len(spans)} windows, engine {time.perf_counter() - t0:.0f}s")
        figures = pair_figures(outputs, reference, devset.reference_flows(case.clip, log))
        join, middle = zones(spans, len(inputs), params.overlap)
        for zone, mask in (("joins", join), ("middles", middle)):
            s = summarise(figures, mask)
            rows.append({"case": case.name, "split": case.split, "frames": len(inputs), "windows": len(spans),
                         "zone": zone, **s})
    print(text_table(HEADER, table_rows(rows)))
    run = {"argv": argv, "machine": machine_note(), "seconds": time.perf_counter() - started, "rows": rows}
    save_run(run, "seams", write_docs, not args.no_docs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
