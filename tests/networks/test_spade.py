import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from cfl_lightning.networks.spade import SPADE, SPADEGenerator


def one_hot_labels(batch: int, classes: int, size: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (batch, size, size), generator=generator)
    return F.one_hot(labels, classes).permute(0, 3, 1, 2).float()


def tiny_spade(**kwargs) -> SPADEGenerator:
    torch.manual_seed(0)
    return SPADEGenerator(label_channels=5, ngf=4, hidden=8, **kwargs)


def test_output_shape_and_range():
    generator = tiny_spade()
    out = generator(one_hot_labels(2, 5, 64))
    assert out.shape == (2, 3, 64, 64)
    assert out.abs().max() <= 1.0
    assert out.std() > 0


def test_output_channels_and_instance_norm():
    generator = tiny_spade(output_channels=1, norm="instance", spectral_norm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in generator.modules())
    assert any(isinstance(m, nn.InstanceNorm2d) for m in generator.modules())
    assert generator(one_hot_labels(1, 5, 64)).shape == (1, 1, 64, 64)


@pytest.mark.parametrize(("mode", "divisor"), [("normal", 32), ("more", 64), ("most", 128)])
def test_num_upsampling_layers_sets_the_divisor(mode, divisor):
    generator = tiny_spade(num_upsampling_layers=mode)
    assert generator.divisor == divisor
    upsamplings = []
    generator.fc.register_forward_hook(lambda m, i, o: upsamplings.append(o.shape[-1]))
    if divisor <= 64:
        generator(one_hot_labels(2, 5, 64))
        assert upsamplings == [64 // divisor]
    with pytest.raises(ValueError, match=f"divisible by {divisor} .*got 48x48"):
        generator(one_hot_labels(1, 5, 48))


def test_non_square_input_keeps_its_size():
    generator = tiny_spade()
    assert generator(one_hot_labels(2, 5, 64)[..., :32]).shape == (2, 3, 64, 32)


def test_input_errors():
    generator = tiny_spade()
    with pytest.raises(ValueError, match=r"label_map: expected a \(B, 5, H, W\) tensor"):
        generator(torch.zeros(1, 4, 64, 64))
    with pytest.raises(ValueError, match="label_map: height and width must be divisible by 32"):
        generator(one_hot_labels(1, 5, 64)[..., :40])
    with pytest.raises(ValueError, match="num_upsampling_layers: expected one of"):
        SPADEGenerator(5, num_upsampling_layers="few")
    with pytest.raises(ValueError, match="norm: expected one of"):
        SPADEGenerator(5, norm="none")


def test_batch_norm_converts_to_sync_batch_norm():
    generator = tiny_spade(norm="batch")
    batch_norms = [m for m in generator.modules() if isinstance(m, nn.BatchNorm2d)]
    assert batch_norms and all(not m.affine for m in batch_norms)
    labels = one_hot_labels(2, 5, 64)
    generator(labels)  # fill the running statistics
    generator.eval()
    expected = generator(labels)

    converted = nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(generator))
    syncs = [m for m in converted.modules() if isinstance(m, nn.SyncBatchNorm)]
    assert len(syncs) == len(batch_norms)
    assert not any(type(m) is nn.BatchNorm2d for m in converted.modules())
    torch.testing.assert_close(converted(labels), expected)


def test_sync_norm_runs_outside_a_process_group():
    generator = tiny_spade(norm="sync")
    assert any(isinstance(m, nn.SyncBatchNorm) for m in generator.modules())
    assert generator(one_hot_labels(2, 5, 64)).shape == (2, 3, 64, 64)


def test_spectral_norm_on_residual_block_convs():
    generator = tiny_spade(spectral_norm=True)
    block = generator.head_0
    assert parametrize.is_parametrized(block.conv_0, "weight")
    assert parametrize.is_parametrized(generator.up_blocks[0].conv_s, "weight")
    assert not parametrize.is_parametrized(generator.conv_img, "weight")
    weight = block.conv_0.weight.detach().flatten(1)
    assert torch.linalg.matrix_norm(weight, ord=2).item() == pytest.approx(1.0, rel=0.05)

    plain = tiny_spade(spectral_norm=False)
    assert not any(parametrize.is_parametrized(m) for m in plain.modules())


def test_gradient_reaches_every_parameter():
    generator = tiny_spade()
    generator(one_hot_labels(2, 5, 64)).square().mean().backward()
    missing = [
        name
        for name, p in generator.named_parameters()
        if p.grad is None or not p.grad.abs().sum() > 0
    ]
    assert not missing


def test_spade_layer_modulates_the_param_free_norm():
    layer = SPADE(channels=2, label_channels=3, norm="instance", hidden=4)
    with torch.no_grad():
        for conv, bias in ((layer.gamma, 0.5), (layer.beta, -0.25)):
            conv.weight.zero_()
            conv.bias.fill_(bias)
    x = torch.randn(2, 2, 8, 8)
    expected = F.instance_norm(x) * 1.5 - 0.25
    torch.testing.assert_close(layer(x, one_hot_labels(2, 3, 16)), expected)


def test_spade_layer_is_spatially_adaptive():
    torch.manual_seed(0)
    layer = SPADE(channels=2, label_channels=3, norm="instance", hidden=4)
    x = torch.randn(1, 2, 16, 16)
    labels = one_hot_labels(1, 3, 16)
    changed = labels.clone()
    changed[..., :4] = torch.roll(changed[..., :4], 1, dims=1)  # new classes in columns 0..3
    difference = (layer(x, labels) - layer(x, changed)).abs().amax(dim=(0, 1, 2))
    assert difference[:4].min() > 0
    # gamma and beta come from two stacked 3x3 convs (two columns each way): columns >= 6 and
    # the instance norm do not depend on the changed labels
    assert difference[6:].max() == 0
