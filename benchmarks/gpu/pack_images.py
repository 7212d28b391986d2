"""Pack the training photographs small enough to travel to the accelerator machine (64 MiB for everything).

    python benchmarks/gpu/pack_images.py [--data ../shared/data/images] [--out .gpudata/images]

Training reads every picture downscaled to a 512 px long side (`training.data.load_pool`), so the pack stores
exactly that size, as JPEG (quality 85: 779 pictures in about 35 MiB); kodak24, used only for validation at
384 px, at 384 px (quality 95). The validation figures of a run on the pack therefore differ a little from the
originals'; score the checkpoint on the originals afterwards. The folder layout is kept, so
`--data .gpudata/images` is a drop-in for `../shared/data/images`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from deflicker_engine.training import data as D  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(D.default_data_dir()))
    parser.add_argument("--out", default=".gpudata/images")
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality of the training pictures")
    args = parser.parse_args()
    root, out = Path(args.data), Path(args.out)
    training, validation = D.list_images(root)
    for path, side, quality in [(p, 512, args.quality) for p in training] + [(p, 384, 95) for p in validation]:
        target = (out / path.relative_to(root)).with_suffix(".jpg")
        target.parent.mkdir(parents=True, exist_ok=True)
        bgr = cv2.cvtColor(D.load_pool([path], side)[0], cv2.COLOR_RGB2BGR)  # the picture as training reads it
        cv2.imwrite(str(target), bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{len(training)} training + {len(validation)} validation pictures -> {out} ({total / 2 ** 20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
