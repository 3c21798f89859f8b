import pytest
import torch
import torch.nn.functional as F

from cfl_lightning.losses import ContrastiveFeatureLoss, patch_nce, sample_locations
from cfl_lightning.losses.contrastive_feature import sample_patch_locations
from cfl_lightning.networks import VGG19Features
from cfl_lightning.networks.critic_head import l2_normalize
from tests.losses.compiled import assert_compiled_matches_eager


def images(seed, batch=2, size=64):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, size, size, generator=g) * 2 - 1


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
    # 48x48 (relu5_1 still 3x3): bfloat16 convolutions are slow on CPUs without native support.
    pred, target = images(11, size=48), images(12, size=48)
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


def reference_direction(q, k, temperature=0.07, query_negatives=True):
    """Mean PatchNCE of one direction with plain autograd and an explicitly detached key
    (``"above_target"``: a query pair is a negative only where its cosine is above the keys')."""
    n = q.shape[1]
    k = k.detach()
    logits = torch.cat([q @ k.transpose(1, 2), q @ q.transpose(1, 2)], -1) / temperature
    eye = torch.eye(n, dtype=torch.bool)
    own = eye if query_negatives else torch.ones_like(eye)
    if query_negatives == "above_target":
        own = eye | (q @ q.transpose(1, 2) <= k @ k.transpose(1, 2)).detach()
    logits = logits.masked_fill(torch.cat([torch.zeros_like(own), own], -1), float("-inf"))
    return (torch.logsumexp(logits, -1) - logits.diagonal(dim1=1, dim2=2)).mean()


def reference_loss(loss, pred, target, locations, layer_weights):
    """Per layer, on the first min(num_patches, h*w) locations of each row of ``locations``."""
    feats_p, feats_t = loss.extractor(pred), loss.extractor(target)
    total = 0.0
    for name, weight, row in zip(loss.layers, layer_weights, locations):
        fp, ft = feats_p[name], feats_t[name]
        idx = row[: min(loss.num_patches, fp.shape[-2] * fp.shape[-1])]
        assert idx.unique().numel() == idx.numel()
        ep = l2_normalize(loss.heads[name](fp.flatten(2)[:, :, idx].transpose(1, 2)))
        et = l2_normalize(loss.heads[name](ft.flatten(2)[:, :, idx].transpose(1, 2)))
        layer = reference_direction(ep, et, loss.temperature, loss.query_negatives)
        if loss.bidirectional:
            layer = layer + reference_direction(et, ep, loss.temperature, loss.query_negatives)
        total = total + weight * layer
    return total


@pytest.mark.parametrize(
    ("head", "bidirectional", "query_negatives", "batch"),
    [
        ("mlp", True, True, 2),
        ("mlp", True, True, 3),
        ("mlp", False, True, 2),
        ("mlp", True, False, 2),
        ("mlp", True, "above_target", 2),
        ("mlp", False, "above_target", 3),
        ("linear", True, True, 2),
        ("identity", True, True, 2),
    ],
)
def test_batched_layers_with_padding_match_per_layer_reference(
    extractor, head, bidirectional, query_negatives, batch
):
    # 64x64 images and 256 patches: relu4_1 (8x8) and relu5_1 (4x4) have fewer locations than
    # the other layers, so the batched computation pads them; values and gradients must not move.
    loss = make_loss(
        extractor,
        head=head,
        bidirectional=bidirectional,
        query_negatives=query_negatives,
        layer_weights=[4, 3, 2, 1],
    )
    pred = images(30, batch=batch).requires_grad_()
    target = images(31, batch=batch)
    locations = loss.draw_locations(pred.shape, torch.Generator().manual_seed(6))
    assert locations.shape == (4, 256)
    value = loss(pred, target, locations=locations)
    expected = reference_loss(loss, pred, target, locations, [0.4, 0.3, 0.2, 0.1])
    torch.testing.assert_close(value, expected)
    inputs = [pred, *loss.heads.parameters()]
    grads = torch.autograd.grad(value, inputs)
    expected_grads = torch.autograd.grad(expected, inputs)
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-4, atol=1e-6)


def test_locations_argument_reproduces_the_generator_draw(extractor):
    loss = make_loss(extractor, num_patches=32)
    pred, target = images(32), images(33)
    drawn = loss(pred, target, generator=torch.Generator().manual_seed(7))
    locations = loss.draw_locations(pred.shape, torch.Generator().manual_seed(7))
    assert torch.equal(loss(pred, target, locations=locations), drawn)
    other = loss.draw_locations(pred.shape, torch.Generator().manual_seed(8))
    assert not torch.equal(loss(pred, target, locations=other), drawn)


def test_bad_locations_are_rejected(extractor):
    loss = make_loss(extractor, num_patches=32)
    with pytest.raises(ValueError, match=r"locations: expected an int64 tensor of shape \(4, 32\)"):
        loss(images(0), images(1), locations=torch.zeros(4, 16, dtype=torch.long))


def test_sample_patch_locations_rows():
    g = torch.Generator().manual_seed(0)
    locations = sample_patch_locations([100, 12, 30], 20, "cpu", g)
    assert locations.shape == (3, 20) and locations.dtype == torch.int64
    for row, area in zip(locations, [100, 12, 30]):
        real = row[: min(20, area)]
        assert real.unique().numel() == real.numel() and int(real.max()) < area
        assert int(row.min()) >= 0 and int(row.max()) < area  # padding repeats real locations
    assert sorted(locations[1, :12].tolist()) == list(range(12))
    again = sample_patch_locations([100, 12, 30], 20, "cpu", torch.Generator().manual_seed(0))
    assert torch.equal(again, locations)


def test_sample_patch_locations_are_uniform():
    g = torch.Generator().manual_seed(1)
    counts = torch.zeros(10)
    for _ in range(2000):
        counts += torch.bincount(sample_patch_locations([10], 3, "cpu", g)[0], minlength=10)
    # Each location is picked with probability 3/10: 600 of 2000 draws, std ~20.5.
    assert (counts - 600).abs().max() < 80


def test_value_checks_run_on_the_first_calls_only_by_default(extractor):
    good, bad = images(0), images(0).masked_fill(images(0) > 0.99, float("nan"))
    loss = make_loss(extractor, num_patches=16)
    with pytest.raises(ValueError, match="pred: expected finite values"):
        loss(bad, good)
    loss(good, good)
    value = loss(bad, good)  # third call: no check, no sync
    assert torch.isnan(value)
    with pytest.raises(ValueError, match="pred, target: expected equal shapes"):
        loss(good, good[:, :, :32])  # shapes are checked on every call


@pytest.mark.parametrize("mode", ["always", True])
def test_value_checks_on_every_call_when_asked(extractor, mode):
    good, bad = images(0), images(0) * 3
    loss = make_loss(extractor, num_patches=16, validate_inputs=mode)
    assert loss.validate_inputs == "always"
    for _ in range(3):
        loss(good, good)
    with pytest.raises(ValueError, match=r"pred: values span .* outside input_range"):
        loss(bad, good)


@pytest.mark.parametrize("mode", ["never", False])
def test_value_checks_never(extractor, mode):
    loss = make_loss(extractor, num_patches=16, validate_inputs=mode)
    assert torch.isfinite(loss(images(0) * 3, images(0)))
    with pytest.raises(ValueError, match=r"pred: expected a 4-D"):
        loss(images(0)[0], images(0)[0])


def test_validate_inputs_is_settable_and_checked(extractor):
    loss = make_loss(extractor, num_patches=16)
    assert loss.validate_inputs == "first"
    loss.validate_inputs = "always"
    assert loss.value_checks.mode == "always"
    with pytest.raises(ValueError, match="validate_inputs: expected True, False or one of"):
        make_loss(extractor, validate_inputs="sometimes")


def test_head_parameter_names_unchanged_for_checkpoints(extractor):
    from torch import nn

    from cfl_lightning.networks.critic_head import make_critic_head

    for head in ("mlp", "linear"):
        loss = make_loss(extractor, head=head)
        plain = nn.ModuleDict(
            {name: make_critic_head(head, c, 256) for name, c in extractor.channels.items()}
        )
        assert list(loss.heads.state_dict()) == list(plain.state_dict())
        loss.heads.load_state_dict(plain.state_dict())
        for key, value in plain.state_dict().items():
            assert torch.equal(loss.heads.state_dict()[key], value)


def tiny_loss():
    torch.manual_seed(0)
    small = VGG19Features(layers=("relu1_1", "relu2_1"), weights="random")
    return ContrastiveFeatureLoss(extractor=small, num_patches=64)


def test_compiles_to_one_graph_equal_to_eager():
    loss = tiny_loss()
    pred = images(40, size=32).requires_grad_()
    target = images(41, size=32)
    locations = loss.draw_locations(pred.shape, torch.Generator().manual_seed(0))
    compiled = assert_compiled_matches_eager(loss, pred, target, locations)
    assert torch.isfinite(compiled(pred, target))  # locations from the global RNG, in the graph


@pytest.mark.slow
def test_inductor_compiled_loss_equals_eager():
    loss = tiny_loss()
    pred = images(42, size=32).requires_grad_()
    target = images(43, size=32)
    locations = loss.draw_locations(pred.shape, torch.Generator().manual_seed(1))
    eager = loss(pred, target, locations=locations)
    torch._dynamo.reset()
    value = torch.compile(loss, fullgraph=True)(pred, target, locations=locations)
    torch.testing.assert_close(value, eager, rtol=0, atol=1e-5)
    (grad,) = torch.autograd.grad(value, pred)
    (expected,) = torch.autograd.grad(eager, pred)
    torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-6)


def test_training_works_after_a_call_under_inference_mode():
    # Lightning validates (sanity check) under torch.inference_mode before training: constants
    # cached then are inference tensors, which autograd refuses to save for the backward.
    torch.manual_seed(0)
    cfl = ContrastiveFeatureLoss(weights="random", num_patches=16)  # relu5_1 (2x2) is padded
    pred = torch.rand(2, 3, 32, 32) * 2 - 1
    target = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.inference_mode():
        validated = cfl(pred, target, generator=torch.Generator().manual_seed(1))
    pred = pred.clone().requires_grad_()
    trained = cfl(pred, target, generator=torch.Generator().manual_seed(1))
    trained.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    assert trained.item() == pytest.approx(validated.item(), rel=1e-6)
