"""Train the neural filter F on still photographs: input tau_a(X), atlas tau_s(X), target X, L2 loss.

    python -m deflicker_engine.training.train_filter [--steps N] [--data DIR] [--out PATH]

Reproducible: one seed fixes the initialisation, the crops and the distortions. kodak24 is held out and
reported as PSNR of the input and of the output against the clean picture.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..filtering.filter_net import FilterConfig, NeuralFilter
from ..filtering.weights import FILTER_WEIGHTS, save_checkpoint
from .script import add_config_arguments, run_training, script_main
from . import data as D


@dataclass
class TrainFilterConfig:
    steps: int = 6000          # optimisation steps
    batch: int = 12            # crops per step
    crop: int = 128            # training crop side (taken from a 1x to 1.6x larger window)
    lr: float = 1e-3           # peak learning rate (Adam), cosine decay to lr / 30
    warmup: int = 100          # linear warm-up steps
    eval_every: int = 500      # steps between validations (and checkpoint saves)
    val_side: int = 384        # long side of the held-out kodak24 pictures
    seed: int = 0
    threads: int = 2
    data: str = str(D.default_data_dir())
    out: str = str(FILTER_WEIGHTS)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over the batch of per-image PSNR in dB, images in [0, 1]."""
    mse = ((a.clamp(0, 1) - b) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return float((10 * torch.log10(1.0 / mse)).mean())


def learning_rate(step: int, cfg: TrainFilterConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr / 30 + (cfg.lr - cfg.lr / 30) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """H x W x 3 -> 1 x 3 x H x W, or N x 3 x H x W passed through."""
    t = torch.from_numpy(np.ascontiguousarray(array))
    return t.permute(2, 0, 1)[None] if t.ndim == 3 else t


@torch.no_grad()
def evaluate(model: NeuralFilter, cases: Sequence) -> Dict[str, float]:
    """PSNR (dB) of the distorted input, the flawed atlas and the filter output against the clean picture."""
    model.eval()
    scores: Dict[str, List[float]] = {"input": [], "atlas": [], "output": []}
    for frame, atlas, clean in cases:
        f, a, c = to_tensor(frame), to_tensor(atlas), to_tensor(clean)
        scores["input"].append(psnr(f, c))
        scores["atlas"].append(psnr(a, c))
        scores["output"].append(psnr(model(f, a), c))
    model.train()
    return {f"psnr_{k}": round(float(np.mean(v)), 3) for k, v in scores.items()}


def train(cfg: TrainFilterConfig, log: Callable[[str], None] = tqdm.write) -> Dict[str, Any]:
    """Run the whole training; write the checkpoint to cfg.out; return its meta data."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    train_paths, val_paths = D.list_images(Path(cfg.data))
    log(f"filter: {len(train_paths)} training pictures, {len(val_paths)} held out; loading...")
    pool = D.load_pool(train_paths)
    cases = D.validation_filter_cases(D.load_pool(val_paths, cfg.val_side)) if val_paths else []

    net_config = FilterConfig()
    model = NeuralFilter(net_config)
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    meta: Dict[str, Any] = {
        "network": "NeuralFilter", "parameters": sum(p.numel() for p in model.parameters()),
        "train": {k: v for k, v in asdict(cfg).items() if k not in ("data", "out")},
        "train_images": len(train_paths), "validation_images": len(val_paths),
        "sets": sorted({p.relative_to(Path(cfg.data)).parts[0] for p in train_paths}),
        "torch": str(torch.__version__),
    }
    started = time.perf_counter()
    running = None
    bar = tqdm(range(cfg.steps), desc="filter", dynamic_ncols=True, mininterval=5.0)
    for step in bar:
        frames, atlases, targets = (torch.from_numpy(x) for x in D.filter_batch(pool, rng, cfg.batch, cfg.crop))
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(step, cfg)
        loss = F.mse_loss(model(frames, atlases), targets)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        bar.set_postfix(loss=f"{running:.5f}")
        last = step + 1 == cfg.steps
        if (step + 1) % cfg.eval_every == 0 or last:
            scores = evaluate(model, cases) if cases else {}
            meta.update(steps_done=step + 1, loss=round(running, 6), wall_s=round(time.perf_counter() - started, 1),
                        validation=scores)
            log(f"filter step {step + 1}: loss {running:.5f}  kodak24 " +
                "  ".join(f"{k} {v:.2f}" for k, v in scores.items()))
            save_checkpoint(cfg.out, model, net_config, meta)
    return meta


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per TrainFilterConfig field (shared by `python -m` and `deflicker train filter`)."""
    add_config_arguments(parser, TrainFilterConfig)


def run(args: argparse.Namespace) -> int:
    return run_training(args, TrainFilterConfig, train)


def main(argv: Optional[List[str]] = None) -> int:
    return script_main(argv, "python -m deflicker_engine.training.train_filter",
                       "Train the neural filter on still photographs.", TrainFilterConfig, train)


if __name__ == "__main__":
    sys.exit(main())
