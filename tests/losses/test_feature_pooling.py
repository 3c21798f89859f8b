"""ContrastiveFeatureLoss(feature_pooling=k): each layer's features are averaged over k x k
neighbourhoods before the patches are sampled; one k for every layer, or one per layer."""

import pytest
import torch

from cfl_lightning.losses import ContrastiveFeatureLoss
from cfl_lightning.losses.feature_pooling import pooled_features, pooling_kernels
from cfl_lightning.networks import VGG19Features


def images(seed, batch=2, size=32):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, size, size, generator=g) * 2 - 1


def box_mean(x, k):
    """Mean of each ``k x k`` neighbourhood of ``x`` (B, C, h, w), over the cells inside the map:
    a loop over the offsets, no pooling operator."""
    h, w = x.shape[-2:]
    total, count = torch.zeros_like(x), torch.zeros(h, w)
    r = k // 2
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            ys, yd = slice(max(dy, 0), h + min(dy, 0)), slice(max(-dy, 0), h + min(-dy, 0))
            xs, xd = slice(max(dx, 0), w + min(dx, 0)), slice(max(-dx, 0), w + min(-dx, 0))
            total[..., yd, xd] += x[..., ys, xs]
            count[yd, xd] += 1
    return total / count


class BoxMeanFeatures(torch.nn.Module):
    """``extractor`` with every layer's features replaced by their ``k x k`` box means: ``k`` one
    size for all layers or a dict of sizes by layer name (a layer without one is unchanged)."""

    def __init__(self, extractor, k):
        super().__init__()
        self.inner = extractor
        self.k = k if isinstance(k, dict) else dict.fromkeys(extractor.channels, k)
        self.channels, self.strides = extractor.channels, extractor.strides

    def forward(self, x):
        return {name: box_mean(f, self.k.get(name, 1)) for name, f in self.inner(x).items()}


def small_extractor():
    torch.manual_seed(0)
    return VGG19Features(layers=("relu2_1", "relu3_1", "relu4_1"), weights="random")


@pytest.mark.parametrize(
    ("k", "critic"),
    [(3, "joint"), (5, "target_views"), ((3, 1, 1), "target_views"), ((1, 5, 3), "joint")],
)
def test_value_and_gradients_are_those_of_cfl_on_box_averaged_features(k, critic):
    extractor = small_extractor()
    options = {"num_patches": 24, "critic": critic, "false_negative_threshold": 0.99}
    pooled = ContrastiveFeatureLoss(extractor=extractor, feature_pooling=k, **options)
    per_layer = dict(zip(extractor.channels, k)) if isinstance(k, tuple) else k
    reference = ContrastiveFeatureLoss(extractor=BoxMeanFeatures(extractor, per_layer), **options)
    reference.heads.load_state_dict(pooled.heads.state_dict())
    pred, target = images(1).requires_grad_(), images(2)
    locations = pooled.draw_locations(pred.shape, torch.Generator().manual_seed(3))
    value = pooled(pred, target, locations=locations)
    expected = reference(pred, target, locations=locations)
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-5)
    params = [pred, *pooled.heads.parameters()]
    expected_params = [pred, *reference.heads.parameters()]
    for grad, other in zip(
        torch.autograd.grad(value, params), torch.autograd.grad(expected, expected_params)
    ):
        torch.testing.assert_close(grad, other, rtol=1e-4, atol=1e-7)


def test_kernel_one_is_the_paper_value_and_pooling_changes_it():
    extractor = small_extractor()
    plain = ContrastiveFeatureLoss(extractor=extractor, num_patches=24)
    one = ContrastiveFeatureLoss(extractor=extractor, num_patches=24, feature_pooling=1)
    ones = ContrastiveFeatureLoss(extractor=extractor, num_patches=24, feature_pooling=[1, 1, 1])
    three = ContrastiveFeatureLoss(extractor=extractor, num_patches=24, feature_pooling=3)
    last = ContrastiveFeatureLoss(extractor=extractor, num_patches=24, feature_pooling=(1, 1, 3))
    for loss in (one, ones, three, last):
        loss.heads.load_state_dict(plain.heads.state_dict())
    pred, target = images(4), images(5)
    locations = plain.draw_locations(pred.shape, torch.Generator().manual_seed(0))
    with torch.no_grad():
        value = plain(pred, target, locations=locations)
        assert torch.equal(one(pred, target, locations=locations), value)
        assert torch.equal(ones(pred, target, locations=locations), value)
        assert not torch.allclose(three(pred, target, locations=locations), value)
        assert not torch.allclose(last(pred, target, locations=locations), value)


@pytest.mark.parametrize("k", [0, 2, 4, 3.0, True, "3", (3, 2, 1), (1, True, 1), None])
def test_kernel_that_is_not_an_odd_size_is_rejected(k):
    with pytest.raises(ValueError, match=r"feature_pooling: expected an odd kernel size >= 1"):
        ContrastiveFeatureLoss(extractor=small_extractor(), feature_pooling=k)


@pytest.mark.parametrize("k", [(3, 1), (3, 1, 1, 1), ()])
def test_per_layer_kernels_must_match_the_layers(k):
    message = (
        r"feature_pooling: expected one kernel per layer of \['relu2_1', 'relu3_1', 'relu4_1'\]"
    )
    with pytest.raises(ValueError, match=message + rf" \(3\), got {len(k)}"):
        ContrastiveFeatureLoss(extractor=small_extractor(), feature_pooling=k)


def test_pooled_features_box_averages_each_layer_with_its_own_kernel():
    g = torch.Generator().manual_seed(6)
    features = {"fine": torch.randn(2, 4, 9, 7, generator=g), "coarse": torch.randn(2, 4, 5, 5)}
    pooled = pooled_features(features, {"fine": 5, "coarse": 1})
    torch.testing.assert_close(pooled["fine"], box_mean(features["fine"], 5))
    assert pooled["coarse"] is features["coarse"]
    assert pooling_kernels((5, 1), ["fine", "coarse"]) == {"fine": 5, "coarse": 1}
    assert pooling_kernels(3, ["fine", "coarse"]) == {"fine": 3, "coarse": 3}


def test_a_bad_kernel_is_refused_before_the_weights_are_looked_for(tmp_path, monkeypatch):
    # an empty cache and no network: the argument's error comes first, not the weights'
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)

    def no_network(*args, **kwargs):
        raise AssertionError("looked for the weights before checking feature_pooling")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with pytest.raises(ValueError, match=r"feature_pooling: expected an odd kernel size >= 1"):
        ContrastiveFeatureLoss(weights="imagenet", feature_pooling=(3, 2, 1, 1))
