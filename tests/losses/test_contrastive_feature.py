import pytest
import torch
import torch.nn.functional as F

from cfl_lightning.losses import ContrastiveFeatureLoss, patch_nce, sample_locations
from cfl_lightning.losses.contrastive_feature import sample_patch_locations
from cfl_lightning.networks import VGG19Features
from cfl_lightning.networks.critic_head import l2_normalize


def images(seed, batch=2, size=64):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, size, size, generator=g) * 2 - 1


@pytest.fixture(scope="module")
def extractor():
    return VGG19Features(weights="random")


def make_loss(extractor, **kwargs):
    torch.manual_seed(0)
    return ContrastiveFeatureLoss(extractor=extractor, **kwargs)


def test_value_matches_independent_computation(extractor):
    loss = make_loss(extractor, num_patches=8, layer_weights=[1, 2, 3, 4])
    pred, target = images(0), images(1)
    value = loss(pred, target, generator=torch.Generator().manual_seed(5))

    g = torch.Generator().manual_seed(5)
    feats_p, feats_t = extractor(pred), extractor(target)
    areas = [feats_p[name].shape[-2] * feats_p[name].shape[-1] for name in loss.layers]
    drawn = sample_patch_locations(areas, 8, pred.device, g)  # the loss's draw: all layers at once
    expected = 0.0
    for name, weight, idx in zip(loss.layers, [0.1, 0.2, 0.3, 0.4], drawn):
        fp, ft = feats_p[name], feats_t[name]
        ep = l2_normalize(loss.heads[name](fp.flatten(2)[:, :, idx].permute(0, 2, 1)))
        et = l2_normalize(loss.heads[name](ft.flatten(2)[:, :, idx].permute(0, 2, 1)))
        expected = expected + weight * (patch_nce(ep, et) + patch_nce(et, ep))
    torch.testing.assert_close(value, expected)


def test_same_locations_for_pred_target_and_batch():
    locations = sample_locations(100, 10, torch.device("cpu"), torch.Generator().manual_seed(0))
    assert locations.shape == (10,) and locations.unique().numel() == 10
    assert int(locations.max()) < 100
    assert torch.equal(sample_locations(6, 10, torch.device("cpu"), None), torch.arange(6))


def test_perfect_prediction_beats_shuffled_and_blurred(extractor):
    loss = make_loss(extractor)
    target = images(2, batch=3)
    shuffled = target[:, :, torch.randperm(64, generator=torch.Generator().manual_seed(1))]
    blurred = F.avg_pool2d(target, 5, stride=1, padding=2, count_include_pad=False)
    scores = {}
    with torch.no_grad():
        for name, pred in {"perfect": target, "shuffled": shuffled, "blurred": blurred}.items():
            scores[name] = float(loss(pred, target, generator=torch.Generator().manual_seed(3)))
    assert scores["perfect"] < scores["blurred"] - 0.05
    assert scores["perfect"] < scores["shuffled"] - 0.05


def test_gradients_reach_pred_and_heads_only(extractor):
    loss = make_loss(extractor)
    pred = images(3).requires_grad_()
    target = images(4).requires_grad_()
    loss(pred, target).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert target.grad is None
    assert all(p.grad is None and not p.requires_grad for p in loss.extractor.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in loss.heads.parameters())


def test_reverse_term_sends_no_gradient_to_pred(extractor):
    pred, target = images(5), images(6)
    grads = []
    for bidirectional in (True, False):
        loss = make_loss(extractor, bidirectional=bidirectional)
        p = pred.clone().requires_grad_()
        loss(p, target, generator=torch.Generator().manual_seed(0)).backward()
        grads.append(p.grad)
    torch.testing.assert_close(grads[0], grads[1])


def test_critic_parameters_are_exactly_the_heads(extractor):
    loss = make_loss(extractor)
    assert {id(p) for p in loss.critic_parameters()} == {id(p) for p in loss.heads.parameters()}
    assert set(loss.heads) == {"relu2_1", "relu3_1", "relu4_1", "relu5_1"}
    head = loss.heads["relu3_1"]
    assert head[0].in_features == 256 and head[2].out_features == 256
    assert len(list(make_loss(extractor, head="identity").critic_parameters())) == 0
    assert make_loss(extractor, head="linear", head_dim=32).heads["relu5_1"].out_features == 32


def test_optimizer_built_before_first_forward_trains_heads(extractor):
    loss = make_loss(extractor, num_patches=16)
    optimizer = torch.optim.Adam(loss.critic_parameters(), lr=1e-3)
    pred, target = images(7), images(8)
    values = []
    for _ in range(8):
        value = loss(pred, target, generator=torch.Generator().manual_seed(0))
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        values.append(value.item())
    assert values[-1] < values[0] - 0.1


def test_extractor_stays_frozen_in_train_mode(extractor):
    loss = make_loss(extractor).train()
    assert loss.training and loss.heads.training
    assert not loss.extractor.training


def test_deterministic_under_seed(extractor):
    pred, target = images(9), images(10)
    loss = make_loss(extractor)
    torch.manual_seed(123)
    first = loss(pred, target)
    torch.manual_seed(123)
    second = loss(pred, target)
    third = loss(pred, target)
    assert torch.equal(first, second) and not torch.equal(first, third)


def test_bfloat16_autocast_close_to_float32(extractor):
    loss = make_loss(extractor)
    pred, target = images(11), images(12)
    reference = loss(pred, target, generator=torch.Generator().manual_seed(0))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = loss(pred, target, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(value) and value.dtype == torch.float32
    assert abs(float(value) - float(reference)) / float(reference) < 0.05


def test_trainable_extractor_gets_gradients_and_is_in_critic_parameters():
    from torch import nn

    class TinyEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.channels = {"a": 4, "b": 8}
            self.a = nn.Conv2d(3, 4, 3, padding=1)
            self.b = nn.Conv2d(4, 8, 3, stride=2, padding=1)

        def forward(self, x):
            a = torch.relu(self.a(x))
            return {"a": a, "b": torch.relu(self.b(a))}

    encoder = TinyEncoder()
    loss = ContrastiveFeatureLoss(extractor=encoder, num_patches=8)
    assert loss.layers == ("a", "b")
    assert {id(p) for p in encoder.parameters()} <= {id(p) for p in loss.critic_parameters()}
    loss(images(13, size=16), images(14, size=16)).backward()
    assert all(p.grad is not None for p in encoder.parameters())


def bad_input_cases():
    good = images(0)
    return [
        (good, good[:, :, :32], "pred, target: expected equal shapes"),
        (good[0], good[0], r"pred: expected a 4-D \(B, 3, H, W\) tensor, got shape \(3, 64, 64\)"),
        (good[:, :1], good[:, :1], "pred: expected 3 channels"),
        (good.masked_fill(good > 0.99, float("nan")), good, "pred: expected finite values"),
        (good, good.masked_fill(good > 0.99, float("inf")), "target: expected finite values"),
        (good * 3, good, r"pred: values span .* outside input_range=\(-1.0, 1.0\)"),
        (images(0, size=16), images(1, size=16), r"layer relu5_1 .* at least 32x32 pixels"),
    ]


@pytest.mark.parametrize(("pred", "target", "match"), bad_input_cases())
def test_bad_inputs_raise_clear_errors(extractor, pred, target, match):
    with pytest.raises(ValueError, match=match):
        make_loss(extractor)(pred, target)


def test_small_overshoot_of_range_is_tolerated(extractor):
    target = images(0).clamp(-1, 1)
    make_loss(extractor)(target * 1.005, target)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"layers": ("relu2_1", "relu9_9")}, r"layers: unknown .*relu9_9"),
        ({"num_patches": 1}, "num_patches: expected an integer >= 2, got 1"),
        ({"temperature": -0.1}, "temperature: expected a value > 0, got -0.1"),
        ({"head": "transformer"}, "head: expected one of"),
        ({"layer_weights": [1.0]}, "layer_weights: expected 4 non-negative weights"),
    ],
)
def test_bad_arguments_raise_clear_errors(extractor, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ContrastiveFeatureLoss(extractor=extractor, **kwargs)


def test_unknown_vgg_layer_when_building_default_extractor():
    with pytest.raises(ValueError, match=r"layers: unknown VGG19 layer\(s\) \['conv9'\]"):
        ContrastiveFeatureLoss(weights="random", layers=("conv9",))


def test_extractor_without_channels_is_rejected():
    with pytest.raises(ValueError, match="extractor: expected a module declaring `channels"):
        ContrastiveFeatureLoss(extractor=torch.nn.Identity())
