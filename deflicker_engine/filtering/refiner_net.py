"""The local refiner L: removes the local flicker the filter leaves, one frame at a time, recurrently.

Unlike the paper's refiner, which compares unaligned frames, ours sees the previous filtered frame and the
previous output WARPED into the current frame by optical flow, with a mask that says where the flow can be
trusted: `LocalRefiner(filtered_t, filtered_prev_warped, output_prev_warped, mask) -> output_t`. Local flicker
is a smooth change of gain, so the refiner works on 1/pool-resolution summaries (block means of its inputs and
of their differences) and predicts a per-pixel colour transform of filtered_t, upsampled smoothly: the
frame's detail passes through untouched. The last layer starts at zero, so an untrained refiner returns
filtered_t unchanged.

First frame of a shot: pass filtered_t as both previous frames and a zero mask (see `first_frame_inputs`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .filter_net import COEFFICIENTS, UNet, apply_colour_transform, bounded, pad_to_multiple

FEATURES = 16  # 4 inputs (3 + 3 + 3 + 1 channels) and 2 absolute differences (3 + 3), block-averaged


@dataclass
class RefinerConfig:
    widths: Tuple[int, ...] = (16, 32, 64)       # channels per level; the first level runs at 1/pool resolution
    pool: int = 4                                # block size of the input summaries
    context_dilations: Tuple[int, ...] = (2, 4)  # dilated residual convolutions in the bottleneck


def first_frame_inputs(filtered: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Arguments for the first frame of a shot, where no previous output exists: nothing to agree with."""
    mask = torch.zeros_like(filtered[:, :1])
    return filtered, filtered, filtered, mask


class LocalRefiner(nn.Module):
    """L(filtered_t, filtered_prev_warped, output_prev_warped, mask) -> output_t; N x 3 x H x W, mask N x 1 x H x W."""

    def __init__(self, config: RefinerConfig = RefinerConfig()):
        super().__init__()
        self.config = config
        self.unet = UNet(FEATURES, tuple(config.widths), tuple(config.context_dilations))
        self.head = nn.Conv2d(config.widths[0], COEFFICIENTS, 3, padding=1)
        nn.init.zeros_(self.head.weight)  # identity at initialisation: an untrained refiner is harmless
        nn.init.zeros_(self.head.bias)

    def summarise(self, filtered: torch.Tensor, filtered_prev: torch.Tensor, output_prev: torch.Tensor,
                  mask: torch.Tensor) -> torch.Tensor:
        """Block means of the inputs and of how much they disagree (flow errors show up as disagreement)."""
        features = torch.cat([
            filtered - 0.5, filtered_prev - 0.5, output_prev - 0.5, mask,
            mask * (filtered - output_prev).abs(), mask * (filtered - filtered_prev).abs(),
        ], dim=1)
        return F.avg_pool2d(features, self.config.pool)

    def forward(self, filtered_t: torch.Tensor, filtered_prev_warped: torch.Tensor,
                output_prev_warped: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if not (filtered_t.shape == filtered_prev_warped.shape == output_prev_warped.shape) \
                or filtered_t.ndim != 4 or filtered_t.shape[1] != 3:
            raise ValueError("filtered_t, filtered_prev_warped and output_prev_warped must all be N x 3 x H x W "
                             "of the same size")
        n, _, h, w = filtered_t.shape
        if mask.shape != (n, 1, h, w):
            raise ValueError(f"mask must be N x 1 x H x W = {(n, 1, h, w)}, got {tuple(mask.shape)}")
        multiple = self.config.pool * self.unet.multiple
        padded = [pad_to_multiple(x, multiple)[0] for x in (filtered_t, filtered_prev_warped, output_prev_warped, mask)]
        coefficients = bounded(self.head(self.unet(self.summarise(*padded))))
        full = F.interpolate(coefficients, size=padded[0].shape[-2:], mode="bilinear", align_corners=False)
        return apply_colour_transform(filtered_t, full[..., :h, :w])
