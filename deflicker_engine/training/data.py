"""Training material made from still photographs: filter examples and synthetic flickering clips.

The filter learns from (tau_a(X), tau_s(X)) -> X on random crops. The refiner learns from short clips made by
moving a crop over a photograph with a smooth random camera (translation, zoom, small rotation) and an
independently moving pasted object, so the optical flow and the occlusions are known exactly.
Validation uses kodak24 only; training uses every other set.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..errors import InputError
from . import distortions as D

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
VALIDATION_SET = "kodak24"


def default_data_dir() -> Path:
    """../shared/data/images beside the repository root."""
    return Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "images"


def list_images(root: Path) -> Tuple[List[Path], List[Path]]:
    """(training, validation) image paths under root; validation = the kodak24 folder, sorted for determinism."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"training images folder {root} not found; pass --data DIR")
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    validation = [p for p in paths if VALIDATION_SET in p.relative_to(root).parts]
    held_out = set(validation)
    training = [p for p in paths if p not in held_out]
    if not training:
        raise InputError(f"no training images (png/jpg/bmp/tif) under {root}")
    return training, validation


def read_rgb(path: Path, max_side: Optional[int] = None) -> np.ndarray:
    """float32 RGB in [0, 1], downscaled (area) so the long side is at most max_side."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f"cannot read image {path}")
    h, w = bgr.shape[:2]
    if max_side and max(h, w) > max_side:
        f = max_side / max(h, w)
        bgr = cv2.resize(bgr, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def load_pool(paths: Sequence[Path], max_side: int = 512) -> List[np.ndarray]:
    """Decode every image once (uint8 keeps memory low); training then only crops."""
    return [np.round(read_rgb(p, max_side) * 255).astype(np.uint8) for p in paths]


def to_float(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)


def random_crop(image: np.ndarray, rng: np.random.Generator, size: int, max_zoom: float = 1.6) -> np.ndarray:
    """A square crop of `size` px, taken from a 1x to max_zoom x larger window (mimics working resolution)."""
    h, w = image.shape[:2]
    largest = min(h, w)
    window = int(rng.integers(min(size, largest), max(min(size, largest), min(int(size * max_zoom), largest)) + 1))
    y, x = int(rng.integers(0, h - window + 1)), int(rng.integers(0, w - window + 1))
    crop = to_float(image[y:y + window, x:x + window])
    if window != size:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if window > size else cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    if rng.random() < 0.25:
        crop = np.rot90(crop)
    return np.ascontiguousarray(crop)


# ------------------------------------------------------------------------------------------ filter

def filter_example(pool: Sequence[np.ndarray], rng: np.random.Generator, size: int):
    """One (frame, atlas, target) triple, each size x size x 3 float32."""
    clean = random_crop(pool[int(rng.integers(len(pool)))], rng, size)
    other = random_crop(pool[int(rng.integers(len(pool)))], rng, size)
    return D.appearance_distortion(clean, rng), D.structure_distortion(clean, rng, other), clean


def filter_batch(pool: Sequence[np.ndarray], rng: np.random.Generator, batch: int, size: int):
    """(frames, atlases, targets) as numpy N x 3 x size x size float32."""
    triples = [filter_example(pool, rng, size) for _ in range(batch)]
    return tuple(np.stack([t[i].transpose(2, 0, 1) for t in triples]) for i in range(3))


def validation_filter_cases(images: Sequence[np.ndarray], seed: int = 1234):
    """Fixed held-out cases: per image (frame, atlas, clean), the same for every run and every model."""
    cases = []
    for i, image in enumerate(images):
        rng = np.random.default_rng(seed + i)
        clean = to_float(image)
        other = to_float(images[(i + 1) % len(images)])
        other = cv2.resize(other, (clean.shape[1], clean.shape[0]), interpolation=cv2.INTER_AREA)
        frame = D.appearance_distortion(clean, rng, identity_chance=0.0)
        atlas = D.structure_distortion(clean, rng, other, identity_chance=0.0)
        cases.append((frame, atlas, clean))
    return cases


# ------------------------------------------------------------------------------------------ sequences

@dataclass
class Clip:
    """A synthetic clip: clean frames T x H x W x 3, flow[t] maps frame t to frame t-1 (flow[0] is zero),
    mask[t] = 1 where frame t's pixel is visible in frame t-1 (mask[0] is zero). Flow convention as in
    analysis.flow: frame_t(x) matches frame_{t-1}(x + flow_t(x))."""

    clean: np.ndarray
    flow: np.ndarray
    mask: np.ndarray


def _camera_matrices(rng: np.random.Generator, frames: int, size: int, h: int, w: int, max_speed: float):
    """Output->source affine maps along a smooth path that stays inside the picture; None if it cannot."""
    for attempt in range(6):
        damp = 0.6 ** attempt
        zoom0 = rng.uniform(1.0, 1.6)
        zoom0 = min(zoom0, 0.98 * min(h, w) / (size * 1.45))
        if zoom0 <= 0.3:
            return None
        velocity = rng.uniform(-max_speed, max_speed, 2) * damp * zoom0
        accel = rng.normal(0.0, 0.3, 2) * damp * zoom0
        zoom_rate = rng.uniform(-0.03, 0.03) * damp
        spin = np.deg2rad(rng.uniform(-1.2, 1.2)) * damp
        angle0 = np.deg2rad(rng.uniform(-3, 3))
        centre0 = np.array([rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h])
        mats, ok = [], True
        corners = np.array([[0, 0], [size - 1, 0], [0, size - 1], [size - 1, size - 1]], np.float64) - size / 2
        for t in range(frames):
            zoom = zoom0 * np.exp(zoom_rate * t)
            a = angle0 + spin * t
            r = zoom * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
            centre = centre0 + velocity * t + 0.5 * accel * t * t
            m = np.hstack([r, (centre - r @ np.array([size / 2, size / 2]))[:, None]])
            src = corners @ r.T + centre
            if src.min() < 0 or src[:, 0].max() > w - 1 or src[:, 1].max() > h - 1:
                ok = False
                break
            mats.append(m)
        if ok:
            return mats
    return None


def _apply(m: np.ndarray, xs: np.ndarray, ys: np.ndarray):
    return m[0, 0] * xs + m[0, 1] * ys + m[0, 2], m[1, 0] * xs + m[1, 1] * ys + m[1, 2]


def _inverse(m: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(m.astype(np.float64))


def make_sequence(background: np.ndarray, obj: Optional[np.ndarray], rng: np.random.Generator, frames: int,
                  size: int, max_speed: float = 4.0) -> Optional[Clip]:
    """Render a clip with exactly known flow/occlusion; None if the picture is too small for the motion."""
    bg = to_float(background)
    h, w = bg.shape[:2]
    mats = _camera_matrices(rng, frames, size, h, w, max_speed)
    if mats is None:
        return None
    gx, gy = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64))
    clean, alphas, positions = [], [], []
    patch = blob = None
    if obj is not None:
        side = int(rng.integers(size // 4, size // 2 + 1))
        patch = random_crop(obj, rng, side)
        blob = np.zeros((side, side), np.float32)
        cv2.ellipse(blob, (side // 2, side // 2), (side // 2 - 1, int(side * rng.uniform(0.25, 0.49))),
                    rng.uniform(0, 180), 0, 360, 1.0, -1)
        blob = cv2.GaussianBlur(blob, (0, 0), 1.0)
        start = rng.uniform(0, size - side, 2)
        speed = rng.uniform(-2 * max_speed, 2 * max_speed, 2)
        positions = [start + speed * t for t in range(frames)]
    for t in range(frames):
        frame = cv2.warpAffine(bg, mats[t].astype(np.float64), (size, size),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)
        alpha = np.zeros((size, size), np.float32)
        if patch is not None:
            shift = np.float64([[1, 0, positions[t][0]], [0, 1, positions[t][1]]])
            layer = cv2.warpAffine(patch, shift, (size, size), flags=cv2.INTER_LINEAR)
            alpha = cv2.warpAffine(blob, shift, (size, size), flags=cv2.INTER_LINEAR)
            frame = frame * (1 - alpha[..., None]) + layer * alpha[..., None]
        clean.append(frame.astype(np.float32))
        alphas.append(alpha)
    flow = np.zeros((frames, size, size, 2), np.float32)
    mask = np.zeros((frames, size, size), np.float32)
    for t in range(1, frames):
        # background: x_t -> source point -> pixel of frame t-1
        sx, sy = _apply(mats[t], gx, gy)
        px, py = _apply(_inverse(mats[t - 1]), sx, sy)
        fx, fy = px - gx, py - gy
        visible = (px >= 0) & (px <= size - 1) & (py >= 0) & (py <= size - 1)
        covered_before = cv2.remap(alphas[t - 1], px.astype(np.float32), py.astype(np.float32),
                                   cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT) > 0.02
        valid = visible & ~covered_before
        if patch is not None:
            on_object = alphas[t] > 0.98
            edge = (alphas[t] > 0.02) & ~on_object
            d = positions[t - 1] - positions[t]
            ox, oy = gx + d[0], gy + d[1]
            object_visible = (ox >= 0) & (ox <= size - 1) & (oy >= 0) & (oy <= size - 1)
            fx = np.where(on_object, d[0], fx)
            fy = np.where(on_object, d[1], fy)
            valid = np.where(on_object, object_visible, valid & ~edge)
        flow[t] = np.stack([fx, fy], -1)
        mask[t] = valid
    return Clip(np.stack(clean), flow, mask)


def random_sequence(pool: Sequence[np.ndarray], rng: np.random.Generator, frames: int, size: int,
                    object_chance: float = 0.5) -> Clip:
    """A clip from random photographs; retries with other pictures when one is too small for the motion."""
    while True:
        background = pool[int(rng.integers(len(pool)))]
        obj = pool[int(rng.integers(len(pool)))] if rng.random() < object_chance else None
        seq = make_sequence(background, obj, rng, frames, size)
        if seq is not None:
            return seq


def flicker_sequence(clean: np.ndarray, rng: np.random.Generator, max_amplitude: float = 0.12) -> np.ndarray:
    """O^f: the clean clip with a small, smooth, per-frame residual flicker (sometimes none at all)."""
    if rng.random() < 0.1:
        return clean.copy()
    amplitude = rng.uniform(0.01, max_amplitude)
    size = max(clean.shape[1:3])
    scale = rng.uniform(0.3, 1.2) * size
    return np.stack([D.local_flicker(f, rng, amplitude, scale) for f in clean])
