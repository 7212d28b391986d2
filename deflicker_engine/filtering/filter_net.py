"""The neural filter F(I_t, A_t) -> O^f_t: structure from the frame, appearance from the atlas frame.

A small U-Net looks at the frame and the (structurally flawed) atlas frame side by side and predicts, for
every pixel, a colour transform of the frame: O = I + dM(x) (I - 1/2) + b(x), with a 3x3 matrix dM and an
offset b. The correction is a residual of the frame, so the frame's detail and grain pass through untouched
(the filter cannot soften the picture), and the last layer starts at zero, so an untrained filter is the
identity. The U-Net runs at half resolution (pixel-unshuffle keeps every input sample) and its bottleneck
adds dilated convolutions and a global summary: appearance is low-frequency, and colour has to travel from
where the atlas is reliable into where it is broken.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

COEFFICIENTS = 12  # a 3x3 colour matrix and an offset per pixel


@dataclass
class FilterConfig:
    widths: Tuple[int, ...] = (16, 32, 64, 128)  # channels per U-Net level, each level at half the resolution
    stem: int = 2                                 # pixel-unshuffle factor in front of the U-Net
    context_dilations: Tuple[int, ...] = (2, 4)   # dilated residual convolutions in the bottleneck


# ---------------------------------------------------------------------------------------------- parts

def conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation)


class ConvAct(nn.Sequential):
    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1):
        super().__init__(conv(cin, cout, stride, dilation), nn.LeakyReLU(0.1, inplace=True))


class Down(nn.Sequential):
    """Halve the resolution, change the width, then one more convolution."""

    def __init__(self, cin: int, cout: int):
        super().__init__(ConvAct(cin, cout, stride=2), ConvAct(cout, cout))


class Up(nn.Module):
    """Double the resolution and merge the skip connection by addition (cheaper than concatenation)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.project = nn.Conv2d(cin, cout, 1)
        self.fuse = ConvAct(cout, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(self.project(x), size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(x + skip)


class DilatedBlock(nn.Module):
    """Residual dilated convolution: a wide receptive field at the bottleneck for little cost."""

    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.body = ConvAct(width, width, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class GlobalContext(nn.Module):
    """Add a whole-image summary to every position, so a colour cast seen anywhere informs everywhere."""

    def __init__(self, width: int):
        super().__init__()
        self.mix = nn.Sequential(nn.Linear(width, width), nn.LeakyReLU(0.1, inplace=True), nn.Linear(width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(x.mean(dim=(2, 3)))[:, :, None, None]


class UNet(nn.Module):
    """Encoder-decoder with additive skips and a context bottleneck; same resolution out as in."""

    def __init__(self, cin: int, widths: Tuple[int, ...], dilations: Tuple[int, ...]):
        super().__init__()
        self.inp = nn.Sequential(ConvAct(cin, widths[0]), ConvAct(widths[0], widths[0]))
        self.downs = nn.ModuleList(Down(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.context = nn.Sequential(*[DilatedBlock(widths[-1], d) for d in dilations], GlobalContext(widths[-1]))
        self.ups = nn.ModuleList(Up(b, a) for a, b in zip(widths[:-1], widths[1:]))
        self.multiple = 2 ** (len(widths) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.inp(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        x = self.context(skips.pop())
        for up in reversed(self.ups):
            x = up(x, skips.pop())
        return x


def pad_to_multiple(x: torch.Tensor, multiple: int) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Pad bottom/right so H and W divide by `multiple` (reflect where possible); return the original size."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


def bounded(raw: torch.Tensor) -> torch.Tensor:
    """Keep the colour transform sane whatever the head says: |dM| < 2, |b| < 1 (tanh, slope 1 and 0 at 0)."""
    return torch.cat([2 * torch.tanh(raw[:, :9] / 2), torch.tanh(raw[:, 9:])], dim=1)


def apply_colour_transform(image: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    """image + dM (image - 1/2) + b, per pixel; coefficients N x 12 x h x w at any resolution (upsampled)."""
    if coefficients.shape[-2:] != image.shape[-2:]:
        coefficients = F.interpolate(coefficients, size=image.shape[-2:], mode="bilinear", align_corners=False)
    n, _, h, w = image.shape
    matrix = coefficients[:, :9].reshape(n, 3, 3, h, w)
    offset = coefficients[:, 9:12]
    centred = image - 0.5
    return image + (matrix * centred[:, None]).sum(dim=2) + offset


# ---------------------------------------------------------------------------------------------- network

class NeuralFilter(nn.Module):
    """F(frame, atlas) -> filtered; N x 3 x H x W in [0, 1] working encoding, any H and W."""

    def __init__(self, config: FilterConfig = FilterConfig()):
        super().__init__()
        self.config = config
        s = config.stem
        self.unet = UNet(6 * s * s, tuple(config.widths), tuple(config.context_dilations))
        self.head = nn.Conv2d(config.widths[0], COEFFICIENTS, 3, padding=1)
        nn.init.zeros_(self.head.weight)  # identity at initialisation: an untrained filter is harmless
        nn.init.zeros_(self.head.bias)

    def forward(self, frame: torch.Tensor, atlas: torch.Tensor) -> torch.Tensor:
        if frame.shape != atlas.shape or frame.ndim != 4 or frame.shape[1] != 3:
            raise ValueError(f"frame and atlas must both be N x 3 x H x W, got {tuple(frame.shape)} "
                             f"and {tuple(atlas.shape)}")
        x, (h, w) = pad_to_multiple(torch.cat([frame, atlas], dim=1) - 0.5, self.config.stem * self.unet.multiple)
        features = self.unet(F.pixel_unshuffle(x, self.config.stem))
        coefficients = bounded(self.head(features))
        full = F.interpolate(coefficients, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return apply_colour_transform(frame, full[..., :h, :w])
