"""Make the project's bundled example: a procedurally generated countryside shot with synthetic flicker.

    python examples/make_example.py                      # writes examples/flicker_example.mp4
    python examples/make_example.py --clean /tmp/clean   # also writes the clean frames (16-bit PNG)

The scene is built from multi-octave noise (sky, clouds, hills, grass, gravel) and a few shapes (house,
trees, fence, rocks), seen by a camera panning slowly to the right with parallax between the layers;
a car drives the other way along the road (motion independent of the camera). Flicker follows
deflicker_engine.synthetic: a slow component redrawn every 3 frames and a fast one redrawn every frame,
each with global brightness, colour and smooth local gain. Everything is deterministic from --seed,
so the clean frames can be regenerated at any time for evaluation instead of being committed.
"""
from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator, List, Tuple

import cv2
import numpy as np

from deflicker_engine.synthetic import iter_flicker

HERE = Path(__file__).resolve().parent


# ----------------------------------------------------------------------------------------- noise


def fbm(shape: Tuple[int, int], rng: np.random.Generator, cells: float = 4.0, octaves: int = 5,
        persistence: float = 0.5, stretch: float = 1.0) -> np.ndarray:
    """Multi-octave value noise in about [-1, 1]: `cells` cells across the short side at the coarsest octave.

    stretch > 1 makes features taller than wide (grass), < 1 wider than tall (clouds).
    """
    h, w = shape
    out = np.zeros(shape, np.float32)
    amplitude, total = 1.0, 0.0
    for octave in range(octaves):
        n = cells * 2 ** octave
        gh = max(2, int(round(n * (h / min(h, w)) / stretch)) + 2)
        gw = max(2, int(round(n * (w / min(h, w)))) + 2)
        grid = rng.uniform(-1, 1, (gh, gw)).astype(np.float32)
        out += amplitude * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amplitude
        amplitude *= persistence
    return out / total


def profile(width: int, rng: np.random.Generator, cells: float, octaves: int = 6) -> np.ndarray:
    """A 1D fBm curve in about [-1, 1] with `cells` bumps across `width` at the coarsest octave (ridge lines)."""
    out = np.zeros(width, np.float32)
    amplitude, total = 1.0, 0.0
    for octave in range(octaves):
        points = rng.uniform(-1, 1, (1, int(cells * 2 ** octave) + 3)).astype(np.float32)
        out += amplitude * cv2.resize(points, (width, 1), interpolation=cv2.INTER_CUBIC)[0]
        total += amplitude
        amplitude *= 0.5
    return out / total * 1.6


def smoothstep(lo: float, hi: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0, 1)
    return t * t * (3 - 2 * t)


# ----------------------------------------------------------------------------------------- layers


@dataclass
class Layer:
    """An RGBA panorama that moves `parallax` times the camera's motion."""

    rgb: np.ndarray
    alpha: np.ndarray
    parallax: float


def _over(rgb: np.ndarray, alpha: np.ndarray, colour: np.ndarray, mask: np.ndarray) -> None:
    """Paint colour (H x W x 3 or 3-vector) where mask (H x W in [0, 1]) says, in place."""
    m = mask[..., None]
    rgb[:] = rgb * (1 - m) + colour * m
    alpha[:] = np.maximum(alpha, mask)


def sky_layer(h: int, w: int, rng: np.random.Generator) -> Layer:
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    top, horizon = np.float32([0.22, 0.40, 0.70]), np.float32([0.80, 0.80, 0.78])
    rgb = np.broadcast_to(top * (1 - y ** 0.8) + horizon * y ** 0.8, (h, w, 3)).copy()
    cover = fbm((h, w), rng, cells=3, octaves=6, stretch=0.4)
    cloud = smoothstep(0.02, 0.45, cover) * (1 - smoothstep(0.45, 0.62, y[..., 0]))
    shade = 0.78 + 0.22 * smoothstep(-0.3, 0.5, fbm((h, w), rng, cells=5, octaves=4))
    cloud_rgb = np.stack([shade * 0.98, shade * 0.96, shade * 0.95], -1)
    rgb = rgb * (1 - cloud[..., None]) + cloud_rgb * cloud[..., None]
    return Layer(rgb.astype(np.float32), np.ones((h, w), np.float32), 0.15)


def ridge_layer(h: int, w: int, rng: np.random.Generator, base_y: float, amp: float, colour, haze: float,
                parallax: float, texture: float, cells: float, trees: int = 0) -> Layer:
    ys = np.arange(h, dtype=np.float32)[:, None]
    ridge = (base_y - amp * profile(w, rng, cells=cells)) * h
    mask = smoothstep(-1.0, 1.0, ys - ridge[None, :])
    depth = np.clip((ys - ridge[None, :]) / (0.35 * h), 0, 1)
    tex = fbm((h, w), rng, cells=cells * 3, octaves=6)
    colour = np.float32(colour)
    rgb = colour * (1 + texture * tex[..., None]) * (0.8 + 0.2 * depth[..., None])
    haze_rgb = np.float32([0.72, 0.76, 0.80])
    rgb = rgb * (1 - haze) + haze_rgb * haze
    alpha = mask.copy()
    rgb = rgb.astype(np.float32)
    for _ in range(trees):  # clumps of trees along the ridge
        x = int(rng.uniform(0, w))
        r = rng.uniform(0.012, 0.03) * h
        clump = np.zeros((h, w), np.float32)
        for _ in range(int(rng.integers(3, 8))):
            cx = x + rng.normal(0, 1.5 * r)
            cy = ridge[int(np.clip(cx, 0, w - 1))] - rng.uniform(0.2, 1.2) * r
            cv2.circle(clump, (int(cx), int(cy)), int(r * rng.uniform(0.7, 1.3)), 1.0, -1)
        leaf = np.float32([0.10, 0.20, 0.08]) * (1 + 0.5 * tex[..., None]) * (1 - haze) + haze_rgb * haze
        _over(rgb, alpha, leaf, clump)
    return Layer(rgb, alpha, parallax)


def ground_layer(h: int, w: int, rng: np.random.Generator, s: float) -> Layer:
    """Grass, a gravel road, a house, trees, a fence and rocks: the layer that moves with the camera."""
    ys = np.arange(h, dtype=np.float32)[:, None]
    top = (0.66 + 0.015 * profile(w, rng, cells=3)) * h
    mask = smoothstep(-1.0, 1.0, ys - top[None, :])
    grass_tex = fbm((h, w), rng, cells=14, octaves=6, stretch=3.0)  # blades: taller than wide
    patches = fbm((h, w), rng, cells=3, octaves=3)
    grass = np.float32([0.30, 0.40, 0.15]) * (1 + 0.35 * grass_tex[..., None] + 0.2 * patches[..., None])
    grass += np.float32([0.06, 0.04, -0.02]) * smoothstep(0.0, 0.6, patches)[..., None]  # dry patches
    rgb = grass.astype(np.float32)
    alpha = mask.copy()

    road_y = (0.82 + 0.02 * profile(w, rng, cells=1.5, octaves=3)) * h
    road = smoothstep(-0.045 * h, -0.035 * h, ys - road_y) * (1 - smoothstep(0.035 * h, 0.045 * h, ys - road_y))
    gravel = fbm((h, w), rng, cells=40, octaves=3)
    ruts = 1 - 0.12 * np.exp(-((ys - road_y - 0.012 * h) / (0.006 * h)) ** 2)
    road_rgb = np.float32([0.56, 0.49, 0.38]) * ((1 + 0.18 * gravel) * ruts)[..., None]
    _over(rgb, alpha, road_rgb, road * mask)

    _house(rgb, alpha, rng, int(0.22 * w), int(0.70 * h), s)
    for x in (0.05, 0.40, 0.58, 0.93):
        _tree(rgb, alpha, rng, int(x * w + rng.normal(0, 10 * s)), int((0.70 + rng.uniform(0, 0.03)) * h), s)
    post_y = road_y - 0.055 * h
    for x in np.arange(0.3 * w, 0.75 * w, 26 * s):
        y = int(post_y[int(x)])
        cv2.rectangle(rgb, (int(x), y - int(16 * s)), (int(x + 3 * s), y), (0.33, 0.25, 0.18), -1)
        cv2.rectangle(alpha, (int(x), y - int(16 * s)), (int(x + 3 * s), y), 1.0, -1)
    rail = np.zeros((h, w), np.float32)
    for dy in (12, 6):
        pts = np.stack([np.arange(int(0.3 * w), int(0.75 * w)), post_y[int(0.3 * w):int(0.75 * w)] - dy * s], -1)
        cv2.polylines(rail, [pts.astype(np.int32)], False, 1.0, max(1, int(1.5 * s)))
    _over(rgb, alpha, np.float32([0.38, 0.30, 0.22]), rail)
    for _ in range(7):
        x, y = rng.uniform(0, w), rng.uniform(0.88, 0.98) * h
        rock = np.zeros((h, w), np.float32)
        cv2.ellipse(rock, (int(x), int(y)), (int(rng.uniform(6, 16) * s), int(rng.uniform(4, 9) * s)),
                    rng.uniform(-20, 20), 0, 360, 1.0, -1)
        light = 0.9 - 0.35 * smoothstep(-0.2, 0.6, (ys - y) / (10 * s))
        rock_rgb = np.float32([0.55, 0.54, 0.50]) * (light * (1 + 0.15 * gravel))[..., None]
        _over(rgb, alpha, rock_rgb, rock)
    return Layer(rgb.astype(np.float32), alpha, 1.0)


def _house(rgb, alpha, rng, x: int, base: int, s: float) -> None:
    h, w = alpha.shape
    bw, bh = int(90 * s), int(52 * s)
    wall = np.zeros((h, w), np.float32)
    cv2.rectangle(wall, (x, base - bh), (x + bw, base), 1.0, -1)
    tex = fbm((h, w), rng, cells=30, octaves=3)
    _over(rgb, alpha, np.float32([0.82, 0.76, 0.64]) * (1 + 0.06 * tex[..., None]), wall)
    side = np.zeros((h, w), np.float32)
    cv2.rectangle(side, (x + bw, base - bh), (x + bw + int(30 * s), base), 1.0, -1)
    _over(rgb, alpha, np.float32([0.60, 0.55, 0.46]) * (1 + 0.06 * tex[..., None]), side)
    roof = np.zeros((h, w), np.float32)
    peak = base - bh - int(34 * s)
    gable = [[x - int(8 * s), base - bh], [x + bw // 2, peak], [x + bw + int(8 * s), base - bh]]
    cv2.fillPoly(roof, [np.int32(gable)], 1.0)
    cv2.fillPoly(roof, [np.int32([[x + bw // 2, peak], [x + bw + int(38 * s), peak + int(6 * s)],
                                  [x + bw + int(36 * s), base - bh], [x + bw + int(8 * s), base - bh]])], 1.0)
    tiles = 1 + 0.12 * np.sin(np.arange(h, dtype=np.float32)[:, None] * (0.9 / s)) + 0.08 * tex
    _over(rgb, alpha, np.float32([0.50, 0.20, 0.14]) * tiles[..., None], roof)
    for wx in (x + int(12 * s), x + int(60 * s)):
        cv2.rectangle(rgb, (wx, base - int(38 * s)), (wx + int(16 * s), base - int(20 * s)), (0.12, 0.14, 0.17), -1)
        cv2.rectangle(rgb, (wx + int(7 * s), base - int(38 * s)), (wx + int(9 * s), base - int(20 * s)),
                      (0.85, 0.82, 0.75), -1)
    cv2.rectangle(rgb, (x + int(36 * s), base - int(32 * s)), (x + int(52 * s), base), (0.30, 0.18, 0.10), -1)
    chimney = (x + int(62 * s), peak + int(6 * s))
    cv2.rectangle(rgb, chimney, (chimney[0] + int(9 * s), chimney[1] + int(20 * s)), (0.45, 0.30, 0.25), -1)
    cv2.rectangle(alpha, chimney, (chimney[0] + int(9 * s), chimney[1] + int(20 * s)), 1.0, -1)


def _tree(rgb, alpha, rng, x: int, base: int, s: float) -> None:
    h, w = alpha.shape
    height = rng.uniform(70, 110) * s
    trunk = np.zeros((h, w), np.float32)
    cv2.rectangle(trunk, (x - int(4 * s), int(base - 0.55 * height)), (x + int(4 * s), base), 1.0, -1)
    _over(rgb, alpha, np.float32([0.28, 0.20, 0.13]), trunk)
    crown = np.zeros((h, w), np.float32)
    cy = base - 0.65 * height
    for _ in range(14):
        r = rng.uniform(0.14, 0.22) * height
        px, py = x + rng.normal(0, 0.12 * height), cy + rng.normal(0, 0.10 * height)
        cv2.circle(crown, (int(px), int(py)), int(r), 1.0, -1)
    crown = np.clip(cv2.GaussianBlur(crown, (0, 0), 1.5 * s) * 1.4 - 0.2, 0, 1)
    leaves = fbm((h, w), rng, cells=18, octaves=4)
    xs = np.arange(w, dtype=np.float32)[None, :]
    sun = 0.8 + 0.4 * np.clip((xs - x) / (0.4 * height), -1, 1)  # lit from the right
    colour = np.float32([0.16, 0.28, 0.10]) * ((1 + 0.45 * leaves) * sun)[..., None]
    _over(rgb, alpha, colour, crown)


# ----------------------------------------------------------------------------------------- frames


def _car(frame: np.ndarray, x: float, road_y: float, s: float) -> None:
    """A small red car with a soft shadow, drawn in place (supersampled coordinates)."""
    L, H = 64 * s, 20 * s
    shadow = np.zeros(frame.shape[:2], np.float32)
    cv2.ellipse(shadow, (int(x + L / 2), int(road_y + 2 * s)), (int(L * 0.6), int(5 * s)), 0, 0, 360, 1.0, -1)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 3 * s)
    frame *= (1 - 0.45 * shadow)[..., None]
    body = np.int32([[x, road_y - 6 * s], [x + 2 * s, road_y - H], [x + L - 2 * s, road_y - H],
                     [x + L, road_y - 8 * s], [x + L, road_y - 6 * s]])
    cabin = np.int32([[x + 14 * s, road_y - H], [x + 22 * s, road_y - H - 14 * s], [x + 44 * s, road_y - H - 14 * s],
                      [x + 52 * s, road_y - H]])
    cv2.fillPoly(frame, [body], (0.62, 0.08, 0.06))
    cv2.fillPoly(frame, [cabin], (0.55, 0.07, 0.05))
    glass = np.int32([[x + 18 * s, road_y - H - 1 * s], [x + 24 * s, road_y - H - 11 * s],
                      [x + 42 * s, road_y - H - 11 * s], [x + 48 * s, road_y - H - 1 * s]])
    cv2.fillPoly(frame, [glass], (0.55, 0.66, 0.74))
    cv2.line(frame, (int(x + 33 * s), int(road_y - H - 12 * s)), (int(x + 33 * s), int(road_y - H)), (0.5, 0.07, 0.05),
             max(1, int(2 * s)))
    cv2.line(frame, (int(x + 3 * s), int(road_y - 14 * s)), (int(x + L - 3 * s), int(road_y - 14 * s)),
             (0.85, 0.35, 0.30), max(1, int(s)))
    for wx in (x + 13 * s, x + L - 13 * s):
        cv2.circle(frame, (int(wx), int(road_y - 5 * s)), int(7 * s), (0.06, 0.06, 0.06), -1)
        cv2.circle(frame, (int(wx), int(road_y - 5 * s)), int(3 * s), (0.55, 0.55, 0.55), -1)


def render_scene(count: int = 72, width: int = 480, height: int = 270, seed: int = 7, pan: float = 1.2,
                 supersample: int = 2) -> Iterator[np.ndarray]:
    """Clean float32 RGB frames in [0, 1]: a slow pan over the countryside while a car drives past."""
    rng = np.random.default_rng(seed)
    s = supersample * height / 270.0  # object sizes were designed at 270 lines
    scale = width / 480.0
    pan_px = pan * scale * supersample
    h, w = height * supersample, width * supersample
    world_w = w + int(pan_px * count) + 4
    layers = [
        sky_layer(h, world_w, rng),
        ridge_layer(h, world_w, rng, 0.50, 0.10, [0.42, 0.48, 0.58], 0.45, 0.35, 0.10, 4.0),
        ridge_layer(h, world_w, rng, 0.60, 0.05, [0.24, 0.36, 0.16], 0.15, 0.65, 0.15, 6.0, trees=26),
        ground_layer(h, world_w, rng, s),
    ]
    road_y = 0.822 * h
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    vignette = 1 - 0.28 * (((xs / w - 0.5) ** 2 + (ys / h - 0.5) ** 2) / 0.5)
    grade = np.float32([1.04, 1.0, 0.93])  # warm late-afternoon light
    for t in range(count):
        frame = np.zeros((h, w, 3), np.float32)
        for layer in layers:
            shift = np.float32([[1, 0, -layer.parallax * pan_px * t], [0, 1, 0]])
            rgb = cv2.warpAffine(layer.rgb, shift, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            a = cv2.warpAffine(layer.alpha, shift, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            frame = frame * (1 - a[..., None]) + rgb * a[..., None]
        car_x = w * 0.95 - t * (2.6 * scale * supersample) - pan_px * t  # drives left, camera pans right
        _car(frame, car_x, road_y, s)
        frame = frame * vignette[..., None] * grade
        frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        yield np.clip(frame, 0, 1).astype(np.float32)


def flicker_example(clean: Iterable[np.ndarray], seed: int = 7) -> Iterator[np.ndarray]:
    """Slow flicker redrawn every 3 frames on top of fast flicker redrawn every frame, a frame at a time."""
    slow = iter_flicker(clean, window=3, seed=seed, local=True, colour=True, strength=1.0)
    return iter_flicker(slow, window=1, seed=seed + 1, local=True, colour=True, strength=0.7)


# ----------------------------------------------------------------------------------------- writing


def write_mp4(frames: Iterable[np.ndarray], path: Path, fps: int = 24, crf: int = 16) -> None:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".partial" + path.suffix)
    frames = iter(frames)
    first = next(frames)
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height = first.shape[1], first.shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "slow"}
        for frame in itertools.chain([first], frames):
            rgb = (np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)


def write_pngs(frames: List[np.ndarray], folder: Path) -> None:
    """16-bit PNGs, so the clean reference keeps more precision than the 8-bit video."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        bgr = cv2.cvtColor((np.clip(frame, 0, 1) * 65535 + 0.5).astype(np.uint16), cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(folder / f"{i:04d}.png"), bgr)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "flicker_example.mp4", help="flickering mp4 to write")
    parser.add_argument("--clean", type=Path, help="also write the clean frames here (16-bit PNG)")
    parser.add_argument("--flickering-pngs", type=Path, help="also write the flickering frames here (16-bit PNG)")
    parser.add_argument("--frames", type=int, default=72)
    parser.add_argument("--width", type=int, default=480)
    parser.add_argument("--height", type=int, default=270)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-video", action="store_true", help="skip the mp4 (with --clean: clean frames only)")
    args = parser.parse_args(argv)
    clean = list(render_scene(args.frames, args.width, args.height, seed=args.seed))
    flickering = list(flicker_example(clean, seed=args.seed))
    if not args.no_video:
        write_mp4(flickering, args.out)
        print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    if args.clean:
        write_pngs(clean, args.clean)
        print(f"wrote {len(clean)} clean frames to {args.clean}")
    if args.flickering_pngs:
        write_pngs(flickering, args.flickering_pngs)
        print(f"wrote {len(flickering)} flickering frames to {args.flickering_pngs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
