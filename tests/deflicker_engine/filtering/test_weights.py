"""Checkpoints: round trip, and a clear WeightsError for anything missing, damaged or foreign."""
import os

import pytest
import torch

from deflicker_engine.errors import WeightsError
from deflicker_engine.filtering import (FilterConfig, LocalRefiner, NeuralFilter, RefinerConfig, load_checkpoint,
                                        load_filter, load_refiner, read_checkpoint, save_checkpoint)

SMALL_FILTER = FilterConfig(widths=(8, 16, 32), context_dilations=(2,))


def trained_looking(model):
    torch.manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return model


def test_round_trip_keeps_config_and_output(tmp_path):
    model = trained_looking(NeuralFilter(SMALL_FILTER)).eval()
    path = save_checkpoint(tmp_path / "f.pt", model, SMALL_FILTER, {"steps": 7})
    loaded = load_filter("cpu", path=path)
    assert isinstance(loaded, NeuralFilter) and not loaded.training
    assert loaded.config == SMALL_FILTER
    assert loaded.meta["steps"] == 7 and loaded.meta["dtype"] == "float16"
    frame, atlas = torch.rand(1, 3, 23, 31), torch.rand(1, 3, 23, 31)
    with torch.no_grad():
        assert torch.allclose(loaded(frame, atlas), model(frame, atlas), atol=2e-3)
    assert list(tmp_path.iterdir()) == [path]          # no temporary file left behind


def test_round_trip_full_precision_refiner(tmp_path):
    config = RefinerConfig(widths=(8, 16))
    model = trained_looking(LocalRefiner(config)).eval()
    path = save_checkpoint(tmp_path / "r.pt", model, config, half=False)
    loaded = load_refiner(torch.device("cpu"), path=path)
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name


def test_checkpoint_is_plain_data(tmp_path):
    path = save_checkpoint(tmp_path / "f.pt", NeuralFilter(SMALL_FILTER), SMALL_FILTER)
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["arch"] == "NeuralFilter" and checkpoint["config"]["widths"] == (8, 16, 32)
    assert set(checkpoint) == {"arch", "config", "state_dict", "meta"}


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match="missing"):
        load_filter(path=tmp_path / "nothing.pt")


def test_corrupt_file(tmp_path):
    path = tmp_path / "bad.pt"
    path.write_bytes(os.urandom(2000))
    with pytest.raises(WeightsError, match="corrupt"):
        load_filter(path=path)


def test_truncated_file(tmp_path):
    path = save_checkpoint(tmp_path / "f.pt", NeuralFilter(SMALL_FILTER), SMALL_FILTER)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(WeightsError):
        load_filter(path=path)


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "code.pt"
    torch.save(NeuralFilter(SMALL_FILTER), path)        # a whole pickled module, not a plain checkpoint
    with pytest.raises(WeightsError):
        load_filter(path=path)


def test_wrong_network(tmp_path):
    config = RefinerConfig(widths=(8, 16))
    path = save_checkpoint(tmp_path / "r.pt", LocalRefiner(config), config)
    with pytest.raises(WeightsError, match="expected a NeuralFilter"):
        load_filter(path=path)


def test_weights_that_do_not_fit_the_config(tmp_path):
    path = save_checkpoint(tmp_path / "f.pt", NeuralFilter(SMALL_FILTER), SMALL_FILTER)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["config"]["widths"] = (8, 16, 64)
    torch.save(checkpoint, path)
    with pytest.raises(WeightsError, match="does not match"):
        load_filter(path=path)


def test_unknown_settings_and_keys(tmp_path):
    path = save_checkpoint(tmp_path / "f.pt", NeuralFilter(SMALL_FILTER), SMALL_FILTER)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["config"]["colour_space"] = "lab"
    torch.save(checkpoint, path)
    with pytest.raises(WeightsError, match="another version"):
        load_checkpoint(path)
    torch.save({"state_dict": {}}, path)
    with pytest.raises(WeightsError, match="not a deflicker checkpoint"):
        read_checkpoint(path)
