"""Issue 13's "quality identical": one clip through the engine on the CPU and on an accelerator, compared.

    python benchmarks/gpu/same_on_devices.py --device cuda [--frames 80] [--out result.json]

The clip is the shared bmx-trees clip (clean) with synthetic local flicker (W = 1, seed 0), as in the quality
benchmark's bmx/w1-local case. Prints and writes: PSNR between the two outputs, and per device E_warp against
the clean clip's flows (as a ratio to the clean clip's own E_warp) and PSNR against the clean clip, plus the
seconds each took. Needs no photographs (the accelerator machine gets only this one clip; see check.sh).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import DATA, load_folder  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="the device to set beside the CPU")
    parser.add_argument("--frames", type=int, default=80)
    parser.add_argument("--out", type=Path, default=None, help="write the figures here as JSON")
    args = parser.parse_args(argv)

    from deflicker_engine import Deflicker
    from deflicker_engine.metrics import ReferenceFlows, psnr
    from deflicker_engine.synthetic import add_flicker

    clean = load_folder(DATA / "clean_bmx_trees", args.frames)
    if not clean:
        raise SystemExit(f"no frames in {DATA / 'clean_bmx_trees'}")
    noisy = add_flicker(clean, window=1, seed=0)
    flows = ReferenceFlows(clean)
    floor = flows.warp_error(clean)["e_warp"]
    figures = {"frames": len(clean), "size": f"{clean[0].shape[1]}x{clean[0].shape[0]}", "floor": floor}
    outputs = {}
    for device in ("cpu", args.device):
        engine = Deflicker(device=device)
        started = time.perf_counter()
        outputs[device] = list(engine.deflicker_frames(noisy))
        seconds = time.perf_counter() - started
        figures[device] = {"device": str(engine.device), "seconds": seconds,
                           "e_warp_ratio": flows.warp_error(outputs[device])["e_warp"] / floor,
                           "psnr_vs_clean": psnr(outputs[device], clean)}
        print(f"{device}: {figures[device]}", flush=True)
    figures["psnr_between_devices"] = psnr(outputs["cpu"], outputs[args.device])
    print(json.dumps(figures, indent=1))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
