import urllib.error

import pytest
import torch
import torchvision

from cfl_lightning.networks import (
    VGG19_LAYERS,
    VGG19Features,
    imagenet_vgg19_cache_path,
)
from cfl_lightning.networks.vgg import IMAGENET_MEAN, IMAGENET_STD


@pytest.fixture(scope="module")
def torchvision_vgg19_state():
    torch.manual_seed(0)
    features = torchvision.models.vgg19(weights=None).features
    return {f"features.{k}": v for k, v in features.state_dict().items()}, features.eval()


def test_matches_torchvision_features(torchvision_vgg19_state, tmp_path):
    state, reference = torchvision_vgg19_state
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    layers = ("relu1_1", "relu2_1", "relu3_4", "relu5_1")
    ours = VGG19Features(layers=layers, weights=str(path))
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    normalized = ((x + 1) / 2 - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(
        IMAGENET_STD
    ).view(1, 3, 1, 1)
    out = ours(x)
    with torch.no_grad():
        for name in layers:
            expected = reference[: VGG19_LAYERS[name][0] + 1](normalized)
            torch.testing.assert_close(out[name], expected, rtol=1e-4, atol=1e-5)


def test_truncated_after_deepest_layer_and_channels_declared():
    vgg = VGG19Features(layers=("relu1_1", "relu3_1"), weights="random")
    assert len(vgg.features) == VGG19_LAYERS["relu3_1"][0] + 1
    assert vgg.channels == {"relu1_1": 64, "relu3_1": 256}
    out = vgg(torch.zeros(2, 3, 32, 32))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "relu1_1": (2, 64, 32, 32),
        "relu3_1": (2, 256, 8, 8),
    }
    assert vgg.strides == {"relu1_1": 1, "relu3_1": 4}


def test_input_range_and_normalization_switch():
    x = torch.rand(1, 3, 32, 32)
    unit = VGG19Features(layers=("relu1_1",), weights="random", input_range=(0, 1))
    signed = VGG19Features(layers=("relu1_1",), weights="random")
    torch.testing.assert_close(unit(x)["relu1_1"], signed(x * 2 - 1)["relu1_1"])
    raw = VGG19Features(layers=("relu1_1",), weights="random", normalize_input=False)
    conv = raw.features[0]
    expected = torch.relu(conv((x * 2 - 1 + 1) / 2))
    torch.testing.assert_close(raw(x * 2 - 1)["relu1_1"], expected)


def test_frozen_and_eval_whatever_parent_does():
    vgg = VGG19Features(layers=("relu2_1",), weights="random")
    parent = torch.nn.Sequential(vgg).train()
    assert parent.training and not vgg.training
    assert not any(p.requires_grad for p in vgg.parameters())


def test_random_weights_are_seeded():
    a = VGG19Features(layers=("relu2_1",), weights="random")
    b = VGG19Features(layers=("relu2_1",), weights="random")
    c = VGG19Features(layers=("relu2_1",), weights="random", seed=1)
    assert torch.equal(a.features[0].weight, b.features[0].weight)
    assert not torch.equal(a.features[0].weight, c.features[0].weight)


def test_imagenet_loads_from_torch_cache_without_network(
    torchvision_vgg19_state, tmp_path, monkeypatch
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)

    def no_network(*args, **kwargs):
        raise AssertionError("tried to download although the file is cached")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    path = imagenet_vgg19_cache_path()
    assert path == tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    path.parent.mkdir(parents=True)
    state, _ = torchvision_vgg19_state
    torch.save({**state, "classifier.0.weight": torch.zeros(1)}, path)
    vgg = VGG19Features(layers=("relu2_1",), weights="imagenet")
    torch.testing.assert_close(vgg.features[5].weight, state["features.5.weight"])


def test_imagenet_missing_offline_names_file_folder_and_random(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(RuntimeError) as error:
        VGG19Features(weights="imagenet")
    message = str(error.value)
    assert "vgg19-dcbb9e9d.pth" in message
    assert str(tmp_path / "hub" / "checkpoints") in message
    assert "weights='random'" in message


def test_bad_weights_and_layers():
    with pytest.raises(ValueError, match="weights: expected 'imagenet', 'random' or a path"):
        VGG19Features(weights="/no/such/file.pth")
    with pytest.raises(ValueError, match=r"layers: unknown VGG19 layer\(s\) \['relu6_1'\]"):
        VGG19Features(layers=("relu6_1",), weights="random")


def test_state_dict_missing_keys(tmp_path):
    path = tmp_path / "partial.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)
    with pytest.raises(ValueError, match="lacks VGG19 keys"):
        VGG19Features(layers=("relu2_1",), weights=str(path))
