"""Whole-shot appearance: which part of each frame's look is flicker, which part is the scene's own change.

The atlas is one consistent picture per window. Frame against atlas frame, cell by cell on a coarse grid,
leaves flicker plus genuine change (exposure, a light switched on, a cloud) plus the atlas's own error. The
atlas's flaws (an object crossing that it could not hold, parallax) are sharp where flicker is smooth, so
pixels departing from the frame's coarse gain field get no say, and a cell such a flaw covers takes its gain
from its neighbours (`measure`). These
per-frame cell gains are tiny (a few kilobytes a frame), so the whole shot's series is kept however long
the shot is, and the decision of what is flicker is taken on all of it at once:

  hold      one appearance for the whole shot: every change of look is an artefact (processed video);
  follow    changes slower than a fixed time scale are kept (the Gaussian of earlier versions);
  adaptive  the time scale is chosen from the clip itself: how long its flicker holds (`hold_time`); the
            frame-wide part and what is left cell by cell are smoothed separately (see `adaptive_trend`).

Neighbouring atlas windows are brought to one appearance through their overlap (`window_offset`), so
the series of a long shot is measured against a single reference.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import cv2
import numpy as np

GRID_CELLS = 12     # cells across the long side: flicker fields and lighting are smooth at this scale
EPS = 0.02          # keeps log ratios of near-black pixels tame
LIMIT = 1.0         # log gains beyond +-1 are failures of the atlas, not appearance
FLAW_TOLERANCE = 0.15   # log-ratio departure from the coarse gain field beyond which a pixel is an atlas flaw
FLAW_BLUR = 2.0         # pixels: a flaw is a region
MIN_TRUSTED = 0.3       # share of a cell's pixels that must be free of flaws for its own gain to count
FILL_SPREAD = 1.5       # cells: how far a flawed cell looks for neighbours' gains
RISE_FLOOR = 0.05       # a variogram rising less than this share from lag 1 to 2 is flat: nothing holds
SMOOTH_CURVATURE = 0.1  # ... one rising faster than linearly by this share is a smooth wander (`hold_time`)


def grid_shape(height: int, width: int, cells: int = GRID_CELLS) -> Tuple[int, int]:
    """(rows, cols) of the cell grid for a frame of that size, cells roughly square."""
    long_side = max(height, width)
    return max(2, round(cells * height / long_side)), max(2, round(cells * width / long_side))


def log_ratio(frame: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return (np.log(np.clip(frame.astype(np.float32, copy=False), 0, None) + EPS)
            - np.log(np.clip(reference.astype(np.float32, copy=False), 0, None) + EPS))


def _cells(values: np.ndarray, grid: Tuple[int, int]) -> np.ndarray:
    """[rows, cols, C, n]: the pixels of each cell of an H x W x C array (whole cells only, centred)."""
    gh, gw = grid
    h, w = values.shape[:2]
    ch, cw = max(1, h // gh), max(1, w // gw)
    y0, x0 = (h - ch * gh) // 2, (w - cw * gw) // 2
    blocks = values[y0:y0 + ch * gh, x0:x0 + cw * gw].reshape(gh, ch, gw, cw, -1)
    return blocks.transpose(0, 2, 4, 1, 3).reshape(gh, gw, -1, ch * cw)


def cell_medians(values: np.ndarray, grid: Tuple[int, int]) -> np.ndarray:
    """Median of each cell of an H x W x C array (rows and columns beyond a whole cell are left out)."""
    return np.median(_cells(values, grid), axis=-1).astype(np.float32)


def _fill_from_neighbours(cells: np.ndarray, trusted: np.ndarray, spread: float = FILL_SPREAD) -> np.ndarray:
    """Cells not `trusted` take a Gaussian-weighted mean of the trusted ones around them."""
    if trusted.all() or not trusted.any():
        return cells
    weight = trusted.astype(np.float32)
    num = cv2.GaussianBlur(cells * weight[..., None], (0, 0), spread, borderType=cv2.BORDER_REFLECT)
    den = cv2.GaussianBlur(weight, (0, 0), spread, borderType=cv2.BORDER_REFLECT)[..., None]
    fallback = np.median(cells[trusted], axis=0)
    filled = np.where(den > 1e-3, num / np.maximum(den, 1e-6), fallback)
    return np.where(trusted[..., None], cells, filled).astype(np.float32)


def _masked_median(values: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """[rows, cols, C] median of each cell's pixels where `inside` ([rows, cols, n]); inf where none are."""
    count = inside.sum(axis=-1)
    ordered = np.sort(np.where(inside[:, :, None, :], values, np.inf), axis=-1)   # the left-out sort last

    def at(k: np.ndarray) -> np.ndarray:
        index = np.broadcast_to(k[:, :, None, None], (*k.shape, values.shape[2], 1))
        return np.take_along_axis(ordered, index, axis=-1)[..., 0]

    return 0.5 * (at(np.maximum(count - 1, 0) // 2) + at(count // 2))


def measure(frame: np.ndarray, atlas_frame: np.ndarray, grid: Tuple[int, int]) -> np.ndarray:
    """[rows, cols, 3] robust log gain of a frame against its atlas frame.

    First the cells' medians (a coarse gain field); pixels whose log ratio departs from that field by more
    than FLAW_TOLERANCE (blurred a little, so a flaw is a region, not single noisy pixels) are the atlas's
    flaws and are left out of the cells' medians; a cell with under MIN_TRUSTED of its pixels left takes its
    neighbours' gain instead of the flaw's."""
    ratio = log_ratio(frame, atlas_frame)
    values = _cells(ratio, grid)                                        # [rows, cols, 3, n]
    coarse = np.clip(np.median(values, axis=-1), -LIMIT, LIMIT).astype(np.float32)
    h, w = ratio.shape[:2]
    field = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
    departure = cv2.GaussianBlur(np.abs(ratio - field).max(axis=-1), (0, 0), FLAW_BLUR)
    inside = _cells(departure, grid)[:, :, 0] < FLAW_TOLERANCE          # [rows, cols, n]
    cells = np.where((inside.sum(axis=-1) >= 8)[..., None], _masked_median(values, inside), coarse)
    trusted = inside.mean(axis=-1) >= MIN_TRUSTED
    return np.clip(_fill_from_neighbours(cells.astype(np.float32), trusted), -LIMIT, LIMIT)


def window_offset(previous: np.ndarray, current: np.ndarray, grid: Tuple[int, int]) -> np.ndarray:
    """[rows, cols, 3] log gain taking the current window's atlas frames to the previous window's look,
    from the frames both render (the overlap)."""
    if len(previous) == 0:
        return np.zeros((*grid, 3), np.float32)
    per_frame = np.stack([measure(p, c, grid) for p, c in zip(previous, current)])
    return np.median(per_frame, axis=0).astype(np.float32)


def gain_field(cells: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    """A smooth H x W x 3 field of multiplicative gains from [rows, cols, 3] log gains."""
    h, w = shape
    return np.exp(cv2.resize(cells.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC))


# ----------------------------------------------------------------------------------------- estimators

def temporal_gaussian(values: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Gaussian smoothing along axis 0 that renormalises at the ends instead of repeating the end frames:
    a repeated first frame would weigh half of frame 0's average and pass its flicker straight through."""
    count = len(values)
    if sigma_frames <= 0 or count < 2:
        return values.astype(np.float32)
    times = np.arange(count)
    out = np.empty(values.shape, np.float32)
    radius = int(np.ceil(4 * sigma_frames))
    for t in range(count):  # banded: long shots never build a T x T weight matrix
        lo, hi = max(0, t - radius), min(count, t + radius + 1)
        w = np.exp(-0.5 * ((times[lo:hi] - t) / sigma_frames) ** 2)
        out[t] = np.tensordot(w / w.sum(), values[lo:hi], axes=(0, 0))
    return out


def hold(values: np.ndarray) -> np.ndarray:
    """One level per series for the whole shot (the median: a few wild frames do not move it)."""
    return np.broadcast_to(np.median(values, axis=0, keepdims=True), values.shape).astype(np.float32)


@dataclass(frozen=True)
class AdaptiveConfig:
    """The data-driven smoother (frames). Flicker that holds for W frames is averaged over `windows` of
    them; the scene's own changes are followed at `floor` frames at the fastest."""

    windows: float = 5.0        # smoothing scale in units of the measured flicker hold time W
    floor: float = 12.0         # never follow changes faster than this (0.5 s at 24 fps)
    local_floor: float = 24.0   # cell-by-cell changes (rarer in real scenes than frame-wide ones) at least this
    lag: int = 32               # the longest lag the hold time is measured over
    significance: float = 2.0   # a trend within this many of its noise spreads of the shot's level is flicker


def _hold_lag(series: np.ndarray, lag: int) -> Optional[int]:
    """The lag a hold time is measured over (at most a third of the shot), None when the shot is too short."""
    lag = max(2, min(lag, len(series) // 3))
    return None if len(series) <= lag + 1 else lag


def _frame_wide(series: np.ndarray) -> np.ndarray:
    return series.reshape(len(series), -1, series.shape[-1]).mean(axis=1)


def _far_near_ratio(frame_wide: np.ndarray, lag: int) -> float:
    near = float(np.abs(np.diff(frame_wide, axis=0)).mean())
    far = float(np.abs(frame_wide[lag:] - frame_wide[:-lag]).mean())
    return float(np.clip(far / max(near, 1e-6), 1.0, lag))


def hold_time(series: np.ndarray, lag: int = 32) -> float:
    """How many frames the frame-wide flicker holds for (W), with the atlas's own per-frame measurement
    noise taken out. Flicker redrawn every W frames makes the variogram V(k) = mean (x_t - x_t+k)^2 rise
    as N + S k / W up to k = W and stay at N + S beyond, N the per-frame noise (which alone would make it
    flat from k = 1). So V(2) - V(1) is S / W, 2 V(1) - V(2) is N, and W = (V(L) - N) / (V(2) - V(1)).
    Without the correction the noise counts as flicker starting anew every frame and W = 10 measured ~5.

    A variogram that does not rise from lag 1 to 2 is W = 1 (or noise): nothing holds. One that rises
    faster than linearly (N < 0) is a smooth wander, not jumps: a camera's exposure or light, a drift. Its
    "hold time" grows with the lag and says nothing about averaging, so it keeps the plain ratio of far to
    near differences (`hold_time_uncorrected`), which the clean clips were calibrated against."""
    lag = _hold_lag(series, lag)
    if lag is None:
        return 1.0
    frame_wide = _frame_wide(series)
    v1, v2, far = (float(np.mean((frame_wide[k:] - frame_wide[:-k]) ** 2)) for k in (1, 2, lag))
    rise, noise = v2 - v1, 2 * v1 - v2
    if rise <= RISE_FLOOR * v1:
        return 1.0
    if noise < -SMOOTH_CURVATURE * v1:
        return _far_near_ratio(frame_wide, lag)
    return float(np.clip((far - max(noise, 0.0)) / rise, 1.0, lag))


def hold_time_uncorrected(series: np.ndarray, lag: int = 32) -> float:
    """The hold time as mean |x_t - x_t+L| / mean |x_t - x_t+1| (~W, less with per-frame noise)."""
    lag = _hold_lag(series, lag)
    return 1.0 if lag is None else _far_near_ratio(_frame_wide(series), lag)


def local_linear(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-weighted local linear regression along axis 0: like a Gaussian mean, but a ramp (an exposure
    change, a cloud coming) passes through unbent, at the ends of the shot too."""
    count = len(values)
    if count < 3 or sigma <= 0:
        return values.astype(np.float32)
    flat = values.reshape(count, -1).astype(np.float64)
    out = np.empty_like(flat)
    radius = int(np.ceil(4 * sigma)) if np.isfinite(sigma) else count
    for t in range(count):
        lo, hi = max(0, t - radius), min(count, t + radius + 1)
        d = np.arange(lo, hi, dtype=np.float64) - t
        w = np.exp(-0.5 * (d / sigma) ** 2) if np.isfinite(sigma) else np.ones_like(d)
        s0, s1, s2 = w.sum(), (w * d).sum(), (w * d * d).sum()
        t0, t1 = w @ flat[lo:hi], (w * d) @ flat[lo:hi]
        det = s0 * s2 - s1 * s1
        out[t] = (s2 * t0 - s1 * t1) / det if det > 1e-9 * s0 * s0 else t0 / s0
    return out.reshape(values.shape).astype(np.float32)


LEVEL_TRIM = 0.25   # share of each end of a cell's series left out of the shot's level (an interquartile mean)
TREND_NOISE = 1.5   # a local linear trend's noise against a local mean's (its wider equivalent kernel)
ENERGY_SPAN = 2.0   # sigmas around a frame over which a trend's departure from the level is weighed


def shot_level(values: np.ndarray, trim: float = LEVEL_TRIM) -> np.ndarray:
    """Each series' level along axis 0 (keepdims): the mean of its central values. The median alone left the
    look's time-mean ~0.03 log away from the input's per cell (a few draws of local flicker are lopsided), a
    static bias worth up to ~0.4 dB on dev; the mean of all of it lets a genuine change's shorter side pull
    the level over (dev d04 W = 10 local: -0.8 dB against the interquartile mean)."""
    ordered = np.sort(values, axis=0)
    cut = int(np.floor(trim * len(values)))
    return ordered[cut:len(values) - cut].mean(axis=0, keepdims=True)


def significant(values: np.ndarray, trend: np.ndarray, hold_frames: float, sigma: float,
                significance: float) -> np.ndarray:
    """The trend where it departs from the shot's level by more than stationary flicker would make it
    wander, the level elsewhere.

    Flicker of spread s holding W frames, averaged with a Gaussian of sigma frames, still wanders by about
    s * sqrt(W / (2 sqrt(pi) sigma)): a trend that small is the flicker's own, and keeping it would leave the
    look drifting over the shot (which a locked-off camera shows plainly). The test is on the departure's
    energy around each frame (RMS over a Gaussian of ENERGY_SPAN sigmas), not frame by frame, so a genuine
    ramp is kept whole, also where it crosses the level; the shrinkage is a non-negative garrote (what
    clearly departs passes unbent)."""
    level = shot_level(values)
    left = values - trend
    spread = 1.4826 * np.median(np.abs(left - np.median(left, axis=0, keepdims=True)), axis=0, keepdims=True)
    wander = TREND_NOISE * spread * np.sqrt(max(hold_frames, 1.0) / (2.0 * np.sqrt(np.pi) * sigma))
    departure = trend - level
    energy = np.sqrt(temporal_gaussian(departure ** 2, ENERGY_SPAN * sigma))
    keep = np.maximum(0.0, 1.0 - (significance * wander / np.maximum(energy, 1e-9)) ** 2)
    return (level + departure * keep).astype(np.float32)


# Log gains seen along brightness and two colour axes (orthonormal: distances and the hold time are unchanged).
# Flicker is mostly a change of brightness (exposure, light intensity); a change of colour (white balance, a
# light's colour) stands out against the much quieter colour part of the flicker only when tested on its own.
OPPONENT = np.array([[1, 1, 1], [1, 0, -1], [1, -2, 1]], np.float32) / \
    np.sqrt(np.array([3, 2, 6], np.float32))[:, None]


def adaptive_trend(series: np.ndarray, config: AdaptiveConfig = AdaptiveConfig()) -> Tuple[np.ndarray, dict]:
    """The genuine part of [T, rows, cols, 3] log gains: the frame-wide part follows at a scale set by the
    flicker's measured hold time, the cell-by-cell remainder at no faster than `local_floor`; of each, only
    what departs significantly from the shot's level is kept (`significant`), brightness and colour tested
    apart (OPPONENT)."""
    series = series @ OPPONENT.T if series.shape[-1] == 3 else series
    w = hold_time(series, config.lag)
    sigma = max(config.floor, config.windows * w)
    local_sigma = max(sigma, config.local_floor)
    frame_wide = series.mean(axis=(1, 2), keepdims=True)
    rest = series - frame_wide
    trend = significant(frame_wide, local_linear(frame_wide, sigma), w, sigma, config.significance) + \
        significant(rest, local_linear(rest, local_sigma), w, local_sigma, config.significance)
    trend = trend @ OPPONENT if trend.shape[-1] == 3 else trend
    return trend.astype(np.float32), {"hold_time": round(w, 2), "frames": round(sigma, 1)}


def genuine_change(series: np.ndarray, mode: str, slow_frames: float,
                   config: AdaptiveConfig = AdaptiveConfig()) -> Tuple[np.ndarray, dict]:
    """[T, rows, cols, 3] log gains -> the part to keep (same shape) and what was decided."""
    if len(series) < 2:
        return series.astype(np.float32), {"mode": mode}
    if mode == "hold":
        return hold(series), {"mode": mode}
    if mode == "follow":
        kept = temporal_gaussian(series, slow_frames) if slow_frames > 0 else hold(series)
        return kept, {"mode": mode, "frames": slow_frames}
    trend, chosen = adaptive_trend(series, config)
    return trend, dict(chosen, mode=mode)


def _blurred(values: np.ndarray, spread_cells: float) -> np.ndarray:
    """[T, rows, cols, 3] values, each frame blurred over `spread_cells` cells (flicker is smooth in space)."""
    return np.stack([cv2.GaussianBlur(frame.astype(np.float32, copy=False), (0, 0), spread_cells,
                                      borderType=cv2.BORDER_REFLECT) for frame in values])


def _blurred_spread(values: np.ndarray, spread_cells: float) -> np.ndarray:
    """[rows, cols] robust temporal spread of [T, rows, cols, 3] values after a spatial blur of
    `spread_cells` cells, max over channels."""
    smooth = _blurred(values, spread_cells)
    spread = 1.4826 * np.median(np.abs(smooth - np.median(smooth, axis=0)), axis=0)
    return spread.max(axis=-1).astype(np.float32)


def flicker_level(series: np.ndarray, kept: np.ndarray, spread_cells: float = 1.5) -> np.ndarray:
    """[rows, cols] how strongly each region flickers: the temporal spread (robust) of what is removed,
    after a spatial blur of `spread_cells` cells, max over channels. Flicker is smooth in space and survives
    the blur; the atlas's own errors sit in single cells (a moving object, parallax) and are diluted."""
    return _blurred_spread((series - kept).astype(np.float32), spread_cells)


def frame_to_frame_level(series: np.ndarray, spread_cells: float = 1.5) -> np.ndarray:
    """[rows, cols] how much each region changes from one frame to the next (the same spread, of the
    differences over sqrt 2): fast flicker shows here at its full size, while an atlas's own error on a
    clean clip (and any genuine change) wanders slowly and barely does."""
    if len(series) < 3:
        return np.zeros(series.shape[1:3], np.float32)
    return _blurred_spread((np.diff(series, axis=0) / np.sqrt(2.0)).astype(np.float32), spread_cells)


JUMP_LEVEL = 0.1    # log: a sudden change of the whole frame's look this large is not a camera's own wander
JUMP_RATIO = 5.0    # ... and it must stand out this much from the shot's ordinary frame-to-frame change


def jump_count(series: np.ndarray, level: float = JUMP_LEVEL, ratio: float = JUMP_RATIO,
               spread_cells: float = 1.5) -> int:
    """How many times the look of the frame as a whole changes suddenly: frames where the median region's
    change from the frame before (after a spatial blur, max over channels) exceeds `level` and `ratio` times
    its median over the shot. A clean camera clip's atlas error wanders smoothly (dev clean clips: at most
    0.07); a light switched on jumps once; flicker that holds for a while (W = 30, steps) jumps every time
    it is redrawn, which a robust spread of the frame-to-frame changes (`frame_to_frame_level`) overlooks."""
    if len(series) < 3:
        return 0
    change = np.abs(np.diff(_blurred(series, spread_cells), axis=0)).max(axis=-1)
    whole = np.median(change.reshape(len(change), -1), axis=1)
    return int(np.sum(whole > max(level, ratio * float(np.median(whole)))))


BEAT_SHARE = 0.6      # share of the frame-wide look's variance one sinusoid must carry to be a beat
BEAT_LEVEL = 0.02     # log amplitude of that sinusoid (dev clean clips: at most 0.02, at shares of 0.32 or less)
BEAT_PERIODS = 3.0    # it must repeat at least this often within the shot
BEAT_MIN_PERIOD = 2.5   # frames: faster beats alias into each other


def beat(series: np.ndarray, pad: int = 8) -> Tuple[float, float, np.ndarray]:
    """The strongest sinusoid in the frame-wide look, per channel after a quadratic trend is taken out:
    (amplitude and share of the variance of the channel where it is largest, the sinusoids [T, 3]). Mains
    light beating against the shutter is such a sinusoid (dev: shares 0.94-0.98); neither a camera's own
    exposure wander nor redrawn flicker is (at most 0.32 and 0.51), so a beat says the shot flickers however
    slowly it does so frame to frame."""
    count = len(series)
    fitted = np.zeros((count, series.shape[-1]), np.float32)
    if count < 2 * BEAT_PERIODS * BEAT_MIN_PERIOD:
        return 0.0, 0.0, fitted
    t = np.arange(count, dtype=np.float64)
    freqs = np.fft.rfftfreq(pad * count)
    allowed = (freqs >= BEAT_PERIODS / count) & (freqs <= 1.0 / BEAT_MIN_PERIOD)
    amplitude = share = 0.0
    for c, x in enumerate(_frame_wide(series).astype(np.float64).T):
        x = x - np.polyval(np.polyfit(t, x, 2), t)
        power = np.abs(np.fft.rfft(x, pad * count)) ** 2
        f = freqs[int(np.argmax(np.where(allowed, power, -1.0)))]
        basis = np.stack([np.cos(2 * np.pi * f * t), np.sin(2 * np.pi * f * t)], 1)
        fitted[:, c] = basis @ np.linalg.lstsq(basis, x, rcond=None)[0]
        size = float(np.sqrt(2.0 * np.mean(fitted[:, c].astype(np.float64) ** 2)))
        if size > amplitude:
            amplitude, share = size, float(np.sum(fitted[:, c].astype(np.float64) ** 2) / max(np.sum(x ** 2), 1e-12))
    return amplitude, share, fitted


def beats(amplitude: float, share: float) -> bool:
    """A `beat` of a size and regularity flicker has."""
    return amplitude >= BEAT_LEVEL and share >= BEAT_SHARE


def periodic_flicker(series: np.ndarray) -> Optional[np.ndarray]:
    """[T, 3] log gains of the shot's beat (`beat`, mains light) where it beats (`beats`), else None: flicker
    whose every frame's gain is known, to be divided out of the frames as it is."""
    amplitude, share, fitted = beat(series)
    return fitted if beats(amplitude, share) else None


def step_level(steps: np.ndarray, spread_cells: float = 1.5) -> float:
    """How fast a run of frames flickers: [T, rows, cols, 3] log gains of each frame against the one before
    it (tracked along the flow, so motion does not count) -> the median region's RMS step, after a spatial
    blur of `spread_cells` cells, max over channels. Unlike `frame_to_frame_level` (a robust spread) it
    counts flicker that is redrawn only every few frames at its full size."""
    smooth = np.abs(_blurred(steps, spread_cells)).max(axis=-1)
    return float(np.median(np.sqrt(np.mean(smooth ** 2, axis=0))))


def harm_gate(level: np.ndarray, floor: float, shape: Tuple[int, int], clip_floor: float,
              quick: Optional[np.ndarray] = None, quick_floor: float = 0.0,
              flickers: bool = False) -> Optional[np.ndarray]:
    """H x W x 1 share of the correction to apply, or None where every pixel gets all of it.

    Two tests, both against what the atlas's own error makes of a clean clip: the clip as a whole (a high
    quantile of the regions' levels must clear `clip_floor`, reaching full strength at twice that) and each
    region (0 at `floor`, 1 at twice that). A clip without flicker is left untouched; in a flickering clip,
    regions that stay steady are left alone too. A clip whose `quick` (frame-to-frame) level clears
    `quick_floor` passes the clip test as well: a clean clip's atlas error is slow, so frame-to-frame
    flicker of that size is flicker even where its level alone sits among the atlas errors (mains light).
    A clip known to flicker by other means (`flickers`: a periodic beat) passes the clip test outright."""
    whole = 1.0 if flickers else float(np.clip(np.quantile(level, 0.75) / max(clip_floor, 1e-6) - 1.0, 0.0, 1.0))
    if quick is not None and quick_floor > 0:
        whole = max(whole, float(np.clip(np.quantile(quick, 0.75) / quick_floor - 1.0, 0.0, 1.0)))
    region = np.clip(level / max(floor, 1e-6) - 1.0, 0.0, 1.0) * whole
    if region.min() >= 1.0:
        return None
    h, w = shape
    return np.clip(cv2.resize(region.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR), 0, 1)[..., None]
