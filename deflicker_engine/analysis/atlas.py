"""A fast, explicit atlas: one temporally consistent picture per shot window (the paper's A and M).

The published atlas is a pair of MLPs fitted for 10,000 iterations on a GPU. Ours is explicit:
  mapping  M_t(x) = S G_t(x) + R_t(x)   G_t: homography to a reference frame, chained from optical flow;
                                         R_t: a coarse residual displacement grid (non-rigid motion);
  atlas    A(u)  = sum_l up(A_l)(u)      a multi-scale RGB texture on the canvas (coarse levels move colour fast).
Losses as in layered neural atlases: colour reconstruction (updates the texture only, so the mapping cannot
chase flicker), gain-normalised image gradients (updates the mapping), flow consistency of mapped points,
and rigidity of the residual grid. The texture starts as the average of the homography-warped frames,
so a few hundred steps at low resolution suffice on a CPU. The fit runs on any torch device. Frames re-rendered from the single atlas are
temporally consistent but structurally flawed: the neural filter takes appearance from them, not structure.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..progress import CancelToken, ProgressFn, check_cancel, no_progress
from .flow import pixel_grid


@dataclass(frozen=True)
class AtlasConfig:
    steps: int = 240              # optimisation steps per window
    batch_pairs: int = 4          # consecutive frame pairs per step
    grid: tuple = (12, 20)        # residual control points (rows, cols) per frame
    levels: int = 4               # texture pyramid levels
    canvas_area: float = 3.0      # canvas area cap, in frame areas (long pans are scaled down)
    lr_texture: float = 0.02
    lr_residual: float = 0.3      # canvas pixels per step
    w_gradient: float = 1.0
    w_flow: float = 0.1
    w_rigid: float = 0.005
    w_small: float = 0.001
    appearance_cells: int = 8     # per-frame log gain grid, cells across the long side (0: none)
    appearance_sigma: float = 6.0   # frames: gains model only changes faster than this (slower ones are the texture's)
    lr_appearance: float = 0.02
    robust_scale: float = 0.1     # reconstruction saturates past this error (0: plain L1), so what only some
    robust_from: float = 0.25     # frames show (a passing object) leaves no ghost; from this share of the steps on


# --- homographies -------------------------------------------------------------------------------------

def _grid(h: int, w: int) -> np.ndarray:
    return np.stack(pixel_grid(h, w), -1)


RANSAC_PX = 1.5          # a sampled flow vector within this of a model is explained by it
SECOND_LAYER = 0.15      # share of the samples a second motion must explain to be a candidate camera
NEIGHBOURS = 2           # pairs either side whose motions a contested pair is also offered (`pair_motions`)
MOTION_JUMP = 0.02       # a change of camera motion between pairs of this share of the frame diagonal costs
                         # as much as a model explaining none of the samples, twice that four times as much
                         # (`camera_path`: shake is cheap, an object's motion taken for the camera's is not)


@dataclass(frozen=True)
class MotionCandidate:
    """One way frame t's pixels may move to frame t+1 (a homography) and the share of samples it explains."""

    homography: np.ndarray
    support: float


def _fit_homography(src: np.ndarray, dst: np.ndarray) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """A RANSAC homography (or, where that fails, a similarity) and its inlier flags; None below 8 points."""
    if len(src) < 8:
        return None
    H, inliers = cv2.findHomography(src, dst, cv2.RANSAC, RANSAC_PX)
    if H is None or inliers is None or inliers.sum() < 0.25 * len(src) or not np.isfinite(H).all():
        A, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX)
        if A is None or inliers is None:
            return None
        H = np.vstack([A, [0, 0, 1]])
    return H / H[2, 2], inliers.ravel().astype(bool)


def _support(H: np.ndarray, src: np.ndarray, dst: np.ndarray) -> float:
    """Share of the sampled flow vectors that H explains."""
    return float((np.linalg.norm(_apply_h(H, src) - dst, axis=1) <= RANSAC_PX).mean()) if len(src) else 0.0


def _samples(flow: np.ndarray, mask: np.ndarray, samples: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Reliable flow vectors of a pair, as (source, destination) points; none where too few are reliable."""
    ys, xs = np.nonzero(mask > 0.5)
    if len(xs) < 16:
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(xs), size=min(samples, len(xs)), replace=False)
    src = np.stack([xs[pick], ys[pick]], -1).astype(np.float32)
    return src, src + flow[ys[pick], xs[pick]]


def motion_candidates(src: np.ndarray, dst: np.ndarray) -> List[MotionCandidate]:
    """A pair's dominant motion from its sampled flow vectors and, where a second layer moves otherwise over
    SECOND_LAYER of them, that one too (the camera's path, `camera_path`, chooses)."""
    first = _fit_homography(src, dst)
    if first is None:
        return [MotionCandidate(np.eye(3), 0.0)]
    out = [MotionCandidate(first[0], _support(first[0], src, dst))]
    rest = ~first[1]
    if rest.sum() >= SECOND_LAYER * len(src):
        second = _fit_homography(src[rest], dst[rest])
        if second is not None and (support := _support(second[0], src, dst)) >= SECOND_LAYER:
            out.append(MotionCandidate(second[0], support))
    return out


def pair_motions(fwd: np.ndarray, mask: np.ndarray, seed: int = 0, samples: int = 3000) -> List[List[MotionCandidate]]:
    """Every pair's motion candidates. Where a second layer shows within NEIGHBOURS pairs, a pair is also
    offered the motions fitted to those neighbours, scored on its own flow: a big object crossing a still
    shot can outvote the background, or hide all of its texture, for a few frames, and the camera's motion
    through them must still be among the choices."""
    points = [_samples(fwd[t], mask[t], samples, seed + t) for t in range(len(fwd))]
    own = [motion_candidates(*p) for p in points]
    out = []
    for t, candidates in enumerate(own):
        near = [k for k in range(t - NEIGHBOURS, t + NEIGHBOURS + 1) if 0 <= k < len(own)]
        if any(len(own[k]) > 1 for k in near):
            candidates = candidates + [MotionCandidate(c.homography, _support(c.homography, *points[t]))
                                       for k in near if k != t for c in own[k]]
        out.append(candidates)
    return out


def pair_homography(flow: np.ndarray, mask: np.ndarray, samples: int = 3000, seed: int = 0) -> np.ndarray:
    """Homography taking frame t pixels to frame t+1: the dominant motion of the reliable part of the flow."""
    return motion_candidates(*_samples(flow, mask, samples, seed))[0].homography


def _motion_change(a: np.ndarray, b: np.ndarray, points: np.ndarray) -> float:
    return float(np.linalg.norm(_apply_h(a, points) - _apply_h(b, points), axis=1).mean())


def camera_path(candidates: Sequence[List[MotionCandidate]], h: int, w: int) -> List[np.ndarray]:
    """One homography per pair: the sequence of candidates that explains most while the camera's motion
    changes least from pair to pair (dynamic programming over the whole window). A camera's motion is
    smooth; an object that fills much of a still frame for a few frames is not the camera, and taking it
    for one shifts every later frame of the window on the atlas."""
    if not candidates:
        return []
    points = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1], [w / 2, h / 2]], np.float32)
    unit = MOTION_JUMP * float(np.hypot(h, w))
    cost = [1.0 - c.support for c in candidates[0]]
    back: List[List[int]] = []
    for before, now in zip(candidates[:-1], candidates[1:]):
        steps = [[cost[i] + (_motion_change(p.homography, c.homography, points) / unit) ** 2
                  for i, p in enumerate(before)]
                 for c in now]
        back.append([int(np.argmin(s)) for s in steps])
        cost = [min(s) + 1.0 - c.support for s, c in zip(steps, now)]
    choice = [int(np.argmin(cost))]
    for links in reversed(back):
        choice.append(links[choice[-1]])
    return [c[k].homography for c, k in zip(candidates, reversed(choice))]


def chain_homographies(pair_h: Sequence[np.ndarray], reference: int) -> np.ndarray:
    """[T-1] pairwise t->t+1 homographies -> [T] homographies taking frame t into the reference frame."""
    count = len(pair_h) + 1
    out = np.tile(np.eye(3), (count, 1, 1))
    for t in range(reference - 1, -1, -1):         # t -> t+1 -> ... -> reference
        out[t] = out[t + 1] @ pair_h[t]
    for t in range(reference + 1, count):          # t -> t-1 -> ... -> reference
        out[t] = out[t - 1] @ np.linalg.inv(pair_h[t - 1])
    return out / out[:, 2:3, 2:3]


def _apply_h(H: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = pts @ H[:2, :2].T + H[:2, 2]
    d = pts @ H[2, :2] + H[2, 2]
    return p / np.maximum(np.abs(d), 1e-6)[..., None] * np.sign(d)[..., None]


def canvas_transforms(homs: np.ndarray, h: int, w: int, area_cap: float) -> tuple:
    """Frame-to-canvas homographies and the canvas size, so every frame lands inside a bounded canvas."""
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], np.float32)
    pts = np.concatenate([_apply_h(H, corners) for H in homs])
    lo, hi = pts.min(0), pts.max(0)
    span = np.maximum(hi - lo, 1.0)
    scale = min(1.0, float(np.sqrt(area_cap * h * w / (span[0] * span[1]))))
    S = np.array([[scale, 0, -scale * lo[0]], [0, scale, -scale * lo[1]], [0, 0, 1]])
    size = (int(np.ceil(span[1] * scale)) + 2, int(np.ceil(span[0] * scale)) + 2)  # (rows, cols)
    return np.stack([S @ H for H in homs]), size


# --- the fitted atlas ---------------------------------------------------------------------------------

class Atlas:
    """Texture plus per-frame mapping; renders temporally consistent frames A_t at any size.

    Compact on purpose (a texture, one homography and a coarse residual grid per frame), so a long shot can
    keep every window's atlas: the dense base mapping is rebuilt from the homographies when needed.
    """

    def __init__(self, texture: torch.Tensor, to_canvas: torch.Tensor, residual: torch.Tensor, size: tuple):
        self.texture = texture        # [1, 3, Hc, Wc]
        self.to_canvas = to_canvas    # [T, 3, 3] frame pixel -> canvas pixel (homography part)
        self.residual = residual      # [T, 2, gh, gw] canvas pixels
        self.size = tuple(size)       # (h, w) of the frames it was fitted to

    def __len__(self) -> int:
        return int(self.to_canvas.shape[0])

    @property
    def device(self) -> torch.device:
        return self.texture.device

    def base(self, index: torch.Tensor) -> torch.Tensor:
        """[B, h, w, 2] canvas coordinates of every pixel under the homographies of frames `index`."""
        h, w = self.size
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32, device=self.device),
                                torch.arange(w, dtype=torch.float32, device=self.device), indexing="ij")
        H = self.to_canvas[index].to(torch.float32)
        p = torch.einsum("bij,hwj->bhwi", H[:, :2, :2], torch.stack([xs, ys], -1)) + H[:, None, None, :2, 2]
        d = torch.einsum("bj,hwj->bhw", H[:, 2, :2], torch.stack([xs, ys], -1)) + H[:, None, None, 2, 2]
        d = torch.where(d.abs() < 1e-6, torch.full_like(d, 1e-6), d)
        return p / d[..., None]

    def mapping(self, index: torch.Tensor) -> torch.Tensor:
        h, w = self.size
        res = F.interpolate(self.residual[index], size=(h, w), mode="bilinear", align_corners=True)
        return self.base(index) + res.permute(0, 2, 3, 1)

    def render(self, size: Optional[tuple] = None, frames: Optional[Sequence[int]] = None) -> np.ndarray:
        """Atlas frames as float32 [T, H, W, 3] (all, or the window-relative `frames`); `size` = (H, W),
        default the fitting size."""
        frames = list(range(len(self))) if frames is None else list(frames)
        with torch.no_grad():
            out = []
            for start in range(0, len(frames), 16):
                index = torch.as_tensor(frames[start:start + 16], device=self.device)
                coords = self.mapping(index)
                if size is not None and tuple(size) != tuple(coords.shape[1:3]):
                    coords = F.interpolate(coords.permute(0, 3, 1, 2), size=tuple(size), mode="bilinear",
                                           align_corners=True).permute(0, 2, 3, 1)
                out.append(_sample(self.texture, coords).permute(0, 2, 3, 1).clamp(0, 1).cpu())
            if not out:
                h, w = size or self.size
                return np.zeros((0, h, w, 3), np.float32)
            return torch.cat(out).numpy()


def _normalise(coords: torch.Tensor, height: int, width: int) -> torch.Tensor:
    scale = torch.tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)], dtype=coords.dtype,
                         device=coords.device)
    return coords * scale - 1.0


def _sample(texture: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Texture [1,C,Hc,Wc] at canvas pixel coords [B,h,w,2] -> [B,C,h,w]."""
    grid = _normalise(coords, texture.shape[2], texture.shape[3])
    return F.grid_sample(texture.expand(coords.shape[0], -1, -1, -1), grid, mode="bilinear",
                         padding_mode="border", align_corners=True)


def _initial_texture(frames: np.ndarray, to_canvas: np.ndarray, size: tuple) -> np.ndarray:
    """Average of the homography-warped frames: already a consistent atlas for rigid scenes."""
    rows, cols = size
    total = np.zeros((rows, cols, 3), np.float32)
    weight = np.zeros((rows, cols), np.float32)
    ones = np.ones(frames.shape[1:3], np.float32)
    for frame, H in zip(frames, to_canvas):
        total += cv2.warpPerspective(frame, H, (cols, rows), flags=cv2.INTER_LINEAR)
        weight += cv2.warpPerspective(ones, H, (cols, rows), flags=cv2.INTER_LINEAR)
    # fill canvas corners that no frame covers from their surroundings
    sigma = max(rows, cols) / 16.0
    blur_total = cv2.GaussianBlur(total, (0, 0), sigma)
    blur_weight = cv2.GaussianBlur(weight, (0, 0), sigma)[..., None]
    filled = blur_total / np.maximum(blur_weight, 1e-6)
    covered = weight[..., None]
    return np.where(covered > 0.05, total / np.maximum(covered, 1e-6), filled).astype(np.float32)


def _gradients(x: torch.Tensor) -> tuple:
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def _gain_free(x: torch.Tensor) -> torch.Tensor:
    """Divide each frame by its mean gradient magnitude: image gradients that flicker gain cannot change."""
    gx, gy = _gradients(x)
    scale = (gx.abs().mean(dim=(1, 2, 3), keepdim=True) + gy.abs().mean(dim=(1, 2, 3), keepdim=True)) / 2
    return x / (scale + 1e-4)


def _appearance_grid(h: int, w: int, cells: int) -> tuple:
    long_side = max(h, w)
    return max(2, round(cells * h / long_side)), max(2, round(cells * w / long_side))


def _temporal_smoother(count: int, sigma: float, device) -> torch.Tensor:
    t = torch.arange(count, dtype=torch.float32, device=device)
    k = torch.exp(-0.5 * ((t[:, None] - t[None, :]) / max(sigma, 1e-3)) ** 2)
    return k / k.sum(dim=1, keepdim=True)


def _appearance(gains: torch.Tensor, smoother: torch.Tensor, index: torch.Tensor, size: tuple) -> torch.Tensor:
    """[B, 3, h, w] multiplicative appearance of frames `index`: the per-frame log gain grid less its own
    temporal Gaussian mean (slow changes belong to the texture: on a pan they cannot be told from it)."""
    fast = gains[index] - torch.einsum("bt,tchw->bchw", smoother[index], gains)
    return torch.exp(F.interpolate(fast, size=size, mode="bilinear", align_corners=True))


def _reconstruction(error: torch.Tensor, scale: float) -> torch.Tensor:
    """Charbonnier (L1) reconstruction, or with `scale` its saturating log form: L1 for small errors, ever
    weaker past `scale`, so an object only some frames show barely pulls the canvas. The fit starts with L1
    (from the warped frames' mean, a saturating loss would settle on whatever mode lies nearest: a clean
    clip's parallax then fits worse, dev bmx 40.5 -> 39.3 dB) and saturates once the canvas is near the
    frames' consensus."""
    l1 = torch.sqrt(error ** 2 + 1e-6)
    return (scale * torch.log1p(l1 / scale)).mean() if scale > 0 else l1.mean()


def fit_atlas(frames: np.ndarray, fwd: np.ndarray, bwd: np.ndarray, mask_fwd: np.ndarray, mask_bwd: np.ndarray,
              config: AtlasConfig = AtlasConfig(), seed: int = 0, progress: ProgressFn = no_progress,
              cancel: Optional[CancelToken] = None, stage: str = "atlas",
              device: Optional[torch.device] = None) -> Atlas:
    """Fit one atlas to a window of frames, on `device` (default the CPU).

    frames [T,h,w,3] float32; fwd/bwd [T-1,h,w,2] flows t->t+1 / t+1->t; masks [T-1,h,w] reliability.
    """
    device = torch.device("cpu") if device is None else device
    count, h, w = frames.shape[:3]
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    pair_h = camera_path(pair_motions(fwd, mask_fwd, seed), h, w)
    to_canvas, canvas = canvas_transforms(chain_homographies(pair_h, count // 2), h, w, config.canvas_area)
    init = torch.from_numpy(_initial_texture(frames, to_canvas, canvas)).permute(2, 0, 1)[None].to(device)

    levels = [init.clone()] + [torch.zeros(1, 3, max(2, canvas[0] >> l), max(2, canvas[1] >> l), device=device)
                               for l in range(1, config.levels)]
    for level in levels:
        level.requires_grad_(True)
    residual = torch.zeros(count, 2, *config.grid, device=device, requires_grad=True)
    gains = smoother = None
    if config.appearance_cells:
        gains = torch.zeros(count, 3, *_appearance_grid(h, w, config.appearance_cells), device=device,
                            requires_grad=True)
        smoother = _temporal_smoother(count, config.appearance_sigma, device)
    atlas = Atlas(init, torch.from_numpy(to_canvas).to(device=device, dtype=torch.float64), residual, (h, w))

    def texture() -> torch.Tensor:
        return sum(F.interpolate(l, size=canvas, mode="bilinear", align_corners=True) if i else l
                   for i, l in enumerate(levels))

    if count < 2 or config.steps == 0:
        atlas.texture = texture().detach()
        atlas.residual = residual.detach()
        return atlas

    images = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).permute(0, 3, 1, 2).contiguous().to(device)
    grid_px = torch.from_numpy(_grid(h, w)).to(device)
    flows_f = torch.from_numpy(np.ascontiguousarray(fwd, dtype=np.float32)).to(device)
    flows_b = torch.from_numpy(np.ascontiguousarray(bwd, dtype=np.float32)).to(device)
    masks_f = torch.from_numpy(np.ascontiguousarray(mask_fwd, dtype=np.float32))[:, None].to(device)
    masks_b = torch.from_numpy(np.ascontiguousarray(mask_bwd, dtype=np.float32))[:, None].to(device)
    groups = [{"params": levels, "lr": config.lr_texture}, {"params": [residual], "lr": config.lr_residual}]
    if gains is not None:
        groups.append({"params": [gains], "lr": config.lr_appearance})
    optimiser = torch.optim.Adam(groups)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, config.steps, eta_min=0.1 * config.lr_texture)
    pairs = min(config.batch_pairs, count - 1)
    robust_from = config.robust_from * config.steps

    for step in range(config.steps):
        check_cancel(cancel)
        starts = torch.from_numpy(rng.choice(count - 1, size=pairs, replace=False)).to(device)
        index = torch.cat([starts, starts + 1])
        tex = texture()
        coords = atlas.mapping(index)
        target = images[index]

        seen = _sample(tex, coords.detach())
        if gains is not None:
            seen = seen * _appearance(gains, smoother, index, (h, w))
        recon = _reconstruction(seen - target, config.robust_scale if step >= robust_from else 0.0)
        rendered = _sample(tex.detach(), coords)
        gradient = sum((a - b).abs().mean() for a, b in zip(_gradients(_gain_free(rendered)),
                                                          _gradients(_gain_free(target))))

        # a point and its flow-matched partner must land on the same atlas position (both directions)
        first, second = coords[:pairs], coords[pairs:]
        moved_f = _normalise(grid_px + flows_f[starts], h, w)
        moved_b = _normalise(grid_px + flows_b[starts], h, w)
        second_at = F.grid_sample(second.permute(0, 3, 1, 2), moved_f, align_corners=True, padding_mode="border")
        first_at = F.grid_sample(first.permute(0, 3, 1, 2), moved_b, align_corners=True, padding_mode="border")
        flow = (F.smooth_l1_loss(first.permute(0, 3, 1, 2) * masks_f[starts], second_at * masks_f[starts])
                + F.smooth_l1_loss(second.permute(0, 3, 1, 2) * masks_b[starts], first_at * masks_b[starts]))

        rx, ry = _gradients(residual)
        rigid = (rx ** 2).mean() + (ry ** 2).mean()
        small = (residual ** 2).mean()

        loss = (recon + config.w_gradient * gradient + config.w_flow * flow + config.w_rigid * rigid
                + config.w_small * small)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        progress(stage, step + 1, config.steps)

    atlas.texture = texture().detach().clamp(0, 1)
    atlas.residual = residual.detach()
    return atlas
