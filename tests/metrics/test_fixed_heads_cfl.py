import pytest
import torch
from torchmetrics.utilities.data import dim_zero_sum

from cfl_lightning.losses import ContrastiveFeatureLoss
from cfl_lightning.metrics.fixed_heads_cfl import FixedHeadsCFL
from cfl_lightning.networks import VGG19Features


def images(seed, batch=2, size=32):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, size, size, generator=g) * 2 - 1


@pytest.fixture(scope="module")
def extractor():
    return VGG19Features(layers=("relu1_1", "relu2_1", "relu3_1"), weights="random", seed=3)


def test_value_is_identity_head_cfl_at_the_seeded_locations_per_image(extractor):
    metric = FixedHeadsCFL(extractor=extractor, num_patches=32, seed=7)
    batches = [(images(0, 2), images(1, 2)), (images(2, 3), images(3, 3))]
    for preds, target in batches:
        metric.update(preds, target)

    loss = ContrastiveFeatureLoss(extractor=extractor, head="identity", num_patches=32)
    locations = loss.draw_locations((32, 32), torch.Generator().manual_seed(7))
    with torch.no_grad():
        per_image = [
            loss(preds[i : i + 1], target[i : i + 1], locations=locations)
            for preds, target in batches
            for i in range(preds.shape[0])
        ]
    torch.testing.assert_close(metric.compute(), torch.stack(per_image).mean())


def test_unchanged_when_the_critic_heads_change(extractor):
    torch.manual_seed(0)
    cfl = ContrastiveFeatureLoss(extractor=extractor, num_patches=32)
    preds, target = images(4), images(5)
    locations = cfl.draw_locations(preds.shape, torch.Generator().manual_seed(0))
    values, trained = [], []
    for _ in range(2):
        metric = FixedHeadsCFL.from_loss(cfl)
        metric.update(preds, target)
        values.append(metric.compute())
        with torch.no_grad():
            trained.append(cfl(preds, target, locations=locations))
            for p in cfl.heads.parameters():
                p.add_(torch.randn_like(p))
    assert torch.equal(values[0], values[1])
    assert not torch.allclose(trained[0], trained[1])  # the co-trained critic's value moves


def test_from_loss_copies_settings_and_borrows_the_extractor(extractor):
    cfl = ContrastiveFeatureLoss(
        extractor=extractor,
        layers=("relu2_1", "relu3_1"),
        layer_weights=(1, 3),
        num_patches=16,
        temperature=0.1,
        bidirectional=False,
    )
    metric = FixedHeadsCFL.from_loss(cfl, seed=2)
    assert metric.loss.extractor is extractor
    assert metric.loss.layers == ("relu2_1", "relu3_1") and metric.loss.num_patches == 16
    assert metric.loss.layer_weights == {"relu2_1": 0.25, "relu3_1": 0.75}
    assert metric.loss.temperature == 0.1 and not metric.loss.bidirectional
    assert metric.loss.heads.kind == "identity"
    assert list(metric.state_dict()) == []  # no extractor weights, no persistent states
    assert not any(True for _ in metric.parameters())


def test_default_extractor_is_seeded_random_vgg19():
    first, second = FixedHeadsCFL(num_patches=16), FixedHeadsCFL(num_patches=16)
    other_seed = FixedHeadsCFL(num_patches=16, seed=1)
    preds, target = images(6, size=64), images(7, size=64)
    for metric in (first, second, other_seed):
        metric.update(preds, target)
    assert torch.equal(first.compute(), second.compute())
    assert not torch.equal(first.compute(), other_seed.compute())
    assert first.loss.layers == ("relu2_1", "relu3_1", "relu4_1", "relu5_1")


def test_states_merge_like_one_process(extractor):
    whole = FixedHeadsCFL(extractor=extractor, num_patches=32)
    shards = [FixedHeadsCFL(extractor=extractor, num_patches=32) for _ in range(2)]
    preds, target = images(8, 5), images(9, 5)
    whole.update(preds, target)
    shards[0].update(preds[:2], target[:2])
    shards[1].update(preds[2:], target[2:])
    assert shards[0]._reductions == {"score_sum": dim_zero_sum, "count": dim_zero_sum}
    shards[0].merge_state(shards[1])
    torch.testing.assert_close(shards[0].compute(), whole.compute())
    assert int(shards[0].count) == 5


def test_lower_for_the_target_itself_than_for_a_blurred_copy(extractor):
    metric = FixedHeadsCFL(extractor=extractor, num_patches=32)
    target = images(10, 2)
    blurred = torch.nn.functional.avg_pool2d(target, 5, 1, 2, count_include_pad=False)
    metric.update(target, target)
    perfect = metric.compute()
    metric.reset()
    metric.update(blurred, target)
    assert float(perfect) < float(metric.compute())


def test_bad_inputs_raise_clear_errors(extractor):
    with pytest.raises(ValueError, match=r"seed: expected an integer, got 1\.5"):
        FixedHeadsCFL(extractor=extractor, seed=1.5)
    metric = FixedHeadsCFL(extractor=extractor)
    with pytest.raises(ValueError, match="preds, target: expected equal shapes"):
        metric.update(images(0), images(0, size=64))
