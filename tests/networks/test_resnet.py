import urllib.error

import pytest
import torch
import torchvision
from torch import nn

from cfl_lightning.networks.resnet import ResNetFeatures
from cfl_lightning.networks.vgg import IMAGENET_MEAN, IMAGENET_STD

ALL_LAYERS = ("relu", "layer1", "layer2", "layer3", "layer4")


def images(size: int = 64, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(2, 3, size, size, generator=generator) * 2 - 1


@pytest.fixture
def offline_torch_home(tmp_path, monkeypatch):
    """An empty torchvision cache under ``tmp_path`` and a download that fails like offline."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError(f"no network for {url}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    return checkpoints


@pytest.fixture(scope="module")
def torchvision_resnet18():
    torch.manual_seed(0)
    model = torchvision.models.resnet18()
    with torch.no_grad():  # non-trivial batch-norm statistics
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def torchvision_trunk(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    x = ((x + 1) / 2 - mean) / std
    out = {"relu": model.relu(model.bn1(model.conv1(x)))}
    x = model.maxpool(out["relu"])
    for name in ALL_LAYERS[1:]:
        x = getattr(model, name)(x)
        out[name] = x
    return out


@pytest.mark.parametrize(
    ("arch", "layers"),
    [("resnet18", ALL_LAYERS), ("resnet34", ("layer1",)), ("resnet50", ("relu", "layer2"))],
)
def test_channels_and_strides_match_outputs(arch, layers):
    extractor = ResNetFeatures(arch, layers=layers, weights="random")
    out = extractor(images())
    assert list(out) == list(layers)
    assert set(extractor.strides) == set(layers)
    for name, features in out.items():
        stride = extractor.strides[name]
        assert features.shape == (2, extractor.channels[name], 64 // stride, 64 // stride)
    if arch == "resnet50":
        assert extractor.channels == {"relu": 64, "layer2": 512}


def test_builds_only_up_to_the_deepest_layer():
    extractor = ResNetFeatures(layers=("layer2",), weights="random")
    assert hasattr(extractor, "layer2")
    assert not hasattr(extractor, "layer3") and not hasattr(extractor, "fc")


def test_frozen_and_in_eval_after_parent_train():
    extractor = ResNetFeatures(layers=("layer1",), weights="random")
    assert not any(p.requires_grad for p in extractor.parameters())
    nn.Sequential(extractor).train()
    assert not extractor.training


def test_random_weights_are_seeded():
    a = ResNetFeatures(layers=("layer2",), weights="random", seed=1)
    b = ResNetFeatures(layers=("layer2",), weights="random", seed=1)
    c = ResNetFeatures(layers=("layer2",), weights="random", seed=2)
    torch.testing.assert_close(a.state_dict(), b.state_dict())
    assert not torch.equal(a.layer2[0].conv1.weight, c.layer2[0].conv1.weight)


def test_imagenet_weights_load_from_the_torchvision_cache(offline_torch_home, torchvision_resnet18):
    torch.save(torchvision_resnet18.state_dict(), offline_torch_home / "resnet18-f37072fd.pth")
    extractor = ResNetFeatures("resnet18", layers=ALL_LAYERS, weights="imagenet")
    x = images()
    with torch.no_grad():
        expected = torchvision_trunk(torchvision_resnet18, x)
    got = extractor(x)
    for name in ALL_LAYERS:
        # Same weights; the input mapping is one folded affine map there, three steps here, so
        # float32 rounding differs by ~1e-5 after 17 layers (seen once in a full run); wrong or
        # missing weights differ by ~1.
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-4)


def test_weights_from_a_file(tmp_path, torchvision_resnet18):
    path = tmp_path / "resnet18.pt"
    torch.save({"state_dict": torchvision_resnet18.state_dict()}, path)
    extractor = ResNetFeatures(layers=("layer1",), weights=path)
    torch.testing.assert_close(
        extractor.layer1[1].bn2.running_var, torchvision_resnet18.layer1[1].bn2.running_var
    )
    bad = tmp_path / "bad.pt"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, bad)
    with pytest.raises(ValueError, match="lacks resnet18 keys"):
        ResNetFeatures(layers=("layer1",), weights=bad)


def test_imagenet_missing_offline_names_file_folder_and_random(offline_torch_home):
    with pytest.raises(RuntimeError) as error:
        ResNetFeatures("resnet34", layers=("layer1",), weights="imagenet")
    message = str(error.value)
    assert "resnet34-b627a593.pth" in message
    assert str(offline_torch_home) in message
    assert "weights='random'" in message
    assert isinstance(error.value.__cause__, urllib.error.URLError)


def test_input_normalisation_switch():
    plain = ResNetFeatures(layers=("relu",), weights="random", normalize_input=False)
    unit_range = ResNetFeatures(
        layers=("relu",), weights="random", normalize_input=False, input_range=(0.0, 1.0)
    )
    x = images()
    expected = plain.relu(plain.bn1(plain.conv1((x + 1) / 2)))
    torch.testing.assert_close(plain(x)["relu"], expected)
    torch.testing.assert_close(unit_range((x + 1) / 2)["relu"], expected)


def test_argument_errors():
    with pytest.raises(ValueError, match=r"arch: expected one of .* got 'resnet101'"):
        ResNetFeatures("resnet101", weights="random")
    with pytest.raises(ValueError, match=r"layers: unknown ResNet layer\(s\) \['layer5'\]"):
        ResNetFeatures(layers=("layer5",), weights="random")
    with pytest.raises(ValueError, match="weights: expected 'imagenet', 'random' or a path"):
        ResNetFeatures(layers=("layer1",), weights="resnet.pt")
