import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from cfl_lightning.networks.norms import (
    check_image_batch,
    init_gan_weights,
    make_norm_2d,
    maybe_spectral_norm,
)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("batch", nn.BatchNorm2d),
        ("sync", nn.SyncBatchNorm),
        ("instance", nn.InstanceNorm2d),
        ("none", nn.Identity),
    ],
)
def test_make_norm_2d_kinds(kind, expected):
    layer = make_norm_2d(kind, 4, affine=False)
    assert type(layer) is expected
    assert not list(layer.parameters())


def test_make_norm_2d_affine_learns_scale_and_shift():
    assert len(list(make_norm_2d("batch", 4, affine=True).parameters())) == 2
    assert len(list(make_norm_2d("instance", 4, affine=True).parameters())) == 2


def test_make_norm_2d_rejects_unknown_kind():
    with pytest.raises(ValueError, match=r"norm: expected one of .* got 'group'"):
        make_norm_2d("group", 4, affine=False)


def test_init_gan_weights_normal_and_xavier_statistics():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(64, 64, 3), nn.BatchNorm2d(64))
    init_gan_weights(net, "normal", 0.02)
    assert net[0].weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert net[0].weight.mean().abs().item() < 2e-3
    assert torch.count_nonzero(net[0].bias) == 0
    assert net[1].weight.mean().item() == pytest.approx(1.0, abs=0.01)
    assert torch.count_nonzero(net[1].bias) == 0

    init_gan_weights(net, "xavier", 0.02)
    fan = 64 * 9
    expected_std = 0.02 * (2.0 / (fan + fan)) ** 0.5
    assert net[0].weight.std().item() == pytest.approx(expected_std, rel=0.05)


def test_init_gan_weights_leaves_spectral_norm_weights_alone():
    conv = maybe_spectral_norm(nn.Conv2d(8, 8, 3), True)
    assert parametrize.is_parametrized(conv, "weight")
    original = conv.parametrizations.weight.original.detach().clone()
    init_gan_weights(conv, "normal", 0.02)
    assert torch.equal(conv.parametrizations.weight.original, original)
    assert not parametrize.is_parametrized(maybe_spectral_norm(nn.Conv2d(8, 8, 3), False))


def test_init_gan_weights_rejects_unknown_scheme():
    with pytest.raises(ValueError, match="scheme: expected 'normal' or 'xavier', got 'orthogonal'"):
        init_gan_weights(nn.Conv2d(1, 1, 1), "orthogonal")


def test_check_image_batch_errors():
    check_image_batch(torch.zeros(1, 3, 32, 64), 3, 32, "x", "why")
    with pytest.raises(ValueError, match=r"x: expected a \(B, 3, H, W\) tensor, got shape \(1, 4"):
        check_image_batch(torch.zeros(1, 4, 32, 32), 3, 32, "x", "why")
    with pytest.raises(ValueError, match=r"divisible by 32 \(why\), got 48x32"):
        check_image_batch(torch.zeros(1, 3, 48, 32), 3, 32, "x", "why")
