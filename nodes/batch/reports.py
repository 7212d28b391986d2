"""`deflicker batch ... --report-dir DIR`: a QC report per shot (deflicker_engine.report) and an index page.

Reports are made here, on the machine that runs the batch, from each shot's input and output files, so
they need nothing from the server (or the farm) but the paths it wrote. A shot that failed gets a row on
the index with its reason; a shot done by an earlier run gets its report too (its timings are unknown).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

INDEX = "index.html"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report-dir", type=Path, default=None, metavar="DIR",
                        help=f"also write a QC report per shot (self-contained HTML: stills, curves, heat map, "
                             f"parameters, timings) and {INDEX} linking them, into DIR")


def prepare(report_dir: Optional[Path]) -> Optional[Path]:
    """Create the folder before any shot runs, so an unwritable DIR fails at once, not after hours."""
    if report_dir is None:
        return None
    from deflicker_engine.errors import OutputError

    folder = Path(os.path.abspath(os.path.expanduser(os.fspath(report_dir))))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the report folder {folder}: {error.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise OutputError(f"the report folder {folder} is not writable")
    return folder


def report_names(names: Sequence[str]) -> List[str]:
    """One safe, unique file name per shot ("sh010/plate.%04d.exr" -> "sh010_plate.html")."""
    used: Dict[str, int] = {}
    out = []
    for name in names:
        stem = re.sub(r"%0?\d*d|#+", "", name)
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(stem).with_suffix("").as_posix()).strip("._") or "shot"
        n = used.get(stem, 0) + 1
        used[stem] = n
        out.append(f"{stem}.html" if n == 1 else f"{stem}_{n}.html")
    return out


def write_reports(folder: Path, results: Sequence[Any], params: Dict[str, Any], quiet: bool = False,
                  stream=None) -> List[str]:
    """A report per finished shot and the index; returns the reports that could not be made, with why."""
    from deflicker_engine.errors import DeflickerError
    from deflicker_engine.progress import stage_progress
    from deflicker_engine.report import IndexEntry, write_index, write_report

    stream = stream or sys.stderr
    entries, problems = [], []
    with stage_progress(quiet, stream) as progress:
        for result, name in zip(results, report_names([r.shot.name for r in results])):
            shot = result.shot
            if result.status == "failed" or not shot.output:
                entries.append(IndexEntry(shot.name, result.status, reason=result.reason))
                continue
            seconds = {"shot on the server": result.seconds} if result.status == "done" else {}
            try:
                summary = write_report(folder / name, shot.source, shot.output, params, seconds, title=shot.name,
                                       progress=progress)
                entries.append(IndexEntry(shot.name, result.status, summary))
            except DeflickerError as error:
                problems.append(f"{shot.name}: {error}")
                entries.append(IndexEntry(shot.name, result.status, reason=f"no report: {error}"))
        index = write_index(folder / INDEX, entries)
        progress.note(f"deflicker batch: reports in {index}")
    return problems
