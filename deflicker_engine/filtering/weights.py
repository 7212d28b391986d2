"""Save and load network checkpoints; the shipped ones live in deflicker_engine/weights/.

A checkpoint is a plain dict {"arch", "config", "state_dict", "meta"} readable with
torch.load(weights_only=True): no pickled code, so a checkpoint cannot run anything when loaded, and the
constructor config travels with the weights, so inference never needs the training config. Weights are
stored as float16 (half the size) and loaded into float32 networks. Nothing is ever downloaded.
"""
from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch
import torch.nn as nn

from ..device import resolve_device
from ..errors import WeightsError
from ..io.staging import atomic_file
from .filter_net import FilterConfig, NeuralFilter
from .refiner_net import LocalRefiner, RefinerConfig

ARCHITECTURES = {"NeuralFilter": (NeuralFilter, FilterConfig), "LocalRefiner": (LocalRefiner, RefinerConfig)}
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
FILTER_WEIGHTS = WEIGHTS_DIR / "filter.pt"
REFINER_WEIGHTS = WEIGHTS_DIR / "refiner.pt"
KEYS = ("arch", "config", "state_dict", "meta")

DeviceLike = Union[str, torch.device]


def _device(device: DeviceLike) -> torch.device:
    return device if isinstance(device, torch.device) else resolve_device(device)


def save_checkpoint(path: Union[str, Path], model: nn.Module, config: Any, meta: Optional[Dict[str, Any]] = None,
                    half: bool = True) -> Path:
    """Write atomically (temp file beside the target, then rename): a crash never leaves half a checkpoint."""
    arch = type(model).__name__
    if arch not in ARCHITECTURES:
        raise WeightsError(f"cannot save a {arch}: known networks are {sorted(ARCHITECTURES)}")
    state = {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu())
             for k, v in model.state_dict().items()}
    plain_meta = json.loads(json.dumps(dict(meta or {}), default=str))  # plain data only: weights_only can read it
    checkpoint = {"arch": arch, "config": asdict(config), "state_dict": state,
                  "meta": dict(plain_meta, dtype="float16" if half else "float32")}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # temporaries are owner-only; shipped weights must be readable by all
    with atomic_file(path, "wb", permissions=0o644) as handle:
        torch.save(checkpoint, handle)
    return path


def read_checkpoint(path: Union[str, Path]) -> Dict[str, Any]:
    """The checkpoint dict, checked for shape; WeightsError if missing, unreadable or not ours."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"network weights {path} are missing; reinstall the package or retrain "
                           f"with `deflicker train`")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a damaged file
        raise WeightsError(f"network weights {path} are corrupt or not a checkpoint ({type(error).__name__}); "
                           f"reinstall the package or retrain") from error
    if not isinstance(checkpoint, dict) or any(k not in checkpoint for k in KEYS):
        raise WeightsError(f"{path} is not a deflicker checkpoint (expected keys {list(KEYS)})")
    if checkpoint["arch"] not in ARCHITECTURES:
        raise WeightsError(f"{path} holds an unknown network '{checkpoint['arch']}'")
    return checkpoint


def _config(cls, values: Dict[str, Any], path: Path):
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise WeightsError(f"{path} was made by another version of the network (unknown settings "
                           f"{sorted(unknown)}); update the package or retrain")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def load_checkpoint(path: Union[str, Path], device: DeviceLike = "cpu", arch: Optional[str] = None) -> nn.Module:
    """Build the network a checkpoint describes, load its weights, move it to `device`, eval mode."""
    path = Path(path)
    checkpoint = read_checkpoint(path)
    if arch is not None and checkpoint["arch"] != arch:
        raise WeightsError(f"{path} holds a {checkpoint['arch']}, expected a {arch}")
    cls, config_cls = ARCHITECTURES[checkpoint["arch"]]
    model = cls(_config(config_cls, dict(checkpoint["config"]), path))
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, KeyError, TypeError) as error:
        raise WeightsError(f"{path} does not match the {checkpoint['arch']} network "
                           f"({str(error).splitlines()[0]}); update the package or retrain") from error
    model.meta = dict(checkpoint["meta"])
    return model.to(_device(device)).eval()


def load_filter(device: DeviceLike = "cpu", path: Optional[Union[str, Path]] = None) -> NeuralFilter:
    """The shipped neural filter (or the one at `path`), ready for inference."""
    return load_checkpoint(path or FILTER_WEIGHTS, device, arch="NeuralFilter")


def load_refiner(device: DeviceLike = "cpu", path: Optional[Union[str, Path]] = None) -> LocalRefiner:
    """The shipped local refiner (or the one at `path`), ready for inference."""
    return load_checkpoint(path or REFINER_WEIGHTS, device, arch="LocalRefiner")
