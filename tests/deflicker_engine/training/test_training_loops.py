"""The training commands, end to end on a tiny generated picture folder: they run, save and reproduce."""
import argparse
import os
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from deflicker_engine.filtering import load_filter, load_refiner
from deflicker_engine.training import cli, loop, train_filter, train_refiner


@pytest.fixture
def pictures(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    for i, name in enumerate(["set/a.png", "set/b.png", "set/c.png", "kodak24/k1.png", "kodak24/k2.png"]):
        coarse = rng.random((8, 10, 3)).astype(np.float32)
        image = cv2.resize(coarse, (200, 160), interpolation=cv2.INTER_CUBIC) + 0.1 * rng.random((160, 200, 3))
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), (np.clip(image, 0, 1) * 255).astype(np.uint8))
    return root


def tiny_filter(root, out, **kw):
    settings = dict(steps=3, batch=2, crop=48, warmup=1, eval_every=3, val_side=96, threads=1)
    return train_filter.TrainFilterConfig(data=str(root), out=str(out), **{**settings, **kw})


def test_filter_training_writes_a_loadable_checkpoint(pictures, tmp_path):
    meta = train_filter.train(tiny_filter(pictures, tmp_path / "f.pt"), log=lambda s: None)
    assert meta["steps_done"] == 3 and meta["train_images"] == 3 and meta["validation_images"] == 2
    assert set(meta["validation"]) == {"psnr_input", "psnr_atlas", "psnr_output"}
    model = load_filter(path=tmp_path / "f.pt")
    assert model.meta["train"]["steps"] == 3


def test_filter_training_is_reproducible(pictures, tmp_path):
    train_filter.train(tiny_filter(pictures, tmp_path / "a.pt"), log=lambda s: None)
    train_filter.train(tiny_filter(pictures, tmp_path / "b.pt"), log=lambda s: None)
    train_filter.train(tiny_filter(pictures, tmp_path / "c.pt", seed=1), log=lambda s: None)
    a, b, c = (torch.load(tmp_path / f"{n}.pt", weights_only=True)["state_dict"] for n in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_a_run_can_stop_part_way_through_its_schedule(pictures, tmp_path):
    meta = train_filter.train(tiny_filter(pictures, tmp_path / "s.pt", steps=4, stop_at=2), log=lambda s: None)
    train_filter.train(tiny_filter(pictures, tmp_path / "f.pt", steps=4), log=lambda s: None)
    assert meta["steps_done"] == 2 and meta["train"]["steps"] == 4
    s, f = (torch.load(tmp_path / f"{n}.pt", weights_only=True)["state_dict"] for n in "sf")
    assert not all(torch.equal(s[k], f[k]) for k in s)


def tiny_refiner(root, out, **kw):
    return train_refiner.TrainRefinerConfig(steps=2, batch=2, crop=48, frames=3, warmup=1, eval_every=2,
                                            val_clips=2, val_frames=3, val_size=48, threads=1,
                                            data=str(root), out=str(out), **kw)


def test_refiner_training_writes_a_loadable_checkpoint(pictures, tmp_path):
    meta = train_refiner.train(tiny_refiner(pictures, tmp_path / "r.pt"), log=lambda s: None)
    assert meta["steps_done"] == 2 and meta["device"].startswith("cpu")
    scores = meta["validation"]
    assert scores["temporal_clean"] < scores["temporal_input"]
    assert load_refiner(path=tmp_path / "r.pt").meta["train"]["frames"] == 3


def pid_and_draws(rng):
    """A batch that says which process made it."""
    return {"pid": torch.tensor(os.getpid()), "draws": torch.from_numpy(rng.random(3))}


def test_worker_processes_make_the_batches_the_training_process_would_have_made():
    cpu = torch.device("cpu")
    here = list(loop.batches(pid_and_draws, SimpleNamespace(seed=3, steps=4, workers=0), cpu))
    there = list(loop.batches(pid_and_draws, SimpleNamespace(seed=3, steps=4, workers=2), cpu))
    assert len(here) == len(there) == 4
    assert all(int(b["pid"]) == os.getpid() for b in here) and all(int(b["pid"]) != os.getpid() for b in there)
    assert all(torch.equal(h["draws"], t["draws"]) for h, t in zip(here, there))
    assert not torch.equal(here[0]["draws"], here[1]["draws"])


@pytest.mark.parametrize("network", ["filter", "refiner"])
def test_batches_made_by_worker_processes_train_the_same_network(network, pictures, tmp_path):
    module, config = (train_filter, tiny_filter) if network == "filter" else (train_refiner, tiny_refiner)
    module.train(config(pictures, tmp_path / "a.pt"), log=lambda s: None)
    module.train(config(pictures, tmp_path / "w.pt", workers=2), log=lambda s: None)
    a, w = (torch.load(tmp_path / f"{n}.pt", weights_only=True)["state_dict"] for n in "aw")
    assert all(torch.equal(a[k], w[k]) for k in a)


def test_deflicker_train_command(pictures, tmp_path):
    parser = argparse.ArgumentParser(prog="deflicker")
    cli.register(parser.add_subparsers(dest="command"))
    out = tmp_path / "cli.pt"
    args = parser.parse_args(["train", "filter", "--steps", "1", "--batch", "1", "--crop", "32", "--eval-every", "1",
                              "--val-side", "64", "--threads", "1", "--data", str(pictures), "--out", str(out)])
    assert args.func(args) == 0 and out.is_file()
    with pytest.raises(SystemExit):
        parser.parse_args(["train"])


def test_missing_data_is_reported(tmp_path, capsys):
    assert train_filter.main(["--data", str(tmp_path / "absent"), "--out", str(tmp_path / "x.pt")]) == 1
    assert "--data" in capsys.readouterr().err


def test_a_device_that_is_not_there_is_reported(pictures, tmp_path, capsys):
    assert train_filter.main(["--data", str(pictures), "--device", "gpu9", "--out", str(tmp_path / "x.pt")]) == 1
    error = capsys.readouterr().err
    assert "unknown device 'gpu9'" in error and "Traceback" not in error
    assert not (tmp_path / "x.pt").exists()
