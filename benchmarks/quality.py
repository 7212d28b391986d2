"""Quality benchmark: every method on the development benchmark (benchmarks/devset.py), dev and held-out splits.

    python benchmarks/quality.py --quick --methods raw,ours --no-docs   # ~10 short cases, a few minutes
    python benchmarks/quality.py --split dev --methods raw,ffmpeg,ours  # tune on this
    python benchmarks/quality.py --split heldout                        # report this; never tune on it
    python benchmarks/quality.py --split dev --cases 'd0*/w3-*,bmx/*' --param consolidation=0.6 --tag c06
    python benchmarks/quality.py --compare benchmarks/out/quality-a.json benchmarks/out/quality-b.json
    python benchmarks/quality.py --report-from out/quality-all.json --before out/quality-before-all.json

Cases (see devset.py for how each is made and judged): synthetic flicker of many kinds on clean clips,
genuine changes that must be kept, processed pairs (per-frame image algorithms), clean input that must pass
through untouched, and the real old film. Prints a per-case table and a summary per split and kind, writes
every number (per-frame appearance bias included) as JSON to --out/quality-<tag>.json, and, unless --no-docs,
the `quality` section of docs/benchmarks.md with figures in docs/figures/.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from common import (DOCS, FIGURES, EngineMethod, machine_note, make_methods, markdown_table, software_note,
                    text_table, write_section)
import devset
from devset import KINDS, TARGETS, evaluate

OUT = Path(__file__).resolve().parent / "out"
BIAS_CASES = ("dlong/drift", "dwb/greyworld", "d01/light-on+w3", "d04/exposure-ramp+w3", "d02/timelapse",
              "h240/drift", "hwb/greyworld", "quick-d02/light-on+w3", "quick-bmx/w1-local", "quick-d01/mains")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------- parameters


def parse_params(items: Sequence[str]) -> Tuple[Dict, Dict]:
    """--param name=value items -> (AnalysisParams overrides, RenderParams overrides), typed by the fields."""
    from deflicker_engine import AnalysisParams, RenderParams

    known = {cls.__name__: {f.name: f for f in dataclasses.fields(cls)} for cls in (AnalysisParams, RenderParams)}
    analysis, render = {}, {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep:
            raise SystemExit(f"--param {item!r}: expected name=value")
        targets = [(cls, out) for cls, out in (("AnalysisParams", analysis), ("RenderParams", render))
                   if name in known[cls]]
        if not targets:
            raise SystemExit(f"--param {name}: unknown; AnalysisParams has {', '.join(known['AnalysisParams'])}; "
                             f"RenderParams has {', '.join(known['RenderParams'])}")
        for cls, out in targets:
            out[name] = _coerce(known[cls][name], text)
    return analysis, render


def _coerce(f, text: str):
    kind = type(f.default) if f.default is not dataclasses.MISSING else str
    if kind is bool:
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise SystemExit(f"--param {f.name}: expected true/false, got {text!r}")
    try:
        return kind(text)
    except ValueError:
        raise SystemExit(f"--param {f.name}: expected a {kind.__name__}, got {text!r}")


def engine_overrides(case, analysis: Dict) -> Dict:
    """The case's preset goes to AnalysisParams.preset when the engine has one and --param did not set it."""
    from deflicker_engine import AnalysisParams

    out = dict(analysis)
    if "preset" in {f.name for f in dataclasses.fields(AnalysisParams)} and "preset" not in out:
        out["preset"] = case.preset
    return out


# ----------------------------------------------------------------------------------------- running


def run_cases(cases, methods: Dict, analysis: Dict, render: Dict) -> Tuple[List[Dict], Dict]:
    results: List[Dict] = []
    timings = {"generation_s": 0.0, "flows_s": 0.0, "evaluation_s": 0.0, "methods_s": {m: 0.0 for m in methods}}
    for i, case in enumerate(cases, 1):
        started = time.perf_counter()
        inputs = case.inputs()
        case.reference()
        generation = time.perf_counter() - started
        timings["generation_s"] += generation
        started = time.perf_counter()
        if case.kind != "film":
            devset.reference_flows(case.clip, log)
        flows = time.perf_counter() - started
        timings["flows_s"] += flows
        h, w = inputs[0].shape[:2]
        log(f"[{i}/{len(cases)}] {case.name} ({case.split}, {case.kind}, {len(inputs)} frames {w}x{h}; "
            f"made in {generation:.1f}s, flows {flows:.1f}s)")
        for name, method in methods.items():
            started = time.perf_counter()
            try:
                if isinstance(method, EngineMethod):
                    out = method(inputs, fps=case.fps, analysis=engine_overrides(case, analysis), render=render)
                else:
                    out = method(inputs, fps=case.fps)
            except Exception as exc:  # one failing case must not lose a long run
                log(f"    {name:14} FAILED: {type(exc).__name__}: {exc}")
                results.append({"case": case.name, "split": case.split, "kind": case.kind, "setting": case.setting,
                                "method": name, "error": f"{type(exc).__name__}: {exc}"})
                continue
            seconds = time.perf_counter() - started
            timings["methods_s"][name] += seconds
            result = evaluate(case, out, seconds=seconds, log=log)
            timings["evaluation_s"] += result["eval_seconds"]
            result.update(method=name, generation_seconds=generation)
            if getattr(method, "decisions", None):
                result["decisions"] = method.decisions
            results.append(result)
            log(f"    {name:14} {cell(result)}  [{seconds:.1f}s, eval {result['eval_seconds']:.1f}s]")
            del out
    return results, timings


# ----------------------------------------------------------------------------------------- tables


def _mark(ok: Optional[bool]) -> str:
    return "" if ok is None else (" ✓" if ok else " ✗")


def cell(r: Dict) -> str:
    """One result in a few characters: the kind's target figures."""
    if "error" in r:
        return "error"
    kind = r["kind"]
    if kind in ("synthetic", "genuine"):
        text = f"{r['ratio']:.2f}x / {r['psnr']:.1f}"
    elif kind == "processed":
        kept = f" / {r['detail_kept']:.2f}" if "detail_kept" in r else ""   # (runs before it was measured)
        text = f"{r['gap_closed']:+.0%} / {r['psnr']:.1f}{kept}"
    elif kind == "clean":
        text = f"{r['psnr']:.1f}"
    else:
        text = f"{r['local_flicker_ratio']:.2f} / {r['laplacian_ratio']:.2f} / {r['tint']:.2f}"
    return text + _mark(r.get("target_met"))


CELL_HEADER = {
    "synthetic": "E_warp/floor / PSNR",
    "genuine": "E_warp/floor / PSNR",
    "processed": "gap closed / PSNR vs processed / detail kept",
    "clean": "PSNR vs input",
    "film": "local flicker / Laplacian / tint",
}


def closable(r: Dict) -> float:
    """About how much of a processed pair's gap a steady clip keeping the processing's contrast can close:
    its E_warp would sit near the floor times the contrast, not at the floor (0 .. 1)."""
    gap = r["e_input"] - r["floor"]
    return float(min(max((r["e_input"] - r["floor"] * r["contrast"]) / gap, 0.0), 1.0)) if gap > 0 else 0.0


def reference_cell(r: Dict) -> str:
    """What the case starts from: the floor, and for processed pairs the processed clip's E_warp."""
    if r["kind"] == "processed":
        contrast = ""
        if "contrast" in r:
            contrast = f" (contrast {r['contrast']:.2f}x: ~{100 * closable(r):.0f}% closable)"
        return f"{r['floor']:.3f} / {r['e_input']:.3f}{contrast}"
    if r["kind"] == "film":
        return f"{r['local_flicker_in']:.4f}"
    return f"{r['floor']:.3f}"


def case_table(results: List[Dict], methods: List[str], kind: str, split: str):
    rows = {}
    for r in results:
        if r["kind"] == kind and r["split"] == split:
            rows.setdefault(r["case"], {})[r["method"]] = r
    ref_header = {"processed": "floor / processed", "film": "local flicker in"}.get(kind, "floor")
    header = ["case", "frames", "size", ref_header] + [f"{m}: {CELL_HEADER[kind]}" for m in methods]
    table = []
    for name, by_method in rows.items():
        first = next((r for r in by_method.values() if "error" not in r), None)
        if first is None:
            continue
        table.append([name, first["frames"], f"{first['width']}x{first['height']}", reference_cell(first)] +
                     [cell(by_method[m]) if m in by_method else "-" for m in methods])
    return header, table


# what each kind's summary reports: (label, field, target test, worst = max or min)
SUMMARY = {
    "synthetic": [("E_warp/floor", "ratio", lambda v: v <= TARGETS["synthetic"]["ratio_max"], max),
                  ("PSNR", "psnr", lambda v: v >= TARGETS["synthetic"]["psnr_min"], min)],
    "genuine": [("E_warp/floor", "ratio", lambda v: v <= TARGETS["genuine"]["ratio_max"], max),
                ("PSNR", "psnr", lambda v: v >= TARGETS["genuine"]["psnr_min"], min)],
    "processed": [("gap closed", "gap_closed", lambda v: v >= TARGETS["processed"]["gap_min"], min),
                  ("PSNR", "psnr", lambda v: v >= TARGETS["processed"]["psnr_min"], min)],
    "clean": [("PSNR", "psnr", lambda v: v >= TARGETS["clean"]["psnr_min"], min)],
    "film": [("local flicker", "local_flicker_ratio", lambda v: v <= TARGETS["film"]["local_flicker_max"], max),
             ("Laplacian", "laplacian_ratio", lambda v: v >= TARGETS["film"]["laplacian_min"], min),
             ("tint", "tint", lambda v: v <= TARGETS["film"]["tint_max"], max)],
}
TARGET_TEXT = {
    ("synthetic", "ratio"): "<= 1.15", ("synthetic", "psnr"): ">= 27", ("genuine", "ratio"): "<= 1.15",
    ("genuine", "psnr"): ">= 27", ("processed", "gap_closed"): ">= 50%", ("processed", "psnr"): ">= 24",
    ("clean", "psnr"): ">= 40", ("film", "local_flicker_ratio"): "<= 0.35", ("film", "laplacian_ratio"): ">= 0.97",
    ("film", "tint"): "<= 0.5",
}


def summarise(results: List[Dict], methods: List[str]) -> List[Dict]:
    """Per split, kind, method and target figure: cases meeting it, mean, worst case; plus all targets met."""
    out = []
    for split in dict.fromkeys(r["split"] for r in results):
        for kind in KINDS:
            for m in methods:
                sel = [r for r in results if r["split"] == split and r["kind"] == kind and r["method"] == m
                       and "error" not in r]
                if not sel:
                    continue
                errors = sum(1 for r in results if r["split"] == split and r["kind"] == kind and r["method"] == m
                             and "error" in r)
                entry = {"split": split, "kind": kind, "method": m, "cases": len(sel), "errors": errors,
                         "all_met": sum(bool(r.get("target_met")) for r in sel), "figures": []}
                for label, key, test, worst in SUMMARY[kind]:
                    values = [(r[key], r["case"]) for r in sel]
                    w = worst(values, key=lambda v: v[0])
                    entry["figures"].append({"label": label, "field": key, "met": sum(test(v) for v, _ in values),
                                             "mean": float(np.mean([v for v, _ in values])), "worst": w[0],
                                             "worst_case": w[1], "target": TARGET_TEXT[(kind, key)]})
                out.append(entry)
    return out


def _fmt(key: str, v: float) -> str:
    if key == "gap_closed":
        return f"{v:+.0%}"
    if key in ("psnr",):
        return f"{v:.2f}"
    return f"{v:.3f}"


def summary_table(summary: List[Dict], split: str):
    header = ["kind", "method", "all targets", "figure (target)", "met", "mean", "worst (case)"]
    table = []
    for e in summary:
        if e["split"] != split:
            continue
        for i, f in enumerate(e["figures"]):
            table.append([e["kind"] if i == 0 else "", e["method"] if i == 0 else "",
                          f"{e['all_met']}/{e['cases']}" + (f" ({e['errors']} failed)" if e["errors"] else "")
                          if i == 0 else "",
                          f"{f['label']} ({f['target']})", f"{f['met']}/{e['cases']}", _fmt(f["field"], f["mean"]),
                          f"{_fmt(f['field'], f['worst'])} ({f['worst_case']})"])
    return header, table


def before_after_table(before: Dict, results: List[Dict], split: str, method: str = "ours"):
    """Per kind: cases meeting all targets and each figure's mean, an earlier run of our engine against this one,
    both over the cases the two runs share."""
    def ours(rs):
        return [r for r in rs if r["method"] == method and r["split"] == split]

    common = {r["case"] for r in ours(before["results"])} & {r["case"] for r in ours(results)}
    sb = {e["kind"]: e for e in summarise([r for r in ours(before["results"]) if r["case"] in common], [method])}
    header = ["kind", "cases", "all targets before -> after", "figure (target)", "met before -> after",
              "mean before -> after"]
    table = []
    for e in summarise([r for r in ours(results) if r["case"] in common], [method]):
        b = sb.get(e["kind"])
        if b is None:
            continue
        for i, (fb, fa) in enumerate(zip(b["figures"], e["figures"])):
            table.append([e["kind"] if i == 0 else "", str(e["cases"]) if i == 0 else "",
                          f"{b['all_met']} -> {e['all_met']}" if i == 0 else "", f"{fa['label']} ({fa['target']})",
                          f"{fb['met']} -> {fa['met']}", f"{_fmt(fa['field'], fb['mean'])} -> {_fmt(fa['field'], fa['mean'])}"])
    return header, table


def setting_table(results: List[Dict], methods: List[str], split: str):
    """Synthetic flicker by setting: mean ratio / mean PSNR per method, over the clips that have it."""
    sel = [r for r in results if r["split"] == split and r["kind"] == "synthetic" and "error" not in r]
    header = ["setting", "cases", "mean floor"] + [f"{m}: mean E_warp/floor / PSNR" for m in methods]
    table = []
    for setting in devset.SYNTHETIC_SETTINGS:
        rows = [r for r in sel if r["setting"] == setting]
        if not rows:
            continue
        line = [setting, len({r["case"] for r in rows}),
                f"{np.mean([r['floor'] for r in rows if r['method'] == rows[0]['method']]):.3f}"]
        for m in methods:
            mr = [r for r in rows if r["method"] == m]
            line.append(f"{np.mean([r['ratio'] for r in mr]):.2f}x / {np.mean([r['psnr'] for r in mr]):.1f}"
                        if mr else "-")
        table.append(line)
    return header, table


def oldfilm_table(results: List[Dict], methods: List[str], split: str):
    """Extra B/W figures of the synthetic oldfilm cases."""
    sel = [r for r in results if r["split"] == split and r.get("setting") == "oldfilm" and "error" not in r]
    if not sel:
        return None
    header = ["case"] + [f"{m}: local flicker / Laplacian / tint" for m in methods]
    table = []
    for name in dict.fromkeys(r["case"] for r in sel):
        by = {r["method"]: r for r in sel if r["case"] == name}
        table.append([name] + [f"{by[m]['local_flicker_ratio']:.2f} / {by[m]['laplacian_ratio']:.2f} / "
                               f"{by[m]['tint']:.2f}" if m in by else "-" for m in methods])
    return header, table


# ----------------------------------------------------------------------------------------- compare


COMPARE_FIELDS = ("ratio", "psnr", "gap_closed", "detail_kept", "local_flicker_ratio", "laplacian_ratio", "tint",
                  "seconds")


def compare(path_a: Path, path_b: Path) -> int:
    a, b = (json.loads(Path(p).read_text()) for p in (path_a, path_b))
    index_a = {(r["case"], r["method"]): r for r in a["results"] if "error" not in r}
    index_b = {(r["case"], r["method"]): r for r in b["results"] if "error" not in r}
    common = [k for k in index_a if k in index_b]
    if not common:
        print("no (case, method) pair is in both files")
        return 1
    print(f"A = {path_a} ({a.get('tag')}, {' '.join(a.get('argv', []))})")
    print(f"B = {path_b} ({b.get('tag')}, {' '.join(b.get('argv', []))})\n")
    header = ["case", "method", "kind", "target A -> B"] + [f"{f}: A B-A" for f in COMPARE_FIELDS[:-1]] + ["seconds B/A"]
    rows = []
    for key in common:
        ra, rb = index_a[key], index_b[key]
        line = [key[0], key[1], ra["kind"],
                f"{'✓' if ra.get('target_met') else '✗'} -> {'✓' if rb.get('target_met') else '✗'}"]
        for f in COMPARE_FIELDS[:-1]:
            if f in ra and f in rb:
                d = rb[f] - ra[f]
                line.append(f"{ra[f]:.3f} {d:+.3f}" if f != "gap_closed" else f"{ra[f]:+.0%} {d:+.0%}")
            else:
                line.append("")
        line.append(f"{rb['seconds'] / ra['seconds']:.2f}" if ra.get("seconds", 0) > 0.05 and rb.get("seconds") else "")
        rows.append(line)
    print(text_table(header, rows))
    print()
    sa = {(e["split"], e["kind"], e["method"]): e for e in a.get("summary", [])}
    sb = {(e["split"], e["kind"], e["method"]): e for e in b.get("summary", [])}
    lines = []
    for key in (k for k in sa if k in sb):
        ea, eb = sa[key], sb[key]
        if ea["cases"] != eb["cases"]:
            note = f" (cases {ea['cases']} vs {eb['cases']}: not the same set)"
        else:
            note = ""
        figures = "; ".join(f"{fa['label']} met {fa['met']}->{fb['met']}, mean {_fmt(fa['field'], fa['mean'])}->"
                            f"{_fmt(fb['field'], fb['mean'])}" for fa, fb in zip(ea["figures"], eb["figures"]))
        lines.append(f"{key[0]:8} {key[1]:9} {key[2]:14} all targets {ea['all_met']}/{ea['cases']} -> "
                     f"{eb['all_met']}/{eb['cases']}{note}; {figures}")
    print("\n".join(lines))
    return 0


# ----------------------------------------------------------------------------------------- docs


def figures(results: List[Dict], methods: List[str], figures_dir: Path) -> List[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    figures_dir.mkdir(parents=True, exist_ok=True)
    written = []
    ok = [r for r in results if "error" not in r]
    for split in dict.fromkeys(r["split"] for r in ok):
        sel = [r for r in ok if r["split"] == split]
        kinds = [k for k in KINDS if any(r["kind"] == k for r in sel)]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [1, 2]})
        width = 0.8 / len(methods)
        x = np.arange(len(kinds))
        for i, m in enumerate(methods):
            share = [np.mean([bool(r.get("target_met")) for r in sel if r["kind"] == k and r["method"] == m] or [0])
                     for k in kinds]
            ax1.bar(x + i * width, share, width, label=m)
        ax1.set_xticks(x + 0.4 - width / 2, kinds, fontsize=8)
        ax1.set_ylim(0, 1)
        ax1.set_title(f"{split}: share of cases meeting the target", fontsize=10)
        ax1.legend(fontsize=8)
        settings = [s for s in devset.SYNTHETIC_SETTINGS if any(r["setting"] == s for r in sel)]
        groups = settings + [k for k in ("genuine",) if k in kinds]
        xs = np.arange(len(groups))
        for i, m in enumerate(methods):
            vals = []
            for g in groups:
                rs = [r["ratio"] for r in sel if r["method"] == m and
                      ((r["kind"] == "synthetic" and r["setting"] == g) or (g == "genuine" and r["kind"] == g))]
                vals.append(np.mean(rs) if rs else np.nan)
            ax2.bar(xs + i * width, vals, width, label=m)
        ax2.axhline(TARGETS["synthetic"]["ratio_max"], color="grey", linestyle="--", lw=1)
        ax2.set_yscale("log")
        ax2.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.1f"))
        ax2.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%.1f"))
        ax2.set_xticks(xs + 0.4 - width / 2, groups, rotation=45, ha="right", fontsize=8)
        ax2.set_title("mean E_warp / floor by flicker setting (target dashed)", fontsize=10)
        fig.tight_layout()
        name = f"quality_summary_{split}.png"
        fig.savefig(figures_dir / name, dpi=90)
        plt.close(fig)
        written.append(name)
    picks = [c for c in BIAS_CASES if any(r["case"] == c and "bias_rgb" in r for r in ok)][:4]
    films = [c for c in dict.fromkeys(r["case"] for r in ok if r["kind"] == "film")][:1]
    if picks or films:
        panels = picks + films
        fig, axes = plt.subplots(len(panels), 1, figsize=(10, 2.4 * len(panels)), squeeze=False)
        for ax, name in zip(axes[:, 0], panels):
            for j, m in enumerate(methods):
                r = next((r for r in ok if r["case"] == name and r["method"] == m), None)
                if r is None:
                    continue
                colour = f"C{j}"
                if "bias_rgb" in r:
                    bias = np.asarray(r["bias_rgb"]) @ np.array([0.2126, 0.7152, 0.0722])
                    ax.plot(bias, color=colour, lw=1.2, label=f"{m}: mean bias (luma)")
                    ax.plot(r["bias_lowpass"], color=colour, lw=1, ls="--", label=f"{m}: |low-pass bias|")
                else:
                    if j == 0:
                        ax.plot(r["luma_in"], color="k", lw=1.2, label="input mean luma")
                    ax.plot(r["luma_out"], color=colour, lw=1, label=f"{m}: mean luma")
            ax.axhline(0, color="grey", lw=0.6)
            ax.set_title(name, fontsize=9)
            ax.legend(fontsize=7, ncol=2)
        axes[-1, 0].set_xlabel("frame")
        fig.tight_layout()
        fig.savefig(figures_dir / "quality_bias.png", dpi=90)
        plt.close(fig)
        written.append("quality_bias.png")
    return written


def software_line(software) -> str:
    """' Software: ...' for the docs from a run's note (several: one per distinct note), '' without one."""
    notes = [software] if isinstance(software, dict) else list(software or [])
    texts = ["; ".join(f"{name} {value}" for name, value in note.items()) for note in notes]
    return f" Software: {' | '.join(texts)}." if texts else ""


def report(run: Dict, written: List[str], before: Optional[Dict] = None) -> str:
    """The docs section for a run (the JSON quality.py writes); `before`: an earlier run to set beside it."""
    results, summary, methods, timings = run["results"], run["summary"], run["methods"], run["timings"]
    ok = [r for r in results if "error" not in r]
    splits = list(dict.fromkeys(r["split"] for r in ok))
    commands = " and ".join(f"`python benchmarks/quality.py {' '.join(argv)}`" for argv in run.get("commands", [run["argv"]]))
    parts = [f"## Quality{' (quick run: short cases only)' if run.get('quick') else ''}", "",
             f"{commands} on {run['machine']}, {run['date']}: "
             f"{run['elapsed_s']:.0f}s{' (the runs together, made side by side)' if 'commands' in run else ''} "
             f"(making cases {timings['generation_s']:.0f}s, reference flows {timings['flows_s']:.0f}s, "
             + ", ".join(f"{m} {s:.0f}s" for m, s in timings["methods_s"].items())
             + f", evaluation {timings['evaluation_s']:.0f}s).{software_line(run.get('software'))}",
             "",
             "Cases come from `benchmarks/devset.py` (generated from ../shared/data and procedurally; the dev split "
             "is for tuning, the held-out split is never tuned on and uses other photographs). E_warp (paper "
             "eq. 7-8) uses flow and occlusion masks of the clean clip under the reference; the floor is the "
             "reference's own E_warp. Targets: synthetic flicker and genuine changes E_warp <= 1.15x the floor and "
             "PSNR >= 27 dB against the reference; processed pairs close >= 50% of the gap between the processed "
             "clip's E_warp and the floor with PSNR >= 24 dB against the processed frames; clean input PSNR >= 40 "
             "dB against itself; real film local flicker <= 0.35x the input's, Laplacian variance >= 0.97x, tint "
             "<= 0.5 levels. ✓ / ✗: all of a case's targets met or not. A processed pair's contrast (its mean luma "
             "gradient over the clean clip's) bounds what can be closed: E_warp is an absolute error, so a perfectly "
             "steady clip with the processing's contrast still scores about the floor times it, and only the share "
             "shown as closable can be closed without flattening the processing's own contrast. Detail kept (no "
             "target): the output's Laplacian variance over the processed frames'; E_warp rewards blur, so a gap "
             "closed by softening the picture shows here."]
    for split in splits:
        title = {"dev": "Dev split (tuned on)", "heldout": "Held-out split (never tuned on)"}[split]
        cases_n = len({r["case"] for r in ok if r["split"] == split})
        parts += ["", f"### {title}: {cases_n} cases", "", markdown_table(*summary_table(summary, split))]
        if before is not None:
            h, t = before_after_table(before, results, split)
            if t:
                parts += ["", f"Our engine before and after, on the cases both runs have: before = `{before.get('tag')}` "
                          f"({before.get('note') or ' and '.join(' '.join(a) for a in before.get('commands', [before.get('argv', [])]))}, "
                          f"{before.get('date')}).", "",
                          markdown_table(h, t)]
        if f"quality_summary_{split}.png" in written:
            parts += ["", f"![summary {split}](figures/quality_summary_{split}.png)"]
        h, t = setting_table(results, methods, split)
        if t:
            parts += ["", "Synthetic flicker by setting (mean over the clips that have it):", "", markdown_table(h, t)]
        details = []
        for kind in KINDS:
            h, t = case_table(results, methods, kind, split)
            if t:
                details += ["", f"**{kind}**", "", markdown_table(h, t)]
        extra = oldfilm_table(results, methods, split)
        if extra:
            details += ["", "**oldfilm (synthetic B/W): local flicker ratio / Laplacian ratio / tint**", "",
                        markdown_table(*extra)]
        parts += ["", f"<details><summary>Every {split} case</summary>"] + details + ["", "</details>"]
    if "quality_bias.png" in written:
        parts += ["", "Per-frame appearance bias against the reference (mean over the frame, and mean absolute "
                  "low-pass difference): how appearance wanders over a clip.", "", "![bias](figures/quality_bias.png)"]
    return "\n".join(parts) + "\n"


# ----------------------------------------------------------------------------------------- main


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("dev", "heldout", "all"), default=None,
                        help="which split (default: dev; all with --quick)")
    parser.add_argument("--cases", default=None, help="comma list of globs on case names, e.g. 'd0*/w3-*,bmx/*'")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma list of {', '.join(KINDS)}")
    parser.add_argument("--methods", default="raw,ffmpeg,ours",
                        help="comma list: raw, ffmpeg, ffmpeg-am, ours-no-atlas, ours")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="an AnalysisParams or RenderParams field for our engine (repeatable)")
    parser.add_argument("--quick", action="store_true", help=f"about 10 short cases (<= {devset.QUICK_FRAMES} "
                        "frames): a smoke run of the harness")
    parser.add_argument("--device", default="auto", help="device for our engine")
    parser.add_argument("--weights", default=None, metavar="DIR",
                        help="networks to score instead of the shipped ones (DIR/filter.pt, DIR/refiner.pt)")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for quality-<tag>.json")
    parser.add_argument("--tag", default=None, help="name of this run (default: the split, -quick)")
    parser.add_argument("--no-docs", action="store_true", help="do not touch docs/benchmarks.md or docs/figures")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A.json", "B.json"),
                        help="print per-case deltas between two runs and exit")
    parser.add_argument("--report-from", type=Path, nargs="+", metavar="RUN.json",
                        help="write the docs section and figures from saved runs of one engine (several: "
                        "merged, e.g. one per split), without running anything")
    parser.add_argument("--before", type=Path, nargs="+", metavar="RUN.json",
                        help="earlier runs of our engine on the same cases (several: merged, e.g. one per split), "
                        "shown beside this one in the docs")
    args = parser.parse_args(argv)
    if args.compare:
        return compare(*args.compare)
    before = merge_runs([json.loads(path.read_text()) for path in args.before]) if args.before else None
    if args.report_from:
        return write_docs(merge_runs([json.loads(path.read_text()) for path in args.report_from]), before)
    split = args.split or ("all" if args.quick else "dev")
    tag = args.tag or f"{split}{'-quick' if args.quick else ''}"
    names = [m for m in args.methods.split(",") if m]
    if args.weights:  # stop before a long run rather than fail every case of it
        from deflicker_engine.errors import WeightsError
        from deflicker_engine.filtering.weights import load_filter, load_refiner
        try:  # loaded as the engine will load them, so a wrong or damaged file is caught here too
            load_filter(path=Path(args.weights) / "filter.pt")
            load_refiner(path=Path(args.weights) / "refiner.pt")
        except WeightsError as exc:
            raise SystemExit(f"--weights: {exc}")
    methods = make_methods(names, args.device, args.weights)
    analysis, render = parse_params(args.param)
    kinds = [k for k in args.kinds.split(",") if k]
    try:
        cases = devset.cases(split, kinds, quick=args.quick, names=args.cases)
    except ValueError as exc:
        raise SystemExit(str(exc))
    if not cases:
        raise SystemExit("no case matches")
    log(f"{len(cases)} cases ({split}{', quick' if args.quick else ''}), methods {', '.join(names)}"
        + (f", engine overrides {analysis} {render}" if analysis or render else ""))

    started = time.perf_counter()
    results, timings = run_cases(cases, methods, analysis, render)
    elapsed = time.perf_counter() - started
    summary = summarise(results, names)

    for split_name in dict.fromkeys(r["split"] for r in results):
        print(f"=== {split_name} ===")
        for kind in KINDS:
            h, t = case_table(results, names, kind, split_name)
            if t:
                print(f"\n{kind}")
                print(text_table(h, t))
        extra = oldfilm_table(results, names, split_name)
        if extra:
            print("\noldfilm extras (local flicker ratio / Laplacian ratio / tint)")
            print(text_table(*extra))
        h, t = setting_table(results, names, split_name)
        if t:
            print("\nsynthetic by setting")
            print(text_table(h, t))
        print(f"\nsummary ({split_name})")
        print(text_table(*summary_table(summary, split_name)), end="\n\n")
    print(f"{len(cases)} cases in {elapsed:.0f}s: making cases {timings['generation_s']:.0f}s, reference flows "
          f"{timings['flows_s']:.0f}s, " + ", ".join(f"{m} {s:.0f}s" for m, s in timings["methods_s"].items())
          + f", evaluation {timings['evaluation_s']:.0f}s")

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"quality-{tag}.json"
    run = {"tag": tag, "argv": argv, "machine": machine_note(), "software": software_note(),
           "date": time.strftime("%Y-%m-%d %H:%M"),
           "split": split, "quick": args.quick, "methods": names,
           "engine_params": {"analysis": analysis, "render": render}, "elapsed_s": elapsed,
           "timings": timings, "cases": [c.describe() for c in cases], "results": results, "summary": summary}
    path.write_text(json.dumps(run, indent=1, default=float))
    print(f"wrote {path}")
    if not args.no_docs:
        write_docs(json.loads(json.dumps(run, default=float)), before)
    return 0


def merge_runs(runs: List[Dict]) -> Dict:
    """Saved runs of one engine (say the two splits, run side by side) as one run, for one docs section. A
    later run's result for a case and method replaces an earlier one's (a re-run of some cases after a fix)."""
    if len(runs) == 1:
        return runs[0]
    methods = list(dict.fromkeys(m for run in runs for m in run["methods"]))
    latest = {(r["case"], r["method"]): r for run in runs for r in run["results"]}
    results = list(latest.values())
    timings = {key: sum(run["timings"][key] for run in runs) for key in ("generation_s", "flows_s", "evaluation_s")}
    timings["methods_s"] = {m: sum(run["timings"]["methods_s"].get(m, 0.0) for run in runs) for m in methods}
    software = [note for i, note in enumerate(run.get("software") for run in runs)
                if note and note not in [run.get("software") for run in runs[:i]]]
    return dict(runs[0], tag="+".join(run["tag"] for run in runs), commands=[run["argv"] for run in runs],
                software=software[0] if len(software) == 1 else software,
                date=max(run["date"] for run in runs), elapsed_s=sum(run["elapsed_s"] for run in runs),
                methods=methods, results=results, timings=timings, summary=summarise(results, methods),
                cases=[c for run in runs for c in run["cases"]])


def write_docs(run: Dict, before: Optional[Dict] = None) -> int:
    written = figures(run["results"], run["methods"], FIGURES)
    write_section(DOCS, "quality", report(run, written, before))
    print(f"wrote {DOCS} and {len(written)} figure(s) in {FIGURES}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
