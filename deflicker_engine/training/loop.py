"""The optimisation both networks share: Adam with warm-up and cosine decay, clipped gradients, a running
loss, and a validated checkpoint every `eval_every` steps, so a long run can be stopped and still used.

Each training script supplies only what differs: how a step's loss is computed, how the held-out set is
scored, and the checkpoint's meta data.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Dict, List

import torch
import torch.nn as nn
from tqdm import tqdm

from ..filtering.weights import save_checkpoint


def learning_rate(step: int, cfg: Any) -> float:
    """Linear warm-up over cfg.warmup steps, then cosine decay from cfg.lr to cfg.lr / 30."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr / 30 + (cfg.lr - cfg.lr / 30) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over the batch of per-image PSNR in dB, images in [0, 1]."""
    mse = ((a.clamp(0, 1) - b) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return float((10 * torch.log10(1.0 / mse)).mean())


def run_meta(network: str, model: nn.Module, cfg: Any, train_paths: List[Path], val_paths: List[Path]) -> Dict:
    """What a checkpoint records about its training run (the config without local paths)."""
    return {
        "network": network, "parameters": sum(p.numel() for p in model.parameters()),
        "train": {k: v for k, v in asdict(cfg).items() if k not in ("data", "out")},
        "train_images": len(train_paths), "validation_images": len(val_paths),
        "sets": sorted({p.relative_to(Path(cfg.data)).parts[0] for p in train_paths}),
        "torch": str(torch.__version__),
    }


def optimise(model: nn.Module, net_config: Any, cfg: Any, name: str, loss_at: Callable[[int], torch.Tensor],
             validate: Callable[[], Dict[str, float]], summary: Callable[[Dict[str, float]], str],
             meta: Dict[str, Any], log: Callable[[str], None]) -> Dict[str, Any]:
    """Run cfg.steps steps of `loss_at(step)`; validate, log and checkpoint to cfg.out every cfg.eval_every
    steps and at the end; return the meta data of the last checkpoint."""
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    started = time.perf_counter()
    running = None
    bar = tqdm(range(cfg.steps), desc=name, dynamic_ncols=True, mininterval=5.0)
    for step in bar:
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(step, cfg)
        loss = loss_at(step)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        bar.set_postfix(loss=f"{running:.5f}")
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            scores = validate()
            meta.update(steps_done=step + 1, loss=round(running, 6), wall_s=round(time.perf_counter() - started, 1),
                        validation=scores)
            log(f"{name} step {step + 1}: loss {running:.5f}  {summary(scores)}")
            save_checkpoint(cfg.out, model, net_config, meta)
    return meta
