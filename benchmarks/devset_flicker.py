"""Appearance changes for the development benchmark: flicker to remove, looks, and genuine changes to keep.

Every effect is a deterministic per-frame function `effect(t, frame) -> frame` on float32 RGB in [0, 1], with
its drawn parameters in `effect.params` (JSON-able: they go into the case's metadata and the results). Call
an effect on frames in order t = 0, 1, 2, ... (processes with memory, such as `drift`, extend themselves as
they go; any order works, in-order is merely cheapest).

Flicker (the benchmark's input = flicker(reference)):
- `window`:    paper eq. 6 via deflicker_engine.synthetic.flicker_field, one draw per window of W frames,
               identical to synthetic.add_flicker with the same seed;
- `steps`:     the same appearance model, piecewise constant over random segments of 8-60 frames;
- `drift`:     the same appearance model driven by slow random processes (time scale 1-3 s);
- `mains`:     periodic brightness beat of 1-6 Hz (mains light aliased against the shutter), an optional
               second harmonic, optional slowly rolling horizontal bands;
- `timelapse`: strong per-frame global exposure jumps and colour-temperature jitter;
- `oldfilm`:   per-frame global+local luminance flicker with no colour (B/W stays exactly B/W).
Looks (part of the reference): `bw` (R = G = B = luma) and `film` (bw + grain + dust specks + scratches).
Genuine changes (part of the reference): `light-on`, `exposure-ramp`, `cloud`, `colour-shift`.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from deflicker_engine.synthetic import (COLOUR_SIGMA, GAIN_SIGMA, LOCAL_SIGMA, OFFSET_SIGMA, FlickerField,
                                        flicker_field, smooth_field)

LUMA = np.float32([0.2126, 0.7152, 0.0722])


def _smoothstep(u: float) -> float:
    u = min(max(u, 0.0), 1.0)
    return u * u * (3.0 - 2.0 * u)


class Effect:
    name = "effect"

    def __init__(self, **params):
        self.params: Dict = {"effect": self.name, **params}

    def __call__(self, t: int, frame: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def apply(self, frames: List[np.ndarray]) -> List[np.ndarray]:
        return [self(t, f) for t, f in enumerate(frames)]


# ----------------------------------------------------------------------------------------- flicker


class WindowFlicker(Effect):
    """Paper eq. 6: one FlickerField per window of W frames, drawn from (seed, window index)."""

    name = "window"

    def __init__(self, window: int, local: bool, seed: int, colour: bool = True, strength: float = 1.0):
        super().__init__(window=window, local=local, colour=colour, seed=seed, strength=strength)
        self._key, self._field = None, None

    def __call__(self, t, frame):
        p = self.params
        key = t // p["window"]
        if key != self._key:
            self._key = key
            self._field = flicker_field(frame.shape[:2], np.random.default_rng([int(p["seed"]), key]),
                                        local=p["local"], colour=p["colour"], strength=p["strength"])
        return self._field.apply(frame)


class Steps(Effect):
    """Piecewise constant appearance (global + local gain, colour) over random segments of 8-60 frames."""

    name = "steps"

    def __init__(self, seed: int, count: int):
        rng = np.random.default_rng([seed, 31])
        bounds = [0]
        while bounds[-1] < count:
            bounds.append(bounds[-1] + int(rng.integers(8, 61)))
        super().__init__(seed=seed, segments=bounds[1:-1])
        self._bounds = bounds
        self._key, self._field = None, None

    def __call__(self, t, frame):
        key = int(np.searchsorted(self._bounds, t, side="right")) - 1
        if key != self._key:
            self._key = key
            self._field = flicker_field(frame.shape[:2], np.random.default_rng([self.params["seed"], 32, key]))
        return self._field.apply(frame)


class _SlowProcess:
    """Unit-variance stationary random process, time constant tau frames: AR(1) through a one-pole low-pass.

    Deterministic from (seed, t) and causal, so a shorter clip sees a prefix of the same values.
    """

    def __init__(self, seed: int, channels: int, tau: float):
        self.seed, self.channels = seed, channels
        self.rho = math.exp(-1.0 / tau)                # AR(1) of time constant tau
        self.a = math.exp(-1.0 / max(tau / 3.0, 1.0))  # low-pass taking the corners off
        r, a = self.rho, self.a
        var_y = (1 - a) ** 2 * (1 + a * r) / ((1 - a * a) * (1 - a * r))
        self.norm = 1.0 / math.sqrt(var_y)
        x0 = np.random.default_rng([seed, 0]).standard_normal(channels)
        self.x, self.y = [x0], [x0 * math.sqrt(var_y)]

    def at(self, t: int) -> np.ndarray:
        while len(self.y) <= t:
            n = len(self.y)
            e = np.random.default_rng([self.seed, n]).standard_normal(self.channels)
            x = self.rho * self.x[-1] + math.sqrt(1 - self.rho ** 2) * e
            self.x.append(x)
            self.y.append(self.a * self.y[-1] + (1 - self.a) * x)
        return self.y[t] * self.norm


class Drift(Effect):
    """Slowly wandering appearance (global gain, offset, colour and a local field), time scale 1-3 s."""

    name = "drift"
    FIELDS = 3

    def __init__(self, seed: int, fps: float, strength: float = 1.2):
        rng = np.random.default_rng([seed, 41])
        seconds = float(rng.uniform(1.0, 3.0))
        super().__init__(seed=seed, time_scale_s=seconds, strength=strength)
        self._process = _SlowProcess(seed * 1000 + 42, 2 + 3 + self.FIELDS, seconds * fps)
        self._fields: Optional[List[np.ndarray]] = None

    def __call__(self, t, frame):
        s = self.params["strength"]
        if self._fields is None:
            self._fields = [smooth_field(frame.shape[:2], np.random.default_rng([self.params["seed"], 43, k]))
                            for k in range(self.FIELDS)]
        v = self._process.at(t)
        colour = v[2:5] - v[2:5].mean()
        local = sum(w * f for w, f in zip(v[5:], self._fields)) / math.sqrt(self.FIELDS)
        field = FlickerField(float(np.exp(s * GAIN_SIGMA * v[0])), float(s * OFFSET_SIGMA * v[1]),
                             np.exp(s * COLOUR_SIGMA * colour).astype(np.float32),
                             np.exp(s * LOCAL_SIGMA * local).astype(np.float32))
        return field.apply(frame)


class Mains(Effect):
    """Brightness beat of mains light against the shutter: 1 + a sin(2 pi f t + phi) [+ harmonic] [x bands]."""

    name = "mains"

    def __init__(self, seed: int, fps: float):
        rng = np.random.default_rng([seed, 51])
        harmonic = bool(rng.random() < 0.5)
        bands = bool(rng.random() < 0.6)
        amp = float(rng.uniform(0.05, 0.10))
        super().__init__(seed=seed, fps=fps, freq_hz=float(rng.uniform(1.0, 6.0)), amplitude=amp,
                         phase=float(rng.uniform(0, 2 * math.pi)),
                         harmonic=float(rng.uniform(0.2, 0.5) * amp) if harmonic else 0.0,
                         harmonic_phase=float(rng.uniform(0, 2 * math.pi)),
                         bands=float(rng.uniform(0.02, 0.05)) if bands else 0.0,
                         band_count=float(rng.uniform(1.0, 3.0)), band_speed=float(rng.uniform(0.1, 0.5)),
                         band_phase=float(rng.uniform(0, 2 * math.pi)))

    def __call__(self, t, frame):
        p = self.params
        s = t / p["fps"]
        w = 2 * math.pi * p["freq_hz"] * s
        gain = 1 + p["amplitude"] * math.sin(w + p["phase"]) + p["harmonic"] * math.sin(2 * w + p["harmonic_phase"])
        out = frame * np.float32(gain)
        if p["bands"]:
            y = np.arange(frame.shape[0], dtype=np.float32) / frame.shape[0]
            rows = 1 + p["bands"] * np.sin(2 * math.pi * (p["band_count"] * y - p["band_speed"] * s) + p["band_phase"])
            out = out * rows.astype(np.float32)[:, None, None]
        return np.clip(out, 0, 1).astype(np.float32)


class Timelapse(Effect):
    """Per-frame global exposure jumps (log sigma 0.16) and colour-temperature / tint jitter."""

    name = "timelapse"

    def __init__(self, seed: int, exposure: float = 0.16, temperature: float = 0.05, tint: float = 0.015):
        super().__init__(seed=seed, exposure_sigma=exposure, temperature_sigma=temperature, tint_sigma=tint)

    def __call__(self, t, frame):
        p = self.params
        rng = np.random.default_rng([p["seed"], 61, t])
        g, o, temp, tint = rng.standard_normal(4)
        log_colour = temp * p["temperature_sigma"] * np.array([1.0, 0.0, -1.0]) + \
            tint * p["tint_sigma"] * np.array([-0.5, 1.0, -0.5])
        field = FlickerField(float(np.exp(p["exposure_sigma"] * g)), float(0.01 * o),
                             np.exp(log_colour).astype(np.float32))
        return field.apply(frame)


def oldfilm_flicker(seed: int) -> WindowFlicker:
    """W = 1 global + local luminance flicker, no colour component: applied to B/W frames it keeps R = G = B."""
    effect = WindowFlicker(1, True, seed, colour=False, strength=0.5)
    effect.params["effect"] = "oldfilm"
    return effect


FLICKER_KINDS = ("steps", "drift", "mains", "timelapse", "oldfilm")


def flicker_effect(setting: str, seed: int, count: int, fps: float) -> Effect:
    """The flicker of a setting name: w<W>-local|global, steps, drift, mains, timelapse, oldfilm."""
    if setting.startswith("w") and "-" in setting:
        window, scope = setting[1:].split("-")
        return WindowFlicker(int(window), scope == "local", seed)
    return {"steps": lambda: Steps(seed, count), "drift": lambda: Drift(seed, fps), "mains": lambda: Mains(seed, fps),
            "timelapse": lambda: Timelapse(seed), "oldfilm": lambda: oldfilm_flicker(seed)}[setting]()


# ----------------------------------------------------------------------------------------- looks


def to_bw(frame: np.ndarray) -> np.ndarray:
    """Luma in all three channels: R = G = B exactly."""
    y = np.clip(frame @ LUMA, 0, 1).astype(np.float32)
    return np.repeat(y[..., None], 3, axis=2)


class BW(Effect):
    name = "bw"

    def __call__(self, t, frame):
        return to_bw(frame)


class FilmLook(Effect):
    """B/W, film grain (signal-dependent, slightly clumped), dust specks and the odd vertical scratch."""

    name = "film"

    def __init__(self, seed: int, grain: float = 0.045):
        super().__init__(seed=seed, grain=grain)

    def __call__(self, t, frame):
        p = self.params
        rng = np.random.default_rng([p["seed"], 71, t])
        y = np.clip(frame @ LUMA, 0, 1).astype(np.float32)
        h, w = y.shape
        noise = cv2.GaussianBlur(rng.standard_normal((h, w), dtype=np.float32), (0, 0), 0.7) * np.float32(1.6)
        y = y + np.float32(p["grain"]) * np.sqrt(y * (1 - y) + 0.01) * noise
        for _ in range(int(rng.integers(0, 4))):       # dust specks: small dark or bright blobs
            cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
            r = int(rng.integers(1, 4))
            value = float(rng.choice([0.05, 0.95]))
            mask = np.zeros((h, w), np.float32)
            cv2.circle(mask, (cx, cy), r, 1.0, -1, cv2.LINE_AA)
            y = y * (1 - mask) + value * mask
        if rng.random() < 0.3:                         # a thin vertical scratch
            x = int(rng.integers(0, w))
            y[:, x] = np.clip(y[:, x] + 0.25, 0, 1)
        return np.repeat(np.clip(y, 0, 1)[..., None], 3, axis=2).astype(np.float32)


# ----------------------------------------------------------------------------------------- genuine changes


class _Timed(Effect):
    """Timing helper: a change starting at frame `start`, lasting `duration` frames (both clamped to the clip)."""

    @staticmethod
    def timing(rng, count: int, fps: float, start_range: Tuple[float, float], seconds: Tuple[float, float]):
        start = int(round(rng.uniform(*start_range) * count))
        duration = min(rng.uniform(*seconds) * fps, 0.45 * count)
        return start, float(duration)


class LightOn(_Timed):
    """A persistent brightness step (gain 1.3-1.6) at a random frame, global or in a soft region."""

    name = "light-on"

    def __init__(self, seed: int, count: int, fps: float):
        rng = np.random.default_rng([seed, 81])
        start = int(round(rng.uniform(0.3, 0.6) * count))
        region = bool(rng.random() < 0.5)
        super().__init__(seed=seed, start=start, gain=float(rng.uniform(1.3, 1.6)), region=region,
                         centre=[float(rng.uniform(0.25, 0.75)), float(rng.uniform(0.3, 0.7))],
                         radius=float(rng.uniform(0.25, 0.4)))
        self._map = None

    def __call__(self, t, frame):
        p = self.params
        if t < p["start"]:
            return frame
        if self._map is None:
            h, w = frame.shape[:2]
            if p["region"]:
                yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
                d2 = ((xx - p["centre"][0] * w) ** 2 + (yy - p["centre"][1] * h) ** 2) / (p["radius"] * min(h, w)) ** 2
                self._map = (1 + (p["gain"] - 1) * np.exp(-0.5 * d2)).astype(np.float32)[..., None]
            else:
                self._map = np.float32(p["gain"])
        return np.clip(frame * self._map, 0, 1).astype(np.float32)


class ExposureRamp(_Timed):
    """Global gain ramping (smoothstep, geometric) by 1.5-2x up or down over 1.5-2.5 s."""

    name = "exposure-ramp"

    def __init__(self, seed: int, count: int, fps: float):
        rng = np.random.default_rng([seed, 82])
        start, duration = self.timing(rng, count, fps, (0.2, 0.45), (1.5, 2.5))
        factor = float(rng.uniform(1.5, 2.0))
        super().__init__(seed=seed, start=start, frames=duration, factor=factor if rng.random() < 0.5 else 1 / factor)

    def __call__(self, t, frame):
        p = self.params
        u = _smoothstep((t - p["start"]) / p["frames"])
        return np.clip(frame * np.float32(p["factor"] ** u), 0, 1).astype(np.float32)


class Cloud(_Timed):
    """A soft dark blob (gain ~0.6 at its centre) drifting across the frame over 2-3 s."""

    name = "cloud"

    def __init__(self, seed: int, count: int, fps: float):
        rng = np.random.default_rng([seed, 83])
        start, duration = self.timing(rng, count, fps, (0.15, 0.4), (2.0, 3.0))
        super().__init__(seed=seed, start=start, frames=duration, gain=float(rng.uniform(0.55, 0.65)),
                         y=float(rng.uniform(0.3, 0.7)), sigma=float(rng.uniform(0.18, 0.28)),
                         leftwards=bool(rng.random() < 0.5))

    def __call__(self, t, frame):
        p = self.params
        u = (t - p["start"]) / p["frames"]
        if u <= 0 or u >= 1:
            return frame
        h, w = frame.shape[:2]
        sx, sy = p["sigma"] * w, p["sigma"] * w * 0.7
        x0, x1 = -2.5 * sx, w + 2.5 * sx
        if p["leftwards"]:
            x0, x1 = x1, x0
        cx, cy = x0 + (x1 - x0) * u, p["y"] * h
        xx = (np.arange(w, dtype=np.float32) - cx) / sx
        yy = (np.arange(h, dtype=np.float32) - cy) / sy
        blob = np.exp(-0.5 * yy[:, None] ** 2) * np.exp(-0.5 * xx[None, :] ** 2)
        gain = (1 - (1 - p["gain"]) * blob).astype(np.float32)
        return np.clip(frame * gain[..., None], 0, 1).astype(np.float32)


class ColourShift(_Timed):
    """White balance of the scene light ramping from warm to cool over 2 s."""

    name = "colour-shift"

    def __init__(self, seed: int, count: int, fps: float):
        rng = np.random.default_rng([seed, 84])
        start, duration = self.timing(rng, count, fps, (0.25, 0.5), (2.0, 2.0))
        super().__init__(seed=seed, start=start, frames=duration, strength=float(rng.uniform(0.06, 0.10)))

    def __call__(self, t, frame):
        p = self.params
        u = _smoothstep((t - p["start"]) / p["frames"])
        k = p["strength"] * (1 - 2 * u)  # +strength (warm) -> -strength (cool)
        gains = np.exp(k * np.array([1.0, 0.0, -1.0])).astype(np.float32)
        return np.clip(frame * gains, 0, 1).astype(np.float32)


CHANGES = {"light-on": LightOn, "exposure-ramp": ExposureRamp, "cloud": Cloud, "colour-shift": ColourShift}
