"""The development benchmark: many cases, a dev split to tune on and a held-out split never tuned on.

    from devset import cases, evaluate
    for case in cases(split="dev", kinds=("synthetic", "processed")):
        frames = case.inputs()            # list of float32 RGB [0, 1] frames (read-only arrays)
        outputs = my_method(frames)
        print(case.name, evaluate(case, outputs))

Everything is generated from ../shared/data (clips, photographs) or procedurally, deterministically; nothing
large is committed. Generated data that is slow to make (reference flows, processed frames) is cached under
benchmarks/out/cache, keyed by a hash of what generated it.

Case kinds (`case.kind`) and what `evaluate` measures:
- synthetic: flicker (devset_flicker) on a clean clip; reference = the clean clip (B/W + grain for oldfilm).
  E_warp with the reference's flows, floor = the reference's own E_warp, ratio = E_warp / floor; PSNR against
  the reference. Target: ratio <= 1.15 and PSNR >= 27 dB.
- genuine: a genuine change (light-on, exposure-ramp, cloud, colour-shift) applied to a clean clip makes a new
  reference, W = 3 local flicker on top (one case per split without flicker). Same metrics and target.
- processed: per-frame image algorithm (devset_processing) on a clean clip, or a shared input/processed pair.
  gap closed = (E_processed - E_out) / (E_processed - floor), PSNR against the processed frames.
  Target: gap >= 0.5 and PSNR >= 24 dB.
- clean: no flicker at all; PSNR against the input >= 40 dB.
- film: the real old film, no reference: local flicker ratio (out / in) <= 0.35, Laplacian variance ratio
  (out / in) >= 0.97, tint <= 0.5 levels (the film is exactly B/W).
Flows for E_warp come from the clean clip under the reference: a look (B/W, grain) or a genuine change is
photometric, so the geometry is the clean clip's (flows are also cleaner without grain); the floor is still
the E_warp of the case's own reference.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import os
import sys
import time
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from common import DATA as CLIPS, ROOT, SHARED_DATA, load_folder, load_video  # noqa: E402  (also puts ROOT on sys.path)
from deflicker_engine.analysis.flow import compute_flow, consistency_mask, normalised_gray, warp  # noqa: E402
from deflicker_engine.metrics import PairFlow, ReferenceFlows, psnr  # noqa: E402
from devset_flicker import (BW, CHANGES, Effect, FilmLook, WindowFlicker, flicker_effect)  # noqa: E402
from devset_processing import ALGORITHMS, lab_stats  # noqa: E402
from devset_scenes import GENERATOR_VERSION, Scene, SceneSpec, read_photo  # noqa: E402

IMAGES = SHARED_DATA / "images"
CACHE = HERE / "out" / "cache"
FILM = "old_film_winter_scenes.mp4"
MAX_SIDE = 640
QUICK_FRAMES = 36

SPLITS = ("dev", "heldout")
KINDS = ("synthetic", "genuine", "processed", "clean", "film")
PHOTO_SETS = {"dev": ("bsds500", "coco243"), "heldout": ("kodak24", "mcmaster18", "live1_nonkodak10")}
TARGETS = {
    "synthetic": {"ratio_max": 1.15, "psnr_min": 27.0},
    "genuine": {"ratio_max": 1.15, "psnr_min": 27.0},
    "processed": {"gap_min": 0.5, "psnr_min": 24.0},
    "clean": {"psnr_min": 40.0},
    "film": {"local_flicker_max": 0.35, "laplacian_min": 0.97, "tint_max": 0.5},
}
SYNTHETIC_SETTINGS = ("w1-global", "w1-local", "w3-global", "w3-local", "w10-global", "w10-local",
                      "w30-global", "w30-local", "steps", "drift", "mains", "timelapse", "oldfilm")
LOCAL_FIRST = ("w1-local", "w3-local", "w10-local")


def stable_seed(*parts) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode()) & 0x7FFFFFFF


def _digest(params: Dict) -> str:
    return hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _readonly(frames: List[np.ndarray]) -> List[np.ndarray]:
    for f in frames:
        f.setflags(write=False)
    return frames


def _downscale(frames: List[np.ndarray], max_side: int) -> List[np.ndarray]:
    h, w = frames[0].shape[:2]
    if max(h, w) <= max_side:
        return frames
    s = max_side / max(h, w)
    size = (int(round(w * s)), int(round(h * s)))
    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]


# ----------------------------------------------------------------------------------------- clips


class Clip:
    """A clean clip (or the film): frames made on demand, the last one's frames kept in memory."""

    name: str
    split: str
    fps: float = 24.0

    def params(self) -> Dict:
        raise NotImplementedError

    def key(self) -> str:
        return _digest(self.params())

    def photos(self) -> List[str]:
        return []

    def _make(self) -> List[np.ndarray]:
        raise NotImplementedError

    def frames(self) -> List[np.ndarray]:
        key = self.key()
        if _CLIP_MEMO.get("key") != key:
            _CLIP_MEMO.clear()
            _CLIP_MEMO.update(key=key, frames=_readonly(self._make()))
        return list(_CLIP_MEMO["frames"])


_CLIP_MEMO: Dict = {}


class SharedClip(Clip):
    """A folder of ../shared/data/clips, downscaled to at most MAX_SIDE on the long side (INTER_AREA)."""

    def __init__(self, name: str, folder: str, split: str, limit: Optional[int] = None, fps: float = 24.0):
        self.name, self.folder, self.split, self.limit, self.fps = name, folder, split, limit, fps

    def params(self):
        return {"folder": self.folder, "limit": self.limit, "max_side": MAX_SIDE, "version": 1}

    def photos(self):
        return [f"clips/{self.folder}"]

    def _make(self):
        return _downscale(load_folder(CLIPS / self.folder, self.limit), MAX_SIDE)


class ProceduralClip(Clip):
    def __init__(self, spec: SceneSpec):
        self.spec, self.name, self.split, self.fps = spec, spec.name, spec.split, spec.fps

    def params(self):
        return self.spec.params()

    def photos(self):
        return self.spec.photos()

    def _make(self):
        return Scene(self.spec, IMAGES).frames()


class FilmClip(Clip):
    def __init__(self, name: str, split: str, start: int, stop: int):
        self.name, self.split, self.start, self.stop, self.fps = name, split, start, stop, 12.0

    def params(self):
        return {"film": FILM, "start": self.start, "stop": self.stop}

    def photos(self):
        return [f"clips/{FILM}[{self.start}:{self.stop}]"]  # the two halves are the splits' only shared source

    def _make(self):
        return _downscale(load_video(CLIPS / FILM, self.stop)[self.start:self.stop], MAX_SIDE)


# ----------------------------------------------------------------------------------------- photographs


@lru_cache(maxsize=None)
def photo_pool(split: str) -> Tuple[str, ...]:
    """Photographs of a split's sets (paths relative to IMAGES), in a fixed pseudo-random order."""
    paths = sorted(str(p.relative_to(IMAGES)) for s in PHOTO_SETS[split] for p in (IMAGES / s).rglob("*")
                   if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    order = np.random.default_rng(stable_seed("pool", split)).permutation(len(paths))
    return tuple(paths[i] for i in order)


@lru_cache(maxsize=None)
def photo_size(path: str) -> Tuple[int, int]:
    h, w = read_photo(str(IMAGES / path)).shape[:2]
    return w, h


class _Picker:
    def __init__(self, split: str):
        self.pool, self.used = photo_pool(split), set()

    def take(self, min_width: int = 0, landscape: bool = False) -> str:
        for path in self.pool:
            if path in self.used:
                continue
            w, h = photo_size(path)
            if w >= min_width and (not landscape or w >= 1.2 * h):
                self.used.add(path)
                return path
        raise RuntimeError("ran out of photographs")


# name, width, height, frames, objects, parallax layer, tint of an object entering mid-clip, crossing object,
# camera motion (1 roaming, 0.1 nearly a tripod: then E_warp's pairs with the first frame stay valid all along)
SCENES = {
    "dev": [("d01", 432, 240, 96, 2, False, None, True, 1.0), ("d02", 432, 240, 72, 1, True, None, True, 1.0),
            ("d03", 640, 360, 84, 2, False, None, True, 1.0), ("d04", 432, 240, 110, 1, False, None, True, 0.2),
            ("d05", 640, 360, 100, 2, True, None, True, 1.0), ("d06", 432, 240, 120, 2, False, None, True, 1.0),
            ("d07", 640, 360, 76, 1, True, None, True, 0.6), ("d08", 432, 240, 90, 2, True, None, False, 0.1),
            ("dwb", 432, 240, 120, 2, False, (0.95, 0.22, 0.12), False, 0.1),
            ("dlong", 320, 180, 1200, 2, True, None, True, 1.0)],
    "heldout": [("h01", 432, 240, 90, 2, False, None, True, 1.0), ("h02", 640, 360, 80, 1, True, None, True, 0.6),
                ("h03", 432, 240, 104, 2, True, None, True, 0.2), ("h04", 640, 360, 72, 2, False, None, True, 1.0),
                ("hwb", 432, 240, 120, 2, False, (0.15, 0.4, 0.95), False, 0.1),
                ("h240", 640, 360, 240, 2, True, None, False, 1.0)],
}


@lru_cache(maxsize=None)
def scene_specs(split: str) -> Dict[str, SceneSpec]:
    if not IMAGES.is_dir():
        raise SystemExit(f"photographs not found at {IMAGES}; they live in ../shared/data beside the repository")
    picker = _Picker(split)
    specs = {}
    for name, w, h, frames, objects, layer, entering, crossing, camera in SCENES[split]:
        background = picker.take(min_width=min(600, w), landscape=True)
        objs = tuple(picker.take() for _ in range(objects + crossing))
        specs[name] = SceneSpec(name, split, w, h, frames, stable_seed("scene", name), background, objs,
                                picker.take() if layer else None, entering=entering, crossing=crossing,
                                camera=camera)
    # the colour-transfer reference: the most contrasted and colourful of the next few photographs, so the
    # transfer does not flatten the picture (a flatter picture scores a lower E_warp than its own input)
    candidates = [picker.take() for _ in range(8)]
    specs["_reinhard"] = max(candidates, key=_contrast)  # type: ignore[assignment]
    return specs


def _contrast(path: str) -> float:
    lab = cv2.cvtColor(read_photo(str(IMAGES / path)), cv2.COLOR_RGB2Lab).reshape(-1, 3)
    return float(lab[:, 0].std() + 0.5 * lab[:, 1:].std(0).sum())


def reinhard_photo(split: str) -> str:
    return scene_specs(split)["_reinhard"]  # type: ignore[return-value]


def _clips(split: str, quick: bool) -> Dict[str, Clip]:
    limit = QUICK_FRAMES if quick else None
    out: Dict[str, Clip] = {}
    for name, spec in scene_specs(split).items():
        if name.startswith("_") or (quick and spec.frames > 240):
            continue
        if quick:
            spec = dataclasses.replace(spec, frames=min(spec.frames, QUICK_FRAMES))
        out[name] = ProceduralClip(spec)
    shared = {"dev": [("bmx", "clean_bmx_trees"), ("goat", "colorization_goat/input"), ("sintel", "clean_sintel")],
              "heldout": [("bike", "enhancement_bike_packing/input")]}[split]
    for name, folder in shared:
        out[name] = SharedClip(name, folder, split, limit)
    half = QUICK_FRAMES if quick else 48
    out["film"] = FilmClip("film", split, 0, half) if split == "dev" else FilmClip("film", split, 48, 48 + half)
    return out


# ----------------------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One benchmark case. Frames are float32 RGB [0, 1], read-only: copy before changing them in place."""

    name: str
    split: str
    kind: str                       # synthetic | genuine | processed | clean | film
    setting: str                    # flicker / change / algorithm / clean / film half
    clip: Clip                      # the clean clip under the reference (or the film)
    preset: str = "auto"
    look: Optional[Effect] = None   # B/W or film look: part of the reference
    change: Optional[Effect] = None  # genuine change: part of the reference
    flicker: Optional[Effect] = None  # what the deflickerer must remove
    processing: Optional[str] = None  # algorithm name, or "shared:<folder>" for a shared processed folder
    meta: Dict = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.clip.fps

    @property
    def bw(self) -> bool:
        return self.kind == "film" or self.look is not None

    def describe(self) -> Dict:
        d = {"name": self.name, "split": self.split, "kind": self.kind, "setting": self.setting,
             "preset": self.preset, "fps": self.fps, "clip": self.clip.name, "clip_key": self.clip.key(),
             "photos": self.clip.photos()}
        for part in ("look", "change", "flicker"):
            effect = getattr(self, part)
            if effect is not None:
                d[part] = effect.params
        if self.processing:
            d["processing"] = self.processing
        d.update(self.meta)
        return d

    # -- frames

    def _memo(self, part: str, make):
        if _CASE_MEMO.get("case") is not self:
            _CASE_MEMO.clear()
            _CASE_MEMO["case"] = self
        if part not in _CASE_MEMO:
            _CASE_MEMO[part] = _readonly(make())
        return list(_CASE_MEMO[part])

    def reference(self) -> Optional[List[np.ndarray]]:
        """The truth: clean clip [+ look] [+ genuine change]; for processed pairs their clean input; film: None."""
        if self.kind == "film":
            return None

        def make():
            frames = self.clip.frames()
            for effect in (self.look, self.change):
                if effect is not None:
                    frames = [effect(t, f) for t, f in enumerate(frames)]
            return frames
        return self._memo("reference", make)

    def inputs(self) -> List[np.ndarray]:
        """What the deflickerer gets."""
        if self.kind == "film":
            return self._memo("inputs", self.clip.frames)
        if self.kind == "processed":
            return self._memo("inputs", self._processed)
        if self.flicker is None:
            return self.reference()
        return self._memo("inputs", lambda: [self.flicker(t, f) for t, f in enumerate(self.reference())])

    def psnr_target(self) -> Optional[List[np.ndarray]]:
        """What PSNR compares the output with: the reference, the processed frames (processed), None (film)."""
        if self.kind == "film":
            return None
        if self.kind in ("processed", "clean"):
            return self.inputs()
        return self.reference()

    def _processed(self) -> List[np.ndarray]:
        if self.processing.startswith("shared:"):
            folder = self.processing.split(":", 1)[1]
            return _downscale(load_folder(CLIPS / folder, self.clip.limit), MAX_SIDE)
        # 8-bit, as a per-frame image tool would write it (and as the shared processed pairs are)
        key = _digest({"clip": self.clip.key(), "algorithm": self.processing, "meta": self.meta,
                       "version": GENERATOR_VERSION, "bits": 8})
        path = CACHE / "processed" / f"{self.clip.name}-{self.processing}-{key}.npy"
        stack = None
        if path.exists():
            try:
                stack = np.load(path)
            except (OSError, ValueError):
                stack = None
        if stack is None:
            context = {}
            if self.processing == "reinhard":
                context["reference_stats"] = lab_stats(read_photo(str(IMAGES / self.meta["reference_photo"])))
            algorithm = ALGORITHMS[self.processing]
            stack = np.stack([(np.clip(algorithm(f, context), 0, 1) * 255 + 0.5).astype(np.uint8)
                              for f in self.clip.frames()])
            _atomic_save(path, stack)
        return [f.astype(np.float32) / np.float32(255.0) for f in stack]


_CASE_MEMO: Dict = {}


def _atomic_save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".partial{os.getpid()}")
    with open(tmp, "wb") as fh:
        np.save(fh, array)
    os.replace(tmp, path)


def _round_robin(slots: Sequence[Tuple[str, int]], extra: Dict[str, List[str]]) -> List[Tuple[str, str]]:
    """(clip, setting) pairs: each clip's first setting is local W = 1, 3 or 10 (cycling) unless `extra` names
    a local one for it, then its `extra` settings; the rest cycle through the other settings, never twice on
    one clip."""
    local = iter(LOCAL_FIRST * 100)
    others_list = [s for s in SYNTHETIC_SETTINGS if s not in LOCAL_FIRST]
    others = iter(others_list * 100)
    out = []
    for clip, n in slots:
        given = list(extra.get(clip, []))
        chosen = ([] if any(s in LOCAL_FIRST for s in given) else [next(local)]) + given
        while len(chosen) < n:
            s = next(others)
            if s not in chosen:
                chosen.append(s)
        out += [(clip, s) for s in chosen]
    return out


SYNTHETIC_SLOTS = {
    "dev": [("bmx", 4), ("goat", 4), ("sintel", 1), ("d01", 3), ("d02", 3), ("d03", 3), ("d04", 3), ("d05", 3),
            ("d06", 3), ("d07", 3), ("d08", 3), ("dwb", 3), ("dlong", 2)],
    "heldout": [("bike", 3), ("h01", 3), ("h02", 3), ("h03", 3), ("h04", 3), ("hwb", 2), ("h240", 2)],
}
SYNTHETIC_EXTRA = {"sintel": ["w1-local"],  # 10 frames: one W = 10 window would leave E_warp nothing to see
                   "dlong": ["drift"], "h240": ["drift"]}
# Cases beyond the round robin (which they leave as it was): fast flicker on nearly locked-off cameras, where
# E_warp's pairs with the first frame stay valid and any leftover shows; the round robin gave these clips only
# slow settings, and such clips failed on held-out footage (a blind spot of the dev split until 2026-11-30).
SYNTHETIC_ADDED = {"dev": [("d04", "w1-local"), ("d04", "mains"), ("d08", "mains"), ("d07", "w1-local")],
                   "heldout": []}
GENUINE = {  # (clip, change, flicker on top?)
    "dev": [("d01", "light-on", True), ("d04", "exposure-ramp", True), ("bmx", "cloud", True),
            ("d06", "colour-shift", True), ("d08", "light-on", False)],
    "heldout": [("h01", "light-on", True), ("h02", "exposure-ramp", True), ("h03", "cloud", True),
                ("h04", "colour-shift", True), ("h240", "colour-shift", False)],
}
PROCESSED = {
    "dev": [("dwb", "greyworld"), ("d01", "whitepatch"), ("bmx", "clahe"), ("d02", "histeq"), ("d03", "autolevels"),
            ("d04", "dehaze"), ("d05", "stylize"), ("d06", "detail"), ("d07", "reinhard"),
            ("goat", "shared:colorization_goat/processed")],
    "heldout": [("hwb", "greyworld"), ("h01", "whitepatch"), ("h02", "clahe"), ("h03", "histeq"),
                ("h04", "autolevels"), ("h01", "dehaze"), ("h03", "stylize"), ("h02", "detail"),
                ("bike", "reinhard"), ("bike", "shared:enhancement_bike_packing/processed")],
}
CLEAN = {"dev": [("d05", False), ("bmx", False), ("d02", True)], "heldout": [("h02", False), ("bike", True)]}
QUICK = {  # (kind, clip, setting): at most QUICK_FRAMES frames each
    "dev": [("synthetic", "bmx", "w1-local"), ("synthetic", "d01", "mains"), ("synthetic", "d02", "oldfilm"),
            ("genuine", "d02", "light-on+w3"), ("processed", "d04", "clahe"),
            ("processed", "goat", "shared:colorization_goat/processed"), ("clean", "d01", "clean"),
            ("film", "film", "first-half")],
    "heldout": [("synthetic", "h01", "w10-local"), ("synthetic", "h03", "timelapse"),
                ("processed", "bike", "shared:enhancement_bike_packing/processed")],
}


def _synthetic_case(split: str, clip: Clip, setting: str, prefix: str) -> Case:
    name = f"{prefix}{clip.name}/{setting}"
    seed = stable_seed(name.replace("quick-", ""))
    flicker = flicker_effect(setting, seed, _count(clip), clip.fps)
    look = FilmLook(seed) if setting == "oldfilm" else None
    return Case(name, split, "synthetic", setting, clip, look=look, flicker=flicker)


def _genuine_case(split: str, clip: Clip, change: str, flickered: bool, prefix: str, count: int) -> Case:
    setting = f"{change}+w3" if flickered else change
    name = f"{prefix}{clip.name}/{setting}"
    seed = stable_seed(name.replace("quick-", ""))
    effect = CHANGES[change](seed, count, clip.fps)
    flicker = WindowFlicker(3, True, seed) if flickered else None
    return Case(name, split, "genuine", setting, clip, change=effect, flicker=flicker)


def _processed_case(split: str, clip: Clip, algorithm: str, prefix: str) -> Case:
    setting = algorithm.split(":", 1)[1].split("/")[0] if algorithm.startswith("shared:") else algorithm
    meta = {"reference_photo": reinhard_photo(split)} if algorithm == "reinhard" else {}
    return Case(f"{prefix}{clip.name}/{setting}", split, "processed", setting, clip, preset="processed",
                processing=algorithm, meta=meta)


def _clean_case(split: str, clip: Clip, bw: bool, prefix: str) -> Case:
    setting = "clean-bw" if bw else "clean"
    return Case(f"{prefix}{clip.name}/{setting}", split, "clean", setting, clip, look=BW() if bw else None)


def _count(clip: Clip) -> int:
    if isinstance(clip, ProceduralClip):
        return clip.spec.frames
    if isinstance(clip, SharedClip):
        n = len([p for p in (CLIPS / clip.folder).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")])
        return min(n, clip.limit or n)
    return clip.stop - clip.start


def _split_cases(split: str, quick: bool) -> List[Case]:
    clips = _clips(split, quick)
    out: List[Case] = []
    if quick:
        for kind, clip_name, setting in QUICK[split]:
            clip = clips[clip_name]
            if kind == "synthetic":
                out.append(_synthetic_case(split, clip, setting, "quick-"))
            elif kind == "genuine":
                change, _, w = setting.partition("+")
                out.append(_genuine_case(split, clip, change, bool(w), "quick-", _count(clip)))
            elif kind == "processed":
                out.append(_processed_case(split, clip, setting, "quick-"))
            elif kind == "clean":
                out.append(_clean_case(split, clip, setting == "clean-bw", "quick-"))
            else:
                out.append(Case(f"quick-film/{setting}", split, "film", setting, clip))
        return out
    for clip_name, setting in _round_robin(SYNTHETIC_SLOTS[split], SYNTHETIC_EXTRA) + SYNTHETIC_ADDED[split]:
        out.append(_synthetic_case(split, clips[clip_name], setting, ""))
    for clip_name, change, flickered in GENUINE[split]:
        out.append(_genuine_case(split, clips[clip_name], change, flickered, "", _count(clips[clip_name])))
    for clip_name, algorithm in PROCESSED[split]:
        out.append(_processed_case(split, clips[clip_name], algorithm, ""))
    for clip_name, bw in CLEAN[split]:
        out.append(_clean_case(split, clips[clip_name], bw, ""))
    out.append(Case("film/first-half" if split == "dev" else "film/second-half", split, "film",
                    "first-half" if split == "dev" else "second-half", clips["film"]))
    return out


def cases(split: str = "dev", kinds: Optional[Iterable[str]] = None, quick: bool = False,
          names: Optional[str] = None) -> List[Case]:
    """The benchmark's cases. split: dev, heldout or all; kinds: subset of KINDS; names: comma list of globs.

    Cases come grouped by clip, so a consumer going through them in order reuses each clip's flows."""
    splits = SPLITS if split == "all" else (split,)
    if any(s not in SPLITS for s in splits):
        raise ValueError(f"unknown split {split!r}; use dev, heldout or all")
    kinds = tuple(kinds) if kinds else KINDS
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown kind(s) {unknown}; known: {', '.join(KINDS)}")
    patterns = [p for p in (names or "").split(",") if p]
    out = []
    for s in splits:
        found = [c for c in _split_cases(s, quick) if c.kind in kinds
                 and (not patterns or any(fnmatch.fnmatchcase(c.name, p) for p in patterns))]
        order = {name: i for i, name in enumerate(dict.fromkeys(c.clip.name for c in found))}
        out += sorted(found, key=lambda c: order[c.clip.name])
    return out


# ----------------------------------------------------------------------------------------- flows (cached)


_FLOWS: Dict = {}


@lru_cache(maxsize=None)
def _layout_ok() -> bool:
    """The cache rebuilds ReferenceFlows from its parts: only while its layout is the one this code knows."""
    tiny = [np.zeros((16, 16, 3), np.float32), np.zeros((16, 16, 3), np.float32)]
    return set(vars(ReferenceFlows(tiny))) == {"previous", "first", "shape"}


def _save_flows(path: Path, flows: ReferenceFlows) -> None:
    prev = np.stack([p.flow for p in flows.previous])
    prev_mask = np.packbits(np.stack([p.mask for p in flows.previous]), axis=-1)
    first = np.stack([p.flow for p in flows.first[1:]]) if len(flows.first) > 1 else np.zeros((0,) + prev.shape[1:], np.float16)
    first_mask = np.packbits(np.stack([p.mask for p in flows.first[1:]]), axis=-1) if len(flows.first) > 1 \
        else np.zeros((0,) + prev_mask.shape[1:], np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".partial{os.getpid()}")
    with open(tmp, "wb") as fh:
        np.savez(fh, prev=prev, prev_mask=prev_mask, first=first, first_mask=first_mask, shape=np.array(flows.shape))
    os.replace(tmp, path)


def _load_flows(path: Path) -> Optional[ReferenceFlows]:
    try:
        with np.load(path) as z:
            shape = tuple(int(v) for v in z["shape"])
            w = shape[1]
            prev = [PairFlow(f, np.unpackbits(m, axis=-1, count=w).astype(bool))
                    for f, m in zip(z["prev"], z["prev_mask"])]
            first = [prev[0]] + [PairFlow(f, np.unpackbits(m, axis=-1, count=w).astype(bool))
                                 for f, m in zip(z["first"], z["first_mask"])]
    except (OSError, KeyError, ValueError):
        return None
    flows = ReferenceFlows.__new__(ReferenceFlows)
    flows.previous, flows.first, flows.shape = prev, first, shape
    return flows


def reference_flows(clip: Clip, log=None) -> ReferenceFlows:
    """ReferenceFlows of a clean clip, from benchmarks/out/cache/flows when there (computed and saved if not)."""
    key = clip.key()
    if _FLOWS.get("key") == key:
        return _FLOWS["flows"]
    _FLOWS.clear()
    path = CACHE / "flows" / f"{clip.name}-{key}.npz"
    flows = _load_flows(path) if path.exists() and _layout_ok() else None
    if flows is None:
        started = time.perf_counter()
        frames = clip.frames()
        flows = ReferenceFlows(frames)
        if log:
            log(f"  flows for {clip.name}: {len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]} "
                f"in {time.perf_counter() - started:.1f}s")
        if _layout_ok():
            _save_flows(path, flows)
    _FLOWS.update(key=key, flows=flows)
    return flows


# ----------------------------------------------------------------------------------------- metrics


LUMA = np.float32([0.2126, 0.7152, 0.0722])


def luma(frame: np.ndarray) -> np.ndarray:
    return np.clip(frame, 0, 1) @ LUMA


def laplacian_var(frames: Sequence[np.ndarray]) -> float:
    return float(np.mean([cv2.Laplacian(luma(f).astype(np.float32), cv2.CV_32F).var() for f in frames]))


def tint(frames: Sequence[np.ndarray]) -> float:
    """Max over frames of the mean over pixels of max(|R-G|, |G-B|, |R-B|), in 8-bit levels."""
    worst = 0.0
    for f in frames:
        f = np.clip(f, 0, 1)
        d = np.maximum(np.maximum(np.abs(f[..., 0] - f[..., 1]), np.abs(f[..., 1] - f[..., 2])),
                       np.abs(f[..., 0] - f[..., 2]))
        worst = max(worst, float(d.mean()) * 255.0)
    return worst


def _input_flows(case: Case):
    """Flow t -> t-1 between consecutive INPUT frames and its reliability mask (for local flicker)."""
    def make():
        frames = case.inputs()
        out, prev = [], normalised_gray(frames[0])
        for f in frames[1:]:
            g = normalised_gray(f)
            fwd, bwd = compute_flow(g, prev), compute_flow(prev, g)
            out.append((fwd.astype(np.float16), consistency_mask(fwd, bwd) > 0.5))
            prev = g
        return out
    if _CASE_MEMO.get("case") is not case:
        case.inputs()  # resets the memo to this case
    if "input_flows" not in _CASE_MEMO:
        _CASE_MEMO["input_flows"] = make()
    return _CASE_MEMO["input_flows"]


def local_flicker(case: Case, frames: Sequence[np.ndarray], grid: int = 8) -> float:
    """Motion-compensated low-frequency frame-to-frame change: per cell of a grid x grid layout, the mean over
    reliable pixels of luma_t - warp(luma_{t-1}); mean |.| over cells and frames. Flow from the input frames."""
    flows = _input_flows(case)
    h, w = frames[0].shape[:2]
    ys = np.linspace(0, h, grid + 1).astype(int)[:-1]
    xs = np.linspace(0, w, grid + 1).astype(int)[:-1]
    cell_area = (h / grid) * (w / grid)
    values = []
    prev = luma(frames[0]).astype(np.float32)
    for t, (flow, mask) in enumerate(flows, start=1):
        cur = luma(frames[t]).astype(np.float32)
        d = (cur - warp(prev, flow.astype(np.float32))) * mask
        sums = np.add.reduceat(np.add.reduceat(d, ys, 0), xs, 1)
        counts = np.add.reduceat(np.add.reduceat(mask.astype(np.float32), ys, 0), xs, 1)
        ok = counts >= 0.2 * cell_area
        if ok.any():
            values.append(float(np.mean(np.abs(sums[ok] / counts[ok]))))
        prev = cur
    return float(np.mean(values)) if values else 0.0


def contrast_scale(frames: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> float:
    """Mean luma gradient of `frames` over the reference's: how much a processing steepened the picture. E_warp
    is an absolute error, so even a perfectly steady clip with the processing's contrast scores about
    floor x this: the part of a processed pair's gap that no deflicker can close without undoing the
    processing itself."""
    def gradient(f: np.ndarray) -> float:
        y = luma(f)
        return float(np.abs(np.diff(y, axis=0)).mean() + np.abs(np.diff(y, axis=1)).mean())
    return float(np.mean([gradient(f) / max(gradient(r), 1e-9) for f, r in zip(frames, reference)]))


def appearance_bias(outputs: Sequence[np.ndarray], target: Sequence[np.ndarray]) -> Dict[str, List]:
    """Per frame: mean of output - target per channel, and mean |low-pass(output - target)| (Gaussian sigma =
    1/16 of the short side, computed at a quarter of the size)."""
    means, lows = [], []
    for o, r in zip(outputs, target):
        d = np.clip(o, 0, 1) - np.clip(r, 0, 1)
        means.append([round(float(v), 5) for v in d.reshape(-1, 3).mean(0)])
        h, w = d.shape[:2]
        small = cv2.resize(d, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
        low = cv2.GaussianBlur(small, (0, 0), max(min(h, w) / 16 / 4, 0.5))
        lows.append(round(float(np.abs(low).mean()), 5))
    return {"bias_rgb": means, "bias_lowpass": lows}


def _case_stats(case: Case, flows: ReferenceFlows) -> Dict:
    """Per-case figures that do not depend on the method: floor, the input's E_warp, the input's film stats."""
    if _CASE_MEMO.get("case") is not case:
        case.inputs()
    if "stats" not in _CASE_MEMO:
        stats = {}
        if flows is not None:
            stats["floor"] = flows.warp_error(case.reference())["e_warp"]
            stats["e_input"] = flows.warp_error(case.inputs())["e_warp"]
        if case.kind == "processed":
            stats["contrast"] = contrast_scale(case.inputs(), case.reference())
            stats["laplacian_in"] = laplacian_var(case.inputs())
        if case.bw:
            inputs = case.inputs()
            stats["local_flicker_in"] = local_flicker(case, inputs)
            stats["laplacian_in"] = laplacian_var(inputs)
            stats["tint_in"] = tint(inputs)
        _CASE_MEMO["stats"] = stats
    return _CASE_MEMO["stats"]


def evaluate(case: Case, outputs: Sequence[np.ndarray], seconds: Optional[float] = None, log=None) -> Dict:
    """All figures of one output of one case; `target_met` says whether it meets the kind's target."""
    started = time.perf_counter()
    outputs = [np.asarray(o, dtype=np.float32)[..., :3] for o in outputs]
    inputs = case.inputs()
    if len(outputs) != len(inputs) or outputs[0].shape != inputs[0].shape:
        raise ValueError(f"{case.name}: output has {len(outputs)} frames of {outputs[0].shape}, "
                         f"input {len(inputs)} of {inputs[0].shape}")
    h, w = inputs[0].shape[:2]
    result: Dict = {"case": case.name, "split": case.split, "kind": case.kind, "setting": case.setting,
                    "preset": case.preset, "clip": case.clip.name, "frames": len(inputs), "width": w, "height": h,
                    "fps": case.fps}
    flows = reference_flows(case.clip, log) if case.kind != "film" else None
    stats = _case_stats(case, flows)
    result.update(stats)
    target = TARGETS[case.kind]
    if flows is not None:
        e = flows.warp_error(outputs)["e_warp"]
        p = psnr(outputs, case.psnr_target())
        floor = stats["floor"]
        result.update(e_warp=e, psnr=p, ratio=e / floor)
        if case.kind in ("synthetic", "genuine"):
            result["target_met"] = bool(e / floor <= target["ratio_max"] and p >= target["psnr_min"])
        elif case.kind == "processed":
            gap = stats["e_input"] - floor
            result["gap_closed"] = (stats["e_input"] - e) / gap if abs(gap) > 1e-9 else 0.0
            # E_warp rewards blur: how much of the processed frames' detail the output keeps sits beside it
            result["detail_kept"] = laplacian_var(outputs) / max(stats["laplacian_in"], 1e-12)
            result["target_met"] = bool(result["gap_closed"] >= target["gap_min"] and p >= target["psnr_min"])
        else:
            result["target_met"] = bool(p >= target["psnr_min"])
        result.update(appearance_bias(outputs, case.psnr_target()))
    if case.bw:
        lf = local_flicker(case, outputs)
        lap = laplacian_var(outputs)
        result.update(local_flicker=lf, local_flicker_ratio=lf / max(stats["local_flicker_in"], 1e-9),
                      laplacian_ratio=lap / max(stats["laplacian_in"], 1e-12), tint=tint(outputs))
        if case.kind == "film":
            result["target_met"] = bool(result["local_flicker_ratio"] <= target["local_flicker_max"]
                                        and result["laplacian_ratio"] >= target["laplacian_min"]
                                        and result["tint"] <= target["tint_max"])
            result["luma_in"] = [round(float(luma(f).mean()), 5) for f in inputs]
            result["luma_out"] = [round(float(luma(f).mean()), 5) for f in outputs]
    if seconds is not None:
        result["seconds"] = seconds
    result["eval_seconds"] = time.perf_counter() - started
    return result
