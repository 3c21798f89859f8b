import pytest
import torch

from cfl_lightning.losses import ContrastiveFeatureLoss
from cfl_lightning.networks import ResNetFeatures, VGG19Features
from cfl_lightning.networks.deferred_weights import (
    deferred_pretrained_weights,
    pretrained_weights_deferred,
)

LAYERS = ("relu1_1", "relu2_1")


@pytest.fixture
def vgg_file(tmp_path):
    source = VGG19Features(layers=LAYERS, weights="random", seed=3)
    path = tmp_path / "vgg.pth"
    torch.save({f"features.{k}": v for k, v in source.features.state_dict().items()}, path)
    return source, path


def test_the_context_is_scoped():
    assert not pretrained_weights_deferred()
    with deferred_pretrained_weights():
        assert pretrained_weights_deferred()
        with deferred_pretrained_weights(False):  # a no-op inside an enabled context
            assert pretrained_weights_deferred()
    assert not pretrained_weights_deferred()


def test_outside_the_context_a_missing_file_fails_at_construction(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        VGG19Features(layers=LAYERS, weights=str(tmp_path / "missing.pth"))


def test_deferred_weights_come_from_a_state_dict(vgg_file, tmp_path):
    source, _ = vgg_file
    with deferred_pretrained_weights():
        vgg = VGG19Features(layers=LAYERS, weights=str(tmp_path / "missing.pth"))
    assert vgg.weights_pending
    vgg.load_state_dict(source.state_dict())
    assert not vgg.weights_pending
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    torch.testing.assert_close(vgg(x)["relu2_1"], source(x)["relu2_1"], rtol=0, atol=0)


def test_a_state_dict_without_the_extractor_leaves_it_pending(tmp_path):
    with deferred_pretrained_weights():
        vgg = VGG19Features(layers=LAYERS, weights=str(tmp_path / "missing.pth"))
    vgg.load_state_dict({}, strict=False)
    assert vgg.weights_pending


def test_a_forward_with_pending_weights_reads_the_file_or_says_what_is_missing(vgg_file, tmp_path):
    source, path = vgg_file
    with deferred_pretrained_weights():
        from_file = VGG19Features(layers=LAYERS, weights=str(path))
        missing = VGG19Features(layers=LAYERS, weights=str(tmp_path / "missing.pth"))
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    torch.testing.assert_close(from_file(x)["relu1_1"], source(x)["relu1_1"], rtol=0, atol=0)
    assert not from_file.weights_pending
    with pytest.raises(
        ValueError, match=r"(?s)were deferred.*no checkpoint provided.*missing\.pth"
    ):
        missing(x)


def test_random_weights_are_never_deferred():
    with deferred_pretrained_weights():
        vgg = VGG19Features(layers=LAYERS, weights="random", seed=3)
    assert not vgg.weights_pending


def test_losses_and_resnet_defer_too(tmp_path):
    missing = str(tmp_path / "missing.pth")
    with deferred_pretrained_weights():
        cfl = ContrastiveFeatureLoss(weights=missing, layers=LAYERS)
        resnet = ResNetFeatures(layers=("layer1",), weights=missing)
    assert cfl.extractor.weights_pending and resnet.weights_pending
    source = ResNetFeatures(layers=("layer1",), weights="random", seed=1)
    resnet.load_state_dict(source.state_dict())
    assert not resnet.weights_pending
