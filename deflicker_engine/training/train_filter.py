"""Train the neural filter F on still photographs: input tau_a(X), atlas tau_s(X), target X, L2 loss.

    python -m deflicker_engine.training.train_filter [--steps N] [--data DIR] [--out PATH]

Reproducible: one seed fixes the initialisation, the crops and the distortions. kodak24 is held out and
reported as PSNR of the input and of the output against the clean picture.
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

from ..filtering.filter_net import FilterConfig, NeuralFilter
from ..device import resolve_device
from ..filtering.weights import FILTER_WEIGHTS
from .loop import optimise, psnr, run_meta
from .script import add_config_arguments, run_training, script_main
from . import data as D


@dataclass
class TrainFilterConfig:
    steps: int = 12000         # optimisation steps
    batch: int = 24            # crops per step
    crop: int = 128            # training crop side (taken from a 1x to 1.6x larger window)
    lr: float = 1e-3           # peak learning rate (Adam), cosine decay to lr / 30
    warmup: int = 100          # linear warm-up steps
    eval_every: int = 1000     # steps between validations (and checkpoint saves)
    stop_at: int = 0           # stop after this many steps of the `steps` schedule (0: run it all)
    val_side: int = 384        # long side of the held-out kodak24 pictures
    seed: int = 0
    threads: int = 2           # torch threads of the training process
    workers: int = 0           # processes making batches (0: in-process); results do not depend on it
    device: str = "auto"       # auto | cpu | cuda
    data: str = str(D.default_data_dir())
    out: str = str(FILTER_WEIGHTS)


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """H x W x 3 -> 1 x 3 x H x W, or N x 3 x H x W passed through."""
    t = torch.from_numpy(np.ascontiguousarray(array))
    return t.permute(2, 0, 1)[None] if t.ndim == 3 else t


@torch.no_grad()
def evaluate(model: NeuralFilter, cases: Sequence, device: torch.device = torch.device("cpu")) -> Dict[str, float]:
    """PSNR (dB) of the distorted input, the flawed atlas and the filter output against the clean picture."""
    model.eval()
    scores: Dict[str, List[float]] = {"input": [], "atlas": [], "output": []}
    for frame, atlas, clean in cases:
        f, a, c = (to_tensor(x).to(device) for x in (frame, atlas, clean))
        scores["input"].append(psnr(f, c))
        scores["atlas"].append(psnr(a, c))
        scores["output"].append(psnr(model(f, a), c))
    model.train()
    return {f"psnr_{k}": round(float(np.mean(v)), 3) for k, v in scores.items()}


def train(cfg: TrainFilterConfig, log: Callable[[str], None] = tqdm.write) -> Dict[str, Any]:
    """Run the whole training; write the checkpoint to cfg.out; return its meta data."""
    device = resolve_device(cfg.device)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    train_paths, val_paths = D.list_images(Path(cfg.data))
    log(f"filter: {len(train_paths)} training pictures, {len(val_paths)} held out; loading...")
    pool = D.load_pool(train_paths)
    cases = D.validation_filter_cases(D.load_pool(val_paths, cfg.val_side)) if val_paths else []

    net_config = FilterConfig()
    model = NeuralFilter(net_config).to(device)
    meta = run_meta("NeuralFilter", model, cfg, train_paths, val_paths)

    def loss_of(batch) -> torch.Tensor:
        frames, atlases, targets = batch
        return F.mse_loss(model(frames, atlases), targets)

    return optimise(model, net_config, cfg, "filter", partial(D.filter_batch, pool, batch=cfg.batch, size=cfg.crop),
                    loss_of, lambda: evaluate(model, cases, device) if cases else {},
                    lambda scores: "kodak24 " + "  ".join(f"{k} {v:.2f}" for k, v in scores.items()), meta, log,
                    device)


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
