"""Pass two over a shot: every frame's target at the working size, in order, with the whole shot known.

For each frame, the normalised atlas frame carrying the shot's genuine change is the look to reach; the
neural filter moves the frame there (structure from the frame, appearance from the atlas) and is anchored
to it; the refiner runs recurrently; consolidation runs forward with its state carried and backward over
a short tail of frames ahead (its weights fall as 0.8^k, so TAIL frames ahead stand in for the rest of the
shot); where the shot does not flicker the target falls back to the frame itself (`gate`); black-and-white
input stays exactly neutral. Only the chunk in hand and its tail are held, so memory does not grow with
the shot.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, List, Optional, Tuple

import cv2
import numpy as np
import torch

from ..analysis.flow import make_flow_engine, normalised_gray, pair_flows, warp
from .anchor import anchor_to_atlas
from .consolidate import TOLERANCE, blend_weight

TAIL = 24            # frames ahead that the backward consolidation starts from (0.8^24: half a percent)
CHUNK = 32           # frames finalised at a time
NETWORK_BATCH = 4


@dataclass
class _Frame:
    """What pass two holds of one frame while it is in flight."""

    image: np.ndarray                          # working input, float32 (values beyond [0, 1] kept)
    atlas: Optional[np.ndarray] = None         # the look to reach
    filtered: Optional[np.ndarray] = None
    refined: Optional[np.ndarray] = None
    forward: Optional[np.ndarray] = None       # forward consolidation
    to_previous: Optional[Tuple[np.ndarray, np.ndarray]] = None   # flow t -> t-1 and its mask
    to_next: Optional[Tuple[np.ndarray, np.ndarray]] = None       # flow t -> t+1 and its mask
    gray: Optional[np.ndarray] = field(default=None, repr=False)


def to_tensor(x: np.ndarray, device: torch.device) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    return (x.permute(0, 3, 1, 2) if x.ndim == 4 else x[:, None]).to(device)


def to_numpy(x: torch.Tensor) -> np.ndarray:
    return x.permute(0, 2, 3, 1).float().cpu().numpy()


class ShotFinaliser:
    """Targets of one shot from its frames (working size, in order) and what pass one decided.

    `look(t)` gives the atlas frame to reach for shot frame t (None: no atlas, the frame is its own look);
    `gate` (H x W x 1 or None) the share of the correction to keep per pixel; `neutral` keeps R = G = B.
    """

    def __init__(self, look: Callable[[int], Optional[np.ndarray]], gate: Optional[np.ndarray], neutral: bool,
                 filter_net: torch.nn.Module, refiner: Optional[torch.nn.Module], consolidation: float,
                 device: torch.device, on_frame: Callable[[int], None] = lambda t: None,
                 chunk: int = CHUNK, tail: int = TAIL) -> None:
        self.look, self.gate, self.neutral = look, gate, neutral
        self.filter_net, self.refiner, self.consolidation = filter_net, refiner, consolidation
        self.device = device
        self.on_frame = on_frame              # called before each frame's work: cancellation, progress
        self.chunk, self.tail = chunk, tail   # a chunk past the end of the shot: the whole shot at once
        self._flow_engine = make_flow_engine()

    def run(self, frames: Iterable[np.ndarray]) -> Iterator[Tuple[int, np.ndarray]]:
        """Yield (shot frame, float16 target) in order."""
        held: List[_Frame] = []               # frames not yet final, oldest first
        first = 0                             # shot index of held[0]
        previous: Optional[_Frame] = None     # the last frame that left, for the recurrences
        batch: List[_Frame] = []
        count = 0
        for image in frames:
            self.on_frame(count)
            frame = _Frame(np.asarray(image, dtype=np.float32))
            frame.gray = normalised_gray(frame.image.clip(0, 1))
            last = batch[-1] if batch else (held[-1] if held else previous)
            if last is not None:
                fwd, bwd, mf, mb = pair_flows(last.gray, frame.gray, self._flow_engine)
                last.to_next = (fwd, mf)
                frame.to_previous = (bwd, mb)
                last.gray = None
            frame.atlas = self.look(count)
            batch.append(frame)
            count += 1
            if len(batch) == NETWORK_BATCH:
                self._advance(batch, held[-1] if held else previous)
                held += batch
                batch = []
                while len(held) >= self.chunk + self.tail:
                    for t, target in self._finalise(held, first, self.chunk):
                        yield t, target
                    previous = held[self.chunk - 1]
                    del held[:self.chunk]
                    first += self.chunk
        if batch:
            self._advance(batch, held[-1] if held else previous)
            held += batch
        for t, target in self._finalise(held, first, len(held)):
            yield t, target

    # ---------------------------------------------------------------------------------------- stages

    @torch.no_grad()
    def _advance(self, batch: List[_Frame], before: Optional[_Frame]) -> None:
        """Filter a batch, then refine and consolidate it forward, frame by frame."""
        if batch[0].atlas is None:
            for f in batch:
                f.filtered = f.image
        else:
            images = np.stack([f.image for f in batch])
            atlases = np.stack([f.atlas for f in batch])
            filtered = to_numpy(self.filter_net(to_tensor(images.clip(0, 1), self.device),
                                                to_tensor(atlases, self.device)))
            # the networks see [0, 1]; values beyond (EXR highlights) keep the correction of their clipped value
            corrected = images + (filtered - images.clip(0, 1))
            for f, frame, atlas in zip(batch, corrected, atlases):
                f.filtered = anchor_to_atlas(frame, atlas)
        prev = before
        for f in batch:
            f.refined = self._refine(f, prev)
            f.forward = self._blend(f.refined, prev.forward if prev is not None else None, f.to_previous)
            prev = f

    def _refine(self, f: _Frame, prev: Optional[_Frame]) -> np.ndarray:
        if self.refiner is None or prev is None or f.to_previous is None:
            return f.filtered
        to_prev, mask = f.to_previous
        current = f.filtered.clip(0, 1)
        inputs = [current, warp(prev.filtered.clip(0, 1), to_prev), warp(prev.refined.clip(0, 1), to_prev)]
        tensors = [to_tensor(x[None], self.device) for x in inputs]
        refined = to_numpy(self.refiner(*tensors, to_tensor(mask[None].astype(np.float32), self.device)))[0]
        return f.filtered + (refined - current)

    def _blend(self, current: np.ndarray, previous: Optional[np.ndarray],
               flow: Optional[Tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """One step of the consolidation recursion: `previous` (a neighbour's result) warped onto `current`."""
        if self.consolidation <= 0 or previous is None or flow is None:
            return current
        # bicubic: a recursion re-warps its own output, and bilinear blur would pile up frame after frame
        warped = warp(previous, flow[0], interpolation=cv2.INTER_CUBIC)
        weight = blend_weight(current, warped, flow[1], self.consolidation, TOLERANCE)
        return current + weight * (warped - current)

    def _finalise(self, held: List[_Frame], first: int, count: int) -> Iterator[Tuple[int, np.ndarray]]:
        """The first `count` held frames: backward consolidation from the newest held frame, then the
        forward/backward mean, the gate and neutrality."""
        backward: List[Optional[np.ndarray]] = [None] * len(held)
        after = None
        for k in range(len(held) - 1, -1, -1):
            f = held[k]
            after = self._blend(f.refined, after, f.to_next if k + 1 < len(held) else None)
            backward[k] = after
        for k in range(count):
            f = held[k]
            target = 0.5 * (f.forward + backward[k]) if self.consolidation > 0 else f.refined
            if self.gate is not None:
                target = f.image + self.gate * (target - f.image)
            if self.neutral:
                target = np.repeat(target.mean(axis=2, keepdims=True), 3, axis=2)
            yield first + k, target.astype(np.float16)
