"""The optimisation both networks share: Adam with warm-up and cosine decay, clipped gradients, a running
loss, and a validated checkpoint every `eval_every` steps, so a long run can be stopped and still used.

Each training script supplies only what differs: how a batch is made, how a batch's loss is computed, how the
held-out set is scored, and the checkpoint's meta data. Batch i is made from its own generator, seeded by
(seed, i), so a run gives the same batches whether they are made in-process or by any number of worker
processes (`workers`), which is what keeps a GPU fed.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset
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


def device_name(device: torch.device) -> str:
    """What trained it, for the checkpoint: the GPU's name, or the CPU's thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def run_meta(network: str, model: nn.Module, cfg: Any, train_paths: List[Path], val_paths: List[Path]) -> Dict:
    """What a checkpoint records about its training run (the config without local paths)."""
    return {
        "network": network, "parameters": sum(p.numel() for p in model.parameters()),
        "train": {k: v for k, v in asdict(cfg).items() if k not in ("data", "out")},
        "train_images": len(train_paths), "validation_images": len(val_paths),
        "sets": sorted({p.relative_to(Path(cfg.data)).parts[0] for p in train_paths}),
        "torch": str(torch.__version__),
    }


class StepBatches(Dataset):
    """Batch `step` of a run: `make(generator)` with a generator seeded by (seed, step)."""

    def __init__(self, make: Callable[[np.random.Generator], Any], seed: int, steps: int):
        self.make, self.seed, self.steps = make, seed, steps

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int) -> Any:
        return self.make(np.random.default_rng([self.seed, step]))


def _single_threaded_worker(_: int) -> None:
    """Worker processes make one batch each at a time: threads inside them only fight each other."""
    import cv2
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def batches(make: Callable[[np.random.Generator], Any], cfg: Any, device: torch.device) -> Iterator[Any]:
    """The run's batches in step order, made in-process (cfg.workers == 0) or by cfg.workers processes."""
    data = StepBatches(make, cfg.seed, cfg.steps)
    if cfg.workers <= 0:
        return (data[step] for step in range(cfg.steps))
    # spawned, not forked: a fork of a process whose OpenCV / OpenMP thread pools already run can deadlock
    return iter(DataLoader(data, batch_size=None, shuffle=False, num_workers=cfg.workers, prefetch_factor=4,
                           pin_memory=device.type == "cuda", worker_init_fn=_single_threaded_worker,
                           multiprocessing_context="spawn"))


def to_device(batch: Any, device: torch.device) -> Any:
    """Tensors (alone, or in a tuple/list/dict) moved to the device; numpy arrays become tensors first."""
    if isinstance(batch, np.ndarray):
        batch = torch.from_numpy(batch)
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return type(batch)(to_device(v, device) for v in batch)


def optimise(model: nn.Module, net_config: Any, cfg: Any, name: str, make: Callable[[np.random.Generator], Any],
             loss_of: Callable[[Any], torch.Tensor], validate: Callable[[], Dict[str, float]],
             summary: Callable[[Dict[str, float]], str], meta: Dict[str, Any], log: Callable[[str], None],
             device: torch.device) -> Dict[str, Any]:
    """Run cfg.steps steps of `loss_of(batch)` on batches from `make` (or the first cfg.stop_at of them, the
    learning rate still following the cfg.steps schedule); validate, log and checkpoint to cfg.out every
    cfg.eval_every steps and at the end; return the meta data of the last checkpoint."""
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    started = time.perf_counter()
    running = None
    run = min(cfg.steps, cfg.stop_at) if cfg.stop_at > 0 else cfg.steps
    bar = tqdm(range(run), desc=name, dynamic_ncols=True, mininterval=5.0)   # the bar counts what will run
    for step, batch in zip(bar, batches(make, cfg, device)):
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(step, cfg)
        loss = loss_of(to_device(batch, device))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        bar.set_postfix(loss=f"{running:.5f}")
        if (step + 1) % cfg.eval_every == 0 or step + 1 == run:
            scores = validate()
            meta.update(steps_done=step + 1, loss=round(running, 6), wall_s=round(time.perf_counter() - started, 1),
                        validation=scores, device=device_name(device))
            log(f"{name} step {step + 1}: loss {running:.5f}  {summary(scores)}")
            save_checkpoint(cfg.out, model, net_config, meta)
    return meta
