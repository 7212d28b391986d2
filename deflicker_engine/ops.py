"""Per-frame image operations that run where the frames are: OpenCV on numpy arrays (fastest on a CPU),
torch on tensors (on a GPU the frames never leave the device). One function each, same layout either way:
H x W x C (channels last), float32, so the stages above are written once for both.
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F

Array = Union[np.ndarray, torch.Tensor]


def is_torch(x: Array) -> bool:
    return isinstance(x, torch.Tensor)


def holds_tensors(device: torch.device) -> bool:
    """Whether stages on `device` keep frames as tensors (a GPU) or as numpy arrays (the CPU, where OpenCV is
    faster than torch for these operations)."""
    return device.type != "cpu"


def as_device(x: np.ndarray, device: torch.device, tensor: Optional[bool] = None) -> Array:
    """A numpy array as the stages on `device` hold it: itself on the CPU, a float32 tensor on a GPU
    (`tensor` forces either, so the GPU form can be tested on a CPU)."""
    if not (holds_tensors(device) if tensor is None else tensor):
        return np.asarray(x, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device, non_blocking=True)


def to_numpy(x: Array) -> np.ndarray:
    return x.detach().float().cpu().numpy() if is_torch(x) else np.asarray(x)


def exp(x: Array) -> Array:
    return torch.exp(x) if is_torch(x) else np.exp(x)


def log(x: Array) -> Array:
    return torch.log(x) if is_torch(x) else np.log(x)


def clip(x: Array, lo=None, hi=None) -> Array:
    return torch.clamp(x, lo, hi) if is_torch(x) else np.clip(x, lo, hi)


def channel_max(x: Array) -> Array:
    """Max over the last axis, kept as a length-1 axis."""
    return x.amax(dim=-1, keepdim=True) if is_torch(x) else x.max(axis=-1, keepdims=True)


def channel_mean(x: Array) -> Array:
    return x.mean(dim=-1, keepdim=True) if is_torch(x) else x.mean(axis=-1, keepdims=True)


def _nchw(x: torch.Tensor) -> torch.Tensor:
    return x.permute(2, 0, 1)[None] if x.ndim == 3 else x[None, None]


def _hwc(x: torch.Tensor, ndim: int) -> torch.Tensor:
    return x[0].permute(1, 2, 0) if ndim == 3 else x[0, 0]


def warp(image: Array, flow: Array, cubic: bool = False) -> Array:
    """Sample `image` at x + flow(x) (replicating the border): brings b into a's frame when flow is a->b."""
    if not is_torch(image):
        from .analysis.flow import warp as cv_warp

        return cv_warp(image, flow, interpolation=cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR)
    h, w = flow.shape[:2]
    ys, xs = torch.meshgrid(torch.arange(h, device=flow.device, dtype=flow.dtype),
                            torch.arange(w, device=flow.device, dtype=flow.dtype), indexing="ij")
    grid = torch.stack([(xs + flow[..., 0]) * (2.0 / max(w - 1, 1)) - 1.0,
                        (ys + flow[..., 1]) * (2.0 / max(h - 1, 1)) - 1.0], dim=-1)[None]
    out = F.grid_sample(_nchw(image), grid, mode="bicubic" if cubic else "bilinear", padding_mode="border",
                        align_corners=True)
    return _hwc(out, image.ndim)


def _gaussian_kernel(sigma: float, device, dtype) -> torch.Tensor:
    radius = max(1, (int(round(sigma * 8 + 1)) | 1) // 2)      # OpenCV's own size for float images
    t = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(x: Array, sigma: float) -> Array:
    """Separable Gaussian of `sigma` pixels, reflecting at the border (OpenCV's default)."""
    if not is_torch(x):
        return cv2.GaussianBlur(x, (0, 0), sigma).reshape(x.shape)
    k = _gaussian_kernel(sigma, x.device, x.dtype)
    r = (len(k) - 1) // 2
    y = _nchw(x)
    c = y.shape[1]
    y = F.pad(y, (r, r, 0, 0), mode="reflect" if r < y.shape[-1] else "replicate")
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    y = F.pad(y, (0, 0, r, r), mode="reflect" if r < y.shape[-2] else "replicate")
    y = F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return _hwc(y, x.ndim)


def box(x: Array, radius: int) -> Array:
    """Mean over a (2r+1)^2 window, reflecting at the border."""
    if not is_torch(x):
        return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT).reshape(x.shape)
    y, r = _nchw(x), radius
    # OpenCV's BORDER_REFLECT repeats the edge pixel (torch's "reflect" does not)
    y = torch.cat([y[..., :r].flip(-1), y, y[..., -r:].flip(-1)], dim=-1)
    y = torch.cat([y[..., :r, :].flip(-2), y, y[..., -r:, :].flip(-2)], dim=-2)
    return _hwc(F.avg_pool2d(y, 2 * radius + 1, stride=1), x.ndim)


def resize(x: Array, shape: Tuple[int, int], mode: str = "linear") -> Array:
    """To (h, w): 'area' to shrink, 'linear' or 'cubic' to enlarge, pixel centres aligned as in OpenCV."""
    if tuple(x.shape[:2]) == tuple(shape):
        return x
    h, w = shape
    if not is_torch(x):
        flag = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}[mode]
        return cv2.resize(x, (w, h), interpolation=flag).reshape((h, w) + tuple(x.shape[2:]))
    y = _nchw(x)
    if mode == "area":
        y = F.interpolate(y, size=(h, w), mode="area")
    else:
        y = F.interpolate(y, size=(h, w), mode="bilinear" if mode == "linear" else "bicubic", align_corners=False)
    return _hwc(y, x.ndim)
