"""Pass two over a shot: every frame's target at the working size, in order, with the whole shot known.

For each frame, the normalised atlas frame carrying the shot's genuine change is the look to reach; the
neural filter moves the frame there (structure from the frame, appearance from the atlas) and is anchored
to it; the refiner runs recurrently; consolidation runs forward with its state carried and backward over
a tail of frames ahead (its weights fall as strength^k, so `consolidate.reach(strength)` frames ahead
stand in for the rest of the shot); where the shot does not flicker the target falls back to the frame
itself (`gate`); black-and-white input stays exactly neutral. Only the chunk in hand and its tail are held,
so memory does not grow with the shot.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, List, Optional, Tuple

import numpy as np
import torch

from .. import ops
from ..analysis.flow import make_flow_engine, normalised_gray, pair_flows
from ..ops import Array
from .anchor import anchor_to_atlas, look_where_atlas_holds
from .consolidate import TOLERANCE, carry, combine, reach

CHUNK = 32           # frames finalised at a time
Observer = Callable[[str, int, Array], None]
NETWORK_BATCH = 4


@dataclass
class _Frame:
    """What pass two holds of one frame while it is in flight (numpy on a CPU, tensors on a GPU: see ops)."""

    image: Array                               # working input, float32 (values beyond [0, 1] kept)
    index: int = 0                             # shot frame
    atlas: Optional[Array] = None              # the look to reach
    filtered: Optional[Array] = None
    refined: Optional[Array] = None
    forward: Optional[Tuple[Array, Array]] = None   # forward consolidation: running mean, frames it stands for
    to_previous: Optional[Tuple[Array, Array]] = None   # flow t -> t-1 and its mask
    to_next: Optional[Tuple[Array, Array]] = None       # flow t -> t+1 and its mask
    gray: Optional[np.ndarray] = field(default=None, repr=False)


def to_batch(frames: List[Array], device: torch.device) -> torch.Tensor:
    """H x W x 3 frames (numpy or tensors) -> N x 3 x H x W on `device`, for the networks."""
    if ops.is_torch(frames[0]):
        return torch.stack(frames).permute(0, 3, 1, 2).to(device)
    return torch.from_numpy(np.ascontiguousarray(np.stack(frames), dtype=np.float32)).permute(0, 3, 1, 2).to(device)


def from_batch(x: torch.Tensor, like: Array) -> List[Array]:
    """N x 3 x H x W network output -> frames held like `like` (numpy, or tensors where it lives)."""
    x = x.permute(0, 2, 3, 1)
    if ops.is_torch(like):
        return list(x.to(like.device))
    return list(x.float().cpu().numpy())


class ShotFinaliser:
    """Targets of one shot from its frames (working size, in order) and what pass one decided.

    `look(t)` gives the atlas frame to reach for shot frame t (None: no atlas, the frame is its own look);
    `gate` (H x W x 1 or None) the share of the correction to keep per pixel; `neutral` keeps R = G = B;
    `consolidation` and `tolerance` are the temporal blend's strength and its real-change threshold.
    `observe(stage, t, image)`, when given, sees each frame at each stage ("look", "look given", "filtered",
    "refined", "target"): for diagnostics (benchmarks/stages.py), it must not keep the image.
    """

    def __init__(self, look: Callable[[int], Optional[np.ndarray]], gate: Optional[np.ndarray], neutral: bool,
                 filter_net: torch.nn.Module, refiner: Optional[torch.nn.Module], consolidation: float,
                 device: torch.device, on_frame: Callable[[int], None] = lambda t: None,
                 chunk: int = CHUNK, tail: Optional[int] = None, tensors: Optional[bool] = None,
                 tolerance: float = TOLERANCE, observe: Optional[Observer] = None) -> None:
        self.look, self.gate, self.neutral = look, gate, neutral
        self.observe = observe
        self.filter_net, self.refiner, self.consolidation = filter_net, refiner, consolidation
        self.tolerance = tolerance
        self.device = device
        self.on_frame = on_frame              # called before each frame's work: cancellation, progress
        self.chunk = chunk                    # a chunk past the end of the shot: the whole shot at once
        self.tail = reach(consolidation) if tail is None else tail   # frames ahead the backward pass starts from
        self.tensors = ops.holds_tensors(device) if tensors is None else tensors   # True: the GPU form
        self._flow_engine = make_flow_engine()

    def run(self, frames: Iterable[np.ndarray]) -> Iterator[Tuple[int, Array]]:
        """Yield (shot frame, target) in order: a float16 array on a CPU, a float32 tensor on a GPU."""
        held: List[_Frame] = []               # frames not yet final, oldest first
        first = 0                             # shot index of held[0]
        previous: Optional[_Frame] = None     # the last frame that left, for the recurrences
        batch: List[_Frame] = []
        count = 0
        device = self.device
        for image in frames:
            self.on_frame(count)
            image = np.asarray(image, dtype=np.float32)
            frame = _Frame(ops.as_device(image, device, self.tensors), index=count)
            frame.gray = normalised_gray(image.clip(0, 1))
            last = batch[-1] if batch else (held[-1] if held else previous)
            if last is not None:
                fwd, bwd, mf, mb = (ops.as_device(x, device, self.tensors) for x in
                                    pair_flows(last.gray, frame.gray, self._flow_engine))
                last.to_next = (fwd, mf)
                frame.to_previous = (bwd, mb)
                last.gray = None
            look = self.look(count)
            frame.atlas = None if look is None else look_where_atlas_holds(
                frame.image, ops.as_device(look, device, self.tensors))
            if self.observe is not None and look is not None:
                self.observe("look", count, look)
                self.observe("look given", count, frame.atlas)
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
            clipped = [ops.clip(f.image, 0, 1) for f in batch]
            filtered = from_batch(self.filter_net(to_batch(clipped, self.device),
                                                  to_batch([f.atlas for f in batch], self.device)), batch[0].image)
            for f, out, inside in zip(batch, filtered, clipped):
                # the networks see [0, 1]; values beyond (EXR highlights) keep the correction of their clipped value
                f.filtered = anchor_to_atlas(f.image + (out - inside), f.atlas)
        prev = before
        for f in batch:
            f.refined = self._refine(f, prev)
            if self.observe is not None:
                self.observe("filtered", f.index, f.filtered)
                self.observe("refined", f.index, f.refined)
            f.forward = self._carry(f.refined, prev.forward if prev is not None else None, f.to_previous)
            if prev is not None:   # only the next frame's refiner needed them: the tail holds less
                prev.atlas = prev.filtered = None
            prev = f

    def _refine(self, f: _Frame, prev: Optional[_Frame]) -> np.ndarray:
        if self.refiner is None or prev is None or f.to_previous is None:
            return f.filtered
        to_prev, mask = f.to_previous
        current = ops.clip(f.filtered, 0, 1)
        inputs = [current, ops.warp(ops.clip(prev.filtered, 0, 1), to_prev),
                  ops.warp(ops.clip(prev.refined, 0, 1), to_prev), mask[..., None]]
        tensors = [to_batch([x], self.device) for x in inputs]
        refined = from_batch(self.refiner(*tensors), f.filtered)[0]
        return f.filtered + (refined - current)

    def _carry(self, current: Array, state: Optional[Tuple[Array, Array]],
               flow: Optional[Tuple[Array, Array]]) -> Tuple[Array, Array]:
        """One step of a consolidation pass: a neighbour's (running mean, weight) carried onto `current`."""
        return carry(current, *(state or (None, None)), flow, self.consolidation, self.tolerance)

    def _finalise(self, held: List[_Frame], first: int, count: int) -> Iterator[Tuple[int, Array]]:
        """The first `count` held frames: backward consolidation from the newest held frame, then the
        forward/backward mean, the gate and neutrality."""
        backward: List[Optional[Tuple[Array, Array]]] = [None] * len(held)
        after = None
        for k in range(len(held) - 1, -1, -1):
            after = self._carry(held[k].refined, after, held[k].to_next)
            backward[k] = after
        for k in range(count):
            f = held[k]
            target = combine(*f.forward, *backward[k]) if self.consolidation > 0 else f.refined
            if self.gate is not None:
                target = f.image + self._gate(target) * (target - f.image)
            if self.neutral:
                grey = ops.channel_mean(target)
                target = grey.expand(-1, -1, 3) if ops.is_torch(grey) else np.repeat(grey, 3, axis=2)
            target = target if ops.is_torch(target) else target.astype(np.float16)
            if self.observe is not None:
                self.observe("target", first + k, target)
            yield first + k, target

    def _gate(self, like: Array) -> Array:
        if ops.is_torch(like) and not ops.is_torch(self.gate):
            self.gate = ops.as_device(self.gate, like.device, True)
        return self.gate
