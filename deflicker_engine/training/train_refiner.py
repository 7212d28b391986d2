"""Train the local refiner L on synthetic flickering clips, unrolled over a few frames.

    python -m deflicker_engine.training.train_refiner [--steps N] [--data DIR] [--out PATH]

Clips come from photographs moved by a smooth random camera (and a pasted moving object), so flow and
occlusion are exact. O^f = clean frame x a small smooth per-frame gain field. Loss per frame:
    w_clean    * L1(O_t, clean_t)                               (supervised: the clips have clean frames)
  + w_temporal * L1 over the mask of (O_t - warp(O_{t-1}))     (the paper's flow-warped temporal loss)
  + w_recon    * L1(O_t, O^f_t)                                 (the paper's reconstruction to the filter output)
The refiner is fed a slightly wrong flow and mask now and then, as real optical flow is.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..device import resolve_device
from ..filtering.refiner_net import LocalRefiner, RefinerConfig, first_frame_inputs
from ..filtering.weights import REFINER_WEIGHTS
from . import data as D
from . import distortions as X
from .loop import optimise, psnr, run_meta, to_device
from .script import add_config_arguments, run_training, script_main


@dataclass
class TrainRefinerConfig:
    steps: int = 8000          # length of the learning-rate schedule (each step unrolls `frames` frames)
    batch: int = 16            # clips per step
    crop: int = 96             # clip side in pixels
    frames: int = 5            # frames per training clip
    lr: float = 1.5e-3         # peak learning rate (Adam), cosine decay to lr / 30
    warmup: int = 100
    w_clean: float = 1.0       # L1 to the clean frame
    w_temporal: float = 0.5    # masked L1 to the flow-warped previous output
    w_recon: float = 0.1       # L1 to the filter output O^f_t
    eval_every: int = 1000
    stop_at: int = 5000        # stop after this many steps of the `steps` schedule (0: run it all)
    val_clips: int = 24        # held-out clips made from kodak24
    val_frames: int = 8
    val_size: int = 192
    seed: int = 0
    threads: int = 2           # torch threads of the training process
    workers: int = 0           # processes making batches (0: in-process); results do not depend on it
    device: str = "auto"       # auto | cpu | cuda
    data: str = str(D.default_data_dir())
    out: str = str(REFINER_WEIGHTS)


def flow_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample image (N x C x H x W) at x + flow(x) (flow N x 2 x H x W, pixels), like analysis.flow.warp."""
    n, _, h, w = image.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=image.dtype, device=image.device),
                            torch.arange(w, dtype=image.dtype, device=image.device), indexing="ij")
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    return F.grid_sample(image, torch.stack([gx, gy], dim=-1), mode="bilinear", padding_mode="border",
                         align_corners=True)


def masked_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference over the pixels where mask is 1 (all channels)."""
    return ((a - b).abs() * mask).sum() / (mask.sum() * a.shape[1]).clamp_min(1.0)


def imperfect(flow: np.ndarray, mask: np.ndarray, rng: np.random.Generator):
    """What the refiner is shown: flow with a little smooth error, a mask that sometimes misses occlusions."""
    size = flow.shape[1]
    flow = flow.copy()
    mask = mask.copy()
    for t in range(1, len(flow)):
        if rng.random() < 0.5:
            flow[t] += X.smooth_field(rng, size, size, size / 3, 2) * rng.uniform(0.1, 0.8)
        if rng.random() < 0.2:
            mask[t] = np.maximum(mask[t], X.soft_blob(rng, size, size)[..., 0] > 0.5)
    return flow, mask


def clip_batch(pool: Sequence[np.ndarray], rng: np.random.Generator, batch: int, frames: int, size: int):
    """Tensors T x N x C x H x W: clean, filtered (O^f), true flow, true mask, shown flow, shown mask."""
    out: Dict[str, List[np.ndarray]] = {k: [] for k in ("clean", "filtered", "flow", "mask", "flow_in", "mask_in")}
    for _ in range(batch):
        clip = D.random_sequence(pool, rng, frames, size)
        flow_in, mask_in = imperfect(clip.flow, clip.mask, rng)
        out["clean"].append(clip.clean.transpose(0, 3, 1, 2))
        out["filtered"].append(D.flicker_sequence(clip.clean, rng).transpose(0, 3, 1, 2))
        out["flow"].append(clip.flow.transpose(0, 3, 1, 2))
        out["mask"].append(clip.mask[:, None])
        out["flow_in"].append(flow_in.transpose(0, 3, 1, 2))
        out["mask_in"].append(mask_in[:, None].astype(np.float32))
    return {k: torch.from_numpy(np.ascontiguousarray(np.stack(v, axis=1))) for k, v in out.items()}


def unroll(model: LocalRefiner, filtered: torch.Tensor, flow: torch.Tensor, mask: torch.Tensor) -> List[torch.Tensor]:
    """Run the refiner recurrently over T x N x 3 x H x W, warping with `flow` and trusting `mask`."""
    outputs = [model(*first_frame_inputs(filtered[0]))]
    for t in range(1, filtered.shape[0]):
        outputs.append(model(filtered[t], flow_warp(filtered[t - 1], flow[t]),
                             flow_warp(outputs[-1], flow[t]), mask[t]))
    return outputs


def clip_loss(outputs: List[torch.Tensor], b: Dict[str, torch.Tensor], cfg: TrainRefinerConfig) -> torch.Tensor:
    total = 0.0
    for t, out in enumerate(outputs):
        total = total + cfg.w_clean * (out - b["clean"][t]).abs().mean() \
                      + cfg.w_recon * (out - b["filtered"][t]).abs().mean()
        if t > 0:
            total = total + cfg.w_temporal * masked_l1(out, flow_warp(outputs[t - 1], b["flow"][t]), b["mask"][t])
    return total / len(outputs)


def temporal_error(frames: torch.Tensor, flow: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean over t >= 1 of the masked L1 between frame t and the warped frame t-1 (exact flow), [0, 1] images."""
    return float(np.mean([masked_l1(frames[t].clamp(0, 1), flow_warp(frames[t - 1].clamp(0, 1), flow[t]),
                                    mask[t]).item() for t in range(1, frames.shape[0])]))


def validation_clips(images: Sequence[np.ndarray], cfg: TrainRefinerConfig, seed: int = 4321) -> List[Dict]:
    """Fixed held-out clips (kodak24), the same for every run and every model."""
    rng = np.random.default_rng(seed)
    return [clip_batch(images, rng, 1, cfg.val_frames, cfg.val_size) for _ in range(cfg.val_clips)]


@torch.no_grad()
def evaluate(model: LocalRefiner, clips: Sequence[Dict]) -> Dict[str, float]:
    """Temporal error of clean (floor), O^f and output; PSNR vs clean of O^f and output."""
    model.eval()
    scores: Dict[str, List[float]] = {k: [] for k in ("temporal_clean", "temporal_input", "temporal_output",
                                                      "psnr_input", "psnr_output")}
    for b in clips:
        out = torch.stack(unroll(model, b["filtered"], b["flow_in"], b["mask_in"]))
        scores["temporal_clean"].append(temporal_error(b["clean"], b["flow"], b["mask"]))
        scores["temporal_input"].append(temporal_error(b["filtered"], b["flow"], b["mask"]))
        scores["temporal_output"].append(temporal_error(out, b["flow"], b["mask"]))
        scores["psnr_input"].append(psnr(b["filtered"].flatten(0, 1), b["clean"].flatten(0, 1)))
        scores["psnr_output"].append(psnr(out.flatten(0, 1), b["clean"].flatten(0, 1)))
    model.train()
    return {k: round(float(np.mean(v)), 5 if k.startswith("temporal") else 3) for k, v in scores.items()}


def train(cfg: TrainRefinerConfig, log: Callable[[str], None] = tqdm.write) -> Dict[str, Any]:
    """Run the whole training; write the checkpoint to cfg.out; return its meta data."""
    device = resolve_device(cfg.device)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    train_paths, val_paths = D.list_images(Path(cfg.data))
    log(f"refiner: {len(train_paths)} training pictures, {len(val_paths)} held out; loading...")
    pool = D.load_pool(train_paths)
    clips = [to_device(clip, device) for clip in validation_clips(D.load_pool(val_paths, 384), cfg)] if val_paths else []

    net_config = RefinerConfig()
    model = LocalRefiner(net_config).to(device)
    meta = run_meta("LocalRefiner", model, cfg, train_paths, val_paths)

    def loss_of(b: Dict[str, torch.Tensor]) -> torch.Tensor:
        return clip_loss(unroll(model, b["filtered"], b["flow_in"], b["mask_in"]), b, cfg)

    make = partial(clip_batch, pool, batch=cfg.batch, frames=cfg.frames, size=cfg.crop)
    return optimise(model, net_config, cfg, "refiner", make, loss_of, lambda: evaluate(model, clips) if clips else {},
                    lambda scores: "  ".join(f"{k} {v}" for k, v in scores.items()), meta, log, device)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per TrainRefinerConfig field (shared by `python -m` and `deflicker train refiner`)."""
    add_config_arguments(parser, TrainRefinerConfig)


def run(args: argparse.Namespace) -> int:
    return run_training(args, TrainRefinerConfig, train)


def main(argv: Optional[List[str]] = None) -> int:
    return script_main(argv, "python -m deflicker_engine.training.train_refiner",
                       "Train the local refiner on synthetic flickering clips.", TrainRefinerConfig, train)


if __name__ == "__main__":
    sys.exit(main())
