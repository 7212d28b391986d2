"""Procedural clean clips: a camera moving over a photograph, with foreground objects cut from other photographs.

Every clip is a pure function of its SceneSpec (photographs, size, length, seed): the same spec gives the same
frames on any machine. Motion is defined in absolute time (seconds), so a shorter clip of the same spec is
exactly a prefix of the longer one.

A frame is, back to front:
- the background photograph seen through a camera (smooth pan made of two sinusoids per axis, slow zoom,
  slight rotation) by one affine warp; the photograph is scaled so the view never leaves it;
- optionally a parallax layer: vertical "pillars" with wavy edges cut from a third photograph, moving 1.6x
  faster than the background (nearer to the camera), occluding it;
- one or two foreground objects: a patch of another photograph with a soft elliptic or polygonal alpha,
  on its own Lissajous path that leaves and re-enters the frame, rotating and breathing in scale;
- mild Gaussian sensor noise, deterministic per (seed, frame).

`SceneSpec.entering` makes the first object a large, strongly coloured one that enters mid-clip (in 0.3 s)
and stays: a colour step for per-frame white balance to trip on. `SceneSpec.crossing` makes the last object a
large one that crosses the whole frame in about a second, every few seconds (someone walking past close to the
camera): fast content change, which is what makes per-frame image algorithms flicker.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

GENERATOR_VERSION = 2  # bump when the frames a spec produces change: cached flows are keyed on it


@dataclass(frozen=True)
class SceneSpec:
    name: str
    split: str
    width: int
    height: int
    frames: int
    seed: int
    background: str                     # photograph paths, relative to the images folder
    objects: Tuple[str, ...]            # one per foreground object
    layer: Optional[str] = None         # parallax layer photograph
    fps: float = 24.0
    noise: float = 0.004                # sensor noise standard deviation, [0, 1] units
    entering: Optional[Tuple[float, float, float]] = None  # RGB tint of a big object entering mid-clip
    crossing: bool = False              # the last object crosses the frame fast, now and then
    camera: float = 1.0                 # camera motion scale: 1 a roaming hand-held camera, 0.1 nearly a tripod

    def params(self) -> Dict:
        d = asdict(self)
        d["version"] = GENERATOR_VERSION
        return d

    def photos(self) -> List[str]:
        return [self.background, *self.objects] + ([self.layer] if self.layer else [])


@lru_cache(maxsize=16)
def read_photo(path: str) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read photograph {path}")
    out = cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    out.setflags(write=False)
    return out


def _rot(theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]], np.float64)


@dataclass
class _Camera:
    k: float                 # output pixels per photo pixel at zoom 1
    centre: np.ndarray       # photo centre (x, y)
    budget: np.ndarray       # pan amplitude in photo pixels (x, y)
    pan: List[Tuple[float, float, float, float]]  # per axis-term: (axis, amplitude 0-1, period s, phase)
    zoom: Tuple[float, float, float]              # (log amplitude, period s, phase)
    roll: Tuple[float, float, float]              # (radians amplitude, period s, phase)

    def at(self, t: float) -> Tuple[np.ndarray, float, float]:
        c = self.centre.copy()
        for axis, amp, period, phase in self.pan:
            c[axis] += self.budget[axis] * amp * math.sin(2 * math.pi * t / period + phase)
        z = math.exp(self.zoom[0] * math.sin(2 * math.pi * t / self.zoom[1] + self.zoom[2]))
        theta = self.roll[0] * math.sin(2 * math.pi * t / self.roll[1] + self.roll[2])
        return c, z, theta

    def offset(self, t: float) -> np.ndarray:
        return self.at(t)[0] - self.centre


def _make_camera(photo_shape, width: int, height: int, rng: np.random.Generator, visible: float = 0.8,
                 amount: float = 1.0) -> _Camera:
    ph, pw = photo_shape[:2]
    zoom_amp = float(rng.uniform(0.03, 0.09)) * amount
    roll_amp = math.radians(float(rng.uniform(0.4, 1.8))) * amount
    zmin = math.exp(-zoom_amp)
    c, s = math.cos(roll_amp), math.sin(roll_amp)
    # half extents of the view in output pixels, rotated
    ex_out, ey_out = width / 2 * c + height / 2 * s, width / 2 * s + height / 2 * c
    k = max(ex_out / (zmin * visible * pw / 2), ey_out / (zmin * (visible + 0.05) * ph / 2))
    budget = np.array([pw / 2 - ex_out / (k * zmin), ph / 2 - ey_out / (k * zmin)]) - 1.0
    budget = np.maximum(budget, 0.0) * amount
    pan = []
    for axis, scale in ((0, 1.0), (1, 0.8)):
        a1 = float(rng.uniform(0.5, 0.75))
        pan.append((axis, a1 * scale, float(rng.uniform(4.0, 9.0)), float(rng.uniform(0, 2 * math.pi))))
        pan.append((axis, (0.97 - a1) * scale, float(rng.uniform(1.5, 3.5)), float(rng.uniform(0, 2 * math.pi))))
    return _Camera(k, np.array([(pw - 1) / 2, (ph - 1) / 2]), budget, pan,
                   (zoom_amp, float(rng.uniform(5.0, 12.0)), float(rng.uniform(0, 2 * math.pi))),
                   (roll_amp, float(rng.uniform(4.0, 10.0)), float(rng.uniform(0, 2 * math.pi))))


def _view_matrix(centre: np.ndarray, scale: float, theta: float, width: int, height: int) -> np.ndarray:
    """2x3 matrix mapping output pixel -> photo pixel (for WARP_INVERSE_MAP)."""
    a = _rot(theta) / scale
    o = np.array([(width - 1) / 2, (height - 1) / 2])
    b = centre - a @ o
    return np.hstack([a, b[:, None]]).astype(np.float64)


def _polygon_alpha(size: int, rng: np.random.Generator) -> np.ndarray:
    """A star-convex polygon (7-12 vertices) filling a size x size square, anti-aliased, soft by ~1 px."""
    n = int(rng.integers(7, 13))
    angles = np.sort(rng.uniform(0, 2 * math.pi, n))
    radii = (0.30 + 0.18 * rng.random(n)) * size
    up = 4
    pts = np.stack([size / 2 + radii * np.cos(angles), size / 2 + radii * np.sin(angles)], 1) * up
    big = np.zeros((size * up, size * up), np.uint8)
    cv2.fillPoly(big, [pts.astype(np.int32)], 255, cv2.LINE_AA)
    alpha = cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    return cv2.GaussianBlur(alpha, (0, 0), 0.8)


def _ellipse_alpha(size: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    ax, ay = size * float(rng.uniform(0.32, 0.46)), size * float(rng.uniform(0.26, 0.46))
    r = np.sqrt(((xx - size / 2) / ax) ** 2 + ((yy - size / 2) / ay) ** 2)
    soft = float(rng.uniform(0.04, 0.15))
    return np.clip((1.0 - r) / soft, 0.0, 1.0).astype(np.float32)


@dataclass
class _Object:
    rgba: np.ndarray        # premultiplied RGB + alpha, patch pixels
    scale: float            # output pixels per patch pixel
    path: Tuple             # (ax, ay, period, phase_x, phase_y)
    spin: Tuple[float, float, float]   # (theta0, amplitude rad, period s)
    breathe: Tuple[float, float]       # (amplitude, period s)
    enter: Optional[Tuple[float, float, float, float]] = None  # (t_enter s, duration s, rest x, rest y)
    cross: Optional[Tuple[float, float, float, float, float]] = None  # (period s, duration s, phase s, dir, y)

    def pose(self, t: float, width: int, height: int) -> Tuple[float, float, float, float]:
        ax, ay, period, px, py = self.path
        if self.cross is not None:
            cycle, duration, phase, direction, y = self.cross
            u = ((t + phase) % cycle) / duration
            half = self.rgba.shape[1] * self.scale * 0.9
            u = min(u, 1.0)  # after crossing it waits off-frame
            x0, x1 = -half, width + half
            if direction < 0:
                x0, x1 = x1, x0
            cx, cy = x0 + (x1 - x0) * u, y + ay * math.sin(2 * math.pi * t / period + py)
        elif self.enter is None:
            cx = width / 2 + ax * math.sin(2 * math.pi * t / period + px)
            cy = height / 2 + ay * math.sin(4 * math.pi * t / period + py)
        else:
            t_enter, duration, rest_x, rest_y = self.enter
            u = min(max((t - t_enter) / duration, 0.0), 1.0)
            u = u * u * (3 - 2 * u)
            start_x = width + self.rgba.shape[1] * self.scale * 0.9
            cx = start_x + (rest_x - start_x) * u + ax * math.sin(2 * math.pi * t / period + px)
            cy = rest_y + ay * math.sin(2 * math.pi * t / period + py)
        theta = self.spin[0] + self.spin[1] * math.sin(2 * math.pi * t / self.spin[2])
        s = self.scale * (1 + self.breathe[0] * math.sin(2 * math.pi * t / self.breathe[1]))
        return cx, cy, theta, s


def _make_object(photo: np.ndarray, width: int, height: int, rng: np.random.Generator,
                 tint: Optional[Tuple[float, float, float]] = None, crossing: bool = False) -> _Object:
    ph, pw = photo.shape[:2]
    side = int(min(ph, pw) * rng.uniform(0.45, 0.7))
    y0, x0 = int(rng.integers(0, ph - side + 1)), int(rng.integers(0, pw - side + 1))
    patch = photo[y0:y0 + side, x0:x0 + side].copy()
    alpha = _polygon_alpha(side, rng) if rng.random() < 0.5 else _ellipse_alpha(side, rng)
    if tint is None:
        target = height * float(rng.uniform(0.40, 0.65))
        scale = target / side
        ax = width * float(rng.uniform(0.42, 0.62))  # beyond half the width: leaves and re-enters
        path = (ax, height * float(rng.uniform(0.06, 0.22)), float(rng.uniform(4.0, 8.0)),
                float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0, 2 * math.pi)))
        enter = None
    else:
        luma = patch @ np.float32([0.2126, 0.7152, 0.0722])
        coloured = np.clip(luma[..., None] * np.float32(tint) * 1.7, 0, 1)
        patch = 0.2 * patch + 0.8 * coloured
        alpha = _ellipse_alpha(side, rng)
        scale = height * 1.3 / side
        path = (width * 0.02, height * 0.02, float(rng.uniform(3.0, 5.0)), float(rng.uniform(0, 6.3)),
                float(rng.uniform(0, 6.3)))
        enter = (0.0, 0.3, width * float(rng.uniform(0.55, 0.65)), height * 0.5)
    cross = None
    if crossing:
        scale = height * float(rng.uniform(1.2, 1.5)) / side
        path = (0.0, height * 0.03, 2.0, 0.0, float(rng.uniform(0, 6.3)))
        cross = (float(rng.uniform(2.5, 4.0)), float(rng.uniform(1.0, 1.6)), float(rng.uniform(0, 2.5)),
                 float(rng.choice([-1.0, 1.0])), height * float(rng.uniform(0.4, 0.65)))
    rgba = np.dstack([patch * alpha[..., None], alpha]).astype(np.float32)
    spin_amp = math.radians(float(rng.uniform(5, 25)))
    return _Object(rgba, scale, path, (float(rng.uniform(-0.3, 0.3)), spin_amp, float(rng.uniform(3, 7))),
                   (float(rng.uniform(0.05, 0.15)), float(rng.uniform(3, 6))), enter, cross)


def _pillars_alpha(shape, rng: np.random.Generator, count: int, width_px: float) -> np.ndarray:
    """Vertical bands with wavy edges across a layer image of `shape`."""
    h, w = shape[:2]
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    alpha = np.zeros((h, w), np.float32)
    centres = (np.arange(count) + 0.5 + rng.uniform(-0.2, 0.2, count)) * w / count
    for cx in centres:
        wobble = (width_px * 0.12 * np.sin(2 * math.pi * yy / h * rng.uniform(1, 3) + rng.uniform(0, 6.3))
                  + width_px * 0.05 * np.sin(2 * math.pi * yy / h * rng.uniform(5, 9) + rng.uniform(0, 6.3)))
        half = width_px * rng.uniform(0.35, 0.6)
        d = np.abs(xx - cx - wobble) - half
        alpha = np.maximum(alpha, np.clip(0.5 - d / 1.5, 0, 1))
    return alpha


class Scene:
    """Renders the frames of one SceneSpec (images resolved under `images`)."""

    def __init__(self, spec: SceneSpec, images: Path):
        self.spec = spec
        rng = np.random.default_rng([spec.seed, 1])
        w, h = spec.width, spec.height
        self.background = read_photo(str(images / spec.background))
        self.camera = _make_camera(self.background.shape, w, h, rng, amount=spec.camera)
        self.objects: List[_Object] = []
        for i, path in enumerate(spec.objects):
            tint = spec.entering if (i == 0 and spec.entering) else None
            crossing = spec.crossing and i == len(spec.objects) - 1
            obj = _make_object(read_photo(str(images / path)), w, h, rng, tint, crossing)
            if obj.enter is not None:
                duration = spec.frames / spec.fps
                obj.enter = (duration * float(rng.uniform(0.38, 0.46)), obj.enter[1], obj.enter[2], obj.enter[3])
            self.objects.append(obj)
        self.layer = None
        if spec.layer:
            photo = read_photo(str(images / spec.layer))
            # the layer moves 1.6x as far (in output pixels) as the background: scale it so it covers that
            k2 = self.camera.k * 1.6 * 1.15
            canvas_w = int(w / k2 * 2.2 + 2 * 1.6 * self.camera.budget[0] * self.camera.k / k2) + 8
            canvas_h = int(h / k2 * 1.5 + 2 * 1.6 * self.camera.budget[1] * self.camera.k / k2) + 8
            tex = cv2.resize(photo, (canvas_w, canvas_h), interpolation=cv2.INTER_CUBIC)
            alpha = _pillars_alpha(tex.shape, rng, int(rng.integers(2, 4)), w / k2 * float(rng.uniform(0.12, 0.2)))
            self.layer = (np.dstack([tex * alpha[..., None], alpha]).astype(np.float32), k2)

    def frame(self, index: int) -> np.ndarray:
        spec = self.spec
        w, h = spec.width, spec.height
        t = index / spec.fps
        centre, zoom, theta = self.camera.at(t)
        m = _view_matrix(centre, self.camera.k * zoom, theta, w, h)
        flags = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
        out = cv2.warpAffine(self.background, m, (w, h), flags=flags, borderMode=cv2.BORDER_REFLECT101)
        if self.layer is not None:
            rgba, k2 = self.layer
            lh, lw = rgba.shape[:2]
            offset = self.camera.offset(t) * 1.6 * self.camera.k / k2
            lc = np.array([(lw - 1) / 2, (lh - 1) / 2]) + offset
            ml = _view_matrix(lc, k2 * zoom, theta, w, h)
            layer = cv2.warpAffine(rgba, ml, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            out = layer[..., :3] + (1 - layer[..., 3:]) * out
        for obj in self.objects:
            cx, cy, otheta, s = obj.pose(t, w, h)
            ph, pw = obj.rgba.shape[:2]
            a = _rot(otheta) * s
            b = np.array([cx, cy]) - a @ np.array([(pw - 1) / 2, (ph - 1) / 2])
            mo = np.hstack([a, b[:, None]])
            patch = cv2.warpAffine(obj.rgba, mo, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                   borderValue=0)
            out = patch[..., :3] + (1 - patch[..., 3:]) * out
        if spec.noise > 0:
            rng = np.random.default_rng([spec.seed, 2, index])
            out = out + rng.standard_normal(out.shape, dtype=np.float32) * np.float32(spec.noise)
        return np.clip(out, 0.0, 1.0).astype(np.float32)

    def frames(self, count: Optional[int] = None) -> List[np.ndarray]:
        return [self.frame(i) for i in range(self.spec.frames if count is None else count)]
