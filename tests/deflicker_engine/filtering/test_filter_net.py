"""The neural filter: any size in, same size out; identity until trained; a wide view of the picture."""
import pytest
import torch

from deflicker_engine.filtering.filter_net import FilterConfig, NeuralFilter, apply_colour_transform, pad_to_multiple


def randomised(model):
    """A filter whose head is no longer zero, so it actually changes pixels (stands in for training)."""
    torch.manual_seed(1)
    with torch.no_grad():
        model.head.weight.normal_(0, 0.05)
        model.head.bias.normal_(0, 0.01)
    return model


@pytest.mark.parametrize("n,h,w", [(1, 37, 53), (2, 16, 16), (1, 5, 7), (1, 1, 1), (1, 63, 130)])
def test_any_size_keeps_its_shape(n, h, w):
    torch.manual_seed(0)
    model = randomised(NeuralFilter()).eval()
    frame, atlas = torch.rand(n, 3, h, w), torch.rand(n, 3, h, w)
    with torch.no_grad():
        out = model(frame, atlas)
    assert out.shape == frame.shape
    assert torch.isfinite(out).all()


def test_untrained_filter_is_the_identity():
    torch.manual_seed(0)
    frame, atlas = torch.rand(2, 3, 29, 41), torch.rand(2, 3, 29, 41)
    with torch.no_grad():
        out = NeuralFilter()(frame, atlas)
    assert torch.equal(out, frame)


def test_untrained_filter_still_learns():
    model = NeuralFilter()
    frame, atlas = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    ((model(frame, atlas) - atlas) ** 2).mean().backward()
    assert model.head.weight.grad.abs().sum() > 0


def test_wrong_shapes_are_refused():
    with pytest.raises(ValueError):
        NeuralFilter()(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 17))
    with pytest.raises(ValueError):
        NeuralFilter()(torch.rand(1, 4, 16, 16), torch.rand(1, 4, 16, 16))


def test_colour_far_away_reaches_every_pixel():
    """Appearance is low-frequency: a change at one corner of the atlas must reach the opposite corner."""
    model = randomised(NeuralFilter()).eval()
    frame, atlas = torch.rand(1, 3, 128, 224), torch.rand(1, 3, 128, 224)
    changed = atlas.clone()
    changed[..., :16, :16] += 0.5
    with torch.no_grad():
        difference = (model(frame, atlas) - model(frame, changed)).abs()
    assert difference[..., -8:, -8:].max() > 0


def test_padding_reaches_a_multiple_and_keeps_the_size():
    x = torch.rand(1, 3, 37, 53)
    padded, size = pad_to_multiple(x, 16)
    assert padded.shape[-2:] == (48, 64) and size == (37, 53)
    assert torch.equal(padded[..., :37, :53], x)


def test_colour_transform_applies_matrix_and_offset():
    image = torch.rand(1, 3, 8, 8)
    coefficients = torch.zeros(1, 12, 8, 8)
    coefficients[:, 9:] = 0.1                         # offset only
    assert torch.allclose(apply_colour_transform(image, coefficients), image + 0.1)
    coefficients = torch.zeros(1, 12, 2, 2)
    coefficients[:, 0] = 1.0                          # red gain doubles (red - 1/2), at low resolution
    out = apply_colour_transform(image, coefficients)
    assert torch.allclose(out[:, 0], image[:, 0] + (image[:, 0] - 0.5), atol=1e-6)
    assert torch.allclose(out[:, 1:], image[:, 1:])


def test_config_changes_the_network():
    small = NeuralFilter(FilterConfig(widths=(8, 16, 32), stem=1, context_dilations=(2,)))
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in NeuralFilter().parameters())
    frame = torch.rand(1, 3, 21, 19)
    assert small(frame, frame).shape == frame.shape
