"""The local refiner: any size, identity until trained, strict about its inputs."""
import pytest
import torch

from deflicker_engine.filtering.refiner_net import LocalRefiner, RefinerConfig, first_frame_inputs


def inputs(n, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    frames = [torch.rand(n, 3, h, w, generator=g) for _ in range(3)]
    return frames + [(torch.rand(n, 1, h, w, generator=g) > 0.3).float()]


@pytest.mark.parametrize("n,h,w", [(1, 37, 53), (2, 16, 16), (1, 5, 7), (1, 2, 3), (1, 63, 130)])
def test_any_size_keeps_its_shape(n, h, w):
    model = LocalRefiner()
    with torch.no_grad():
        model.head.weight.normal_(0, 0.05)
        out = model.eval()(*inputs(n, h, w))
    assert out.shape == (n, 3, h, w)
    assert torch.isfinite(out).all()


def test_untrained_refiner_is_the_identity():
    args = inputs(2, 30, 44)
    with torch.no_grad():
        assert torch.equal(LocalRefiner()(*args), args[0])


def test_first_frame_inputs_have_an_empty_mask():
    frame = torch.rand(2, 3, 9, 11)
    current, prev_filtered, prev_output, mask = first_frame_inputs(frame)
    assert current is frame and torch.equal(prev_filtered, frame) and torch.equal(prev_output, frame)
    assert mask.shape == (2, 1, 9, 11) and mask.sum() == 0


def test_bad_inputs_are_refused():
    a, b, c, m = inputs(1, 16, 16)
    with pytest.raises(ValueError):
        LocalRefiner()(a, b, c, m.expand(1, 3, 16, 16))
    with pytest.raises(ValueError):
        LocalRefiner()(a, b[..., :15], c, m)


def test_config_is_used():
    model = LocalRefiner(RefinerConfig(widths=(8, 16), pool=2, context_dilations=()))
    assert model(*inputs(1, 13, 17)).shape == (1, 3, 13, 17)
