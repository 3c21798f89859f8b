"""LuminancePassthrough: the output's luminance is the input, the colour is the generator's."""

import pytest
import torch
from torch import nn

from cfl_lightning.networks import LuminancePassthrough, UNetGenerator
from cfl_lightning.networks.luminance_passthrough import replace_luminance


def bt601(rgb: torch.Tensor) -> torch.Tensor:
    """Independent BT.601 luminance of [-1, 1] RGB, in [-1, 1]."""
    unit = (rgb + 1) / 2
    return 2 * (0.299 * unit[:, 0:1] + 0.587 * unit[:, 1:2] + 0.114 * unit[:, 2:3]) - 1


def luminance_batch(shape=(2, 1, 32, 32)) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(3)) * 1.6 - 0.8


def test_output_has_the_input_luminance_and_the_generators_colour():
    torch.manual_seed(0)
    inner = UNetGenerator(1, num_downs=3, ngf=4)
    wrapped = LuminancePassthrough(inner).eval()
    x = luminance_batch()
    with torch.no_grad():
        y, raw = wrapped(x), inner(x)
    torch.testing.assert_close(bt601(y), x, atol=1e-5, rtol=0)
    # The same offset on every channel: differences between channels are the generator's.
    torch.testing.assert_close(y[:, 0] - y[:, 2], raw[:, 0] - raw[:, 2])
    torch.testing.assert_close(y[:, 1] - y[:, 2], raw[:, 1] - raw[:, 2])
    assert wrapped.divisor == inner.divisor == 8


def test_gradient_flows_through_colour_and_not_through_luminance():
    torch.manual_seed(0)
    wrapped = LuminancePassthrough(UNetGenerator(1, num_downs=3, ngf=4))
    x = luminance_batch()
    bt601(wrapped(x)).pow(2).sum().backward()  # depends on the luminance only: constant
    grads = [p.grad for p in wrapped.parameters() if p.grad is not None]
    assert grads and all(g.abs().max() < 1e-4 for g in grads)
    wrapped.zero_grad()
    y = wrapped(x)
    (y[:, 0] - y[:, 2]).pow(2).sum().backward()  # a colour difference: reaches the generator
    assert any(p.grad.abs().max() > 1e-3 for p in wrapped.parameters() if p.grad is not None)


def test_rejects_a_generator_of_other_channels_and_other_inputs():
    with pytest.raises(ValueError, match="takes 3 input channels; a colorization generator"):
        LuminancePassthrough(UNetGenerator(3, num_downs=3, ngf=4))
    with pytest.raises(TypeError, match=r"generator: expected an nn\.Module, got function"):
        LuminancePassthrough(lambda x: x)
    wrapped = LuminancePassthrough(nn.Conv2d(1, 3, 1))
    assert wrapped.divisor is None
    with pytest.raises(ValueError, match=r"luminance: expected \(B, 1, H, W\), got \(1, 3, 8, 8\)"):
        wrapped(torch.zeros(1, 3, 8, 8))


def test_replace_luminance_sets_the_luminance_and_keeps_the_colour():
    g = torch.Generator().manual_seed(0)
    prediction = torch.rand(2, 3, 8, 8, generator=g) * 1.0 - 0.5  # away from the clamp
    luminance = torch.rand(2, 1, 8, 8, generator=g) * 0.6 - 0.3
    kept = replace_luminance(prediction, luminance)
    torch.testing.assert_close(bt601(kept), luminance, atol=1e-5, rtol=0)
    # Colour differences between channels are the prediction's.
    torch.testing.assert_close(kept[:, 0] - kept[:, 1], prediction[:, 0] - prediction[:, 1])
    torch.testing.assert_close(kept[:, 2] - kept[:, 1], prediction[:, 2] - prediction[:, 1])
    assert kept.min() >= -1 and kept.max() <= 1
