"""Shots per minute of `deflicker batch --ray` with 1 worker against 2, on one machine, in one run.

    python -m tests.nodes.batch.farm_speed [--shots 6] [--frames 24] [--repeat 1]

One Ray node with 2 CPUs inside a loopback-only network namespace (tests/nodes/batch/ray_cluster.py);
the same shots (default engine parameters) rendered by `--workers 1 --cpus-per-worker 2` (one engine
using both cores) and by `--workers 2 --cpus-per-worker 1` (two engines, a core each), alternately.
Wall time is the whole command, worker start-up included, as a user sees it.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from tests.conftest import flicker, textured_scene
from tests.nodes.batch.ray_cluster import NetnsRayCluster, namespace_problem
from tests.server.procs import write_png_sequence

CONFIGS = {1: ["--workers", "1", "--cpus-per-worker", "2"], 2: ["--workers", "2", "--cpus-per-worker", "1"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=6)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    problem = namespace_problem()
    if problem:
        raise SystemExit(problem)
    root = Path(tempfile.mkdtemp(prefix="farm_speed"))
    shots = [write_png_sequence(root / "shots" / f"sh{i:03d}",
                                flicker(textured_scene(args.frames, 144, 256, seed=i, pan=2.0), seed=i))
             for i in range(args.shots)]
    cluster = NetnsRayCluster(num_cpus=2, nodes=1).start()
    rows = []
    try:
        for rep in range(args.repeat):
            for workers, extra in CONFIGS.items():
                out = root / f"out_{workers}_{rep}"
                argv = cluster.batch_argv(*map(str, shots), "-o", str(out), "--ray", cluster.address, "--quiet",
                                          "--device", "cpu", *extra)
                started = time.monotonic()
                done = cluster.run(argv, timeout=1800)
                wall = time.monotonic() - started
                if done.returncode != 0:
                    raise SystemExit(f"batch failed:\n{done.stdout}\n{done.stderr}")
                entries = json.loads((out / ".deflicker-batch.json").read_text())["shots"]
                busy = sum(e["seconds"] for e in entries.values())
                rows.append({"workers": workers, "wall_s": round(wall, 1), "shots": len(entries),
                             "shots_per_min": round(60 * len(entries) / wall, 2),
                             "mean_shot_s": round(busy / len(entries), 1)})
                print(json.dumps(rows[-1]), flush=True)
    finally:
        left = cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
        if left:
            print(f"WARNING: processes left: {left}")
    per = {w: sum(r["shots_per_min"] for r in rows if r["workers"] == w) / args.repeat for w in CONFIGS}
    print(f"{args.shots} shots of {args.frames} frames 256x144: 1 worker {per[1]:.2f} shots/min, "
          f"2 workers {per[2]:.2f} shots/min, ratio {per[2] / per[1]:.2f}")


if __name__ == "__main__":
    main()
