"""The operator count of CFL against the VGG loss (issue 12's figure without a GPU), and the
bootstrap interval the speed benchmarks print."""

import pytest
import torch

from tests.benchmarks.scripts import benchmark_modules


@pytest.fixture(scope="module")
def scripts():
    yield from benchmark_modules("op_count", "loss_speed")


def test_cfl_dispatches_at_most_100_operators_more_than_the_vgg_loss(scripts):
    op_count, _ = scripts
    ops = op_count.count_ops(batch=2, size=64)
    assert len(ops["vgg"]) > 100  # the profiler saw both passes through VGG19
    assert len(ops["cfl"]) - len(ops["vgg"]) <= 100
    # No value check (aminmax and a host copy) after the first calls.
    assert "aten::aminmax" not in ops["cfl"] and "aten::aminmax" not in ops["vgg"]


def test_false_negative_mask_is_batched_across_layers(scripts):
    # Per layer it cost 8-9 operators for each of VGG19's 4 CFL layers (39 in all); batched, one
    # pad per narrower layer plus a fixed number.
    op_count, _ = scripts
    plain = op_count.count_ops(batch=2, size=64)["cfl"]
    masked = op_count.count_ops(batch=2, size=64, false_negative_threshold=0.99)["cfl"]
    assert 0 < len(masked) - len(plain) <= 20
    assert masked.count("aten::bmm") - plain.count("aten::bmm") == 1  # one product, all layers


def test_median_ratio_interval(scripts):
    _, loss_speed = scripts
    reference = [10.0 + 0.1 * (i % 7) for i in range(60)]
    times = [2 * r for r in reference]
    ratio, low, high = loss_speed.median_ratio_interval(times, reference)
    assert ratio == pytest.approx(2.0) and low == pytest.approx(2.0) and high == pytest.approx(2.0)
    noisy = [t * (1 + 0.2 * ((i * 37) % 11 - 5) / 5) for i, t in enumerate(times)]
    ratio, low, high = loss_speed.median_ratio_interval(noisy, reference, paired=False)
    assert low < ratio < high and low > 1.6 and high < 2.4


def test_views_are_told_apart_from_operators_that_launch_kernels(scripts):
    op_count, _ = scripts
    for view in ("aten::view", "aten::slice", "aten::transpose", "aten::detach", "aten::unbind"):
        assert op_count.returns_alias(view), view
    for compute in ("aten::cat", "aten::bmm", "aten::add_", "aten::index", "aten::no_such_op"):
        assert not op_count.returns_alias(compute), compute
    x = torch.ones(2, 3)
    names = op_count.top_level_ops(lambda: (x.to(torch.float32), x.to(torch.float64)))
    assert names == ["aten::to", "aten::to (copy)"]  # a conversion copies: not a view
    assert op_count.returns_alias(names[0]) and not op_count.returns_alias(names[1])


def test_above_target_query_negatives_cost_a_few_operators(scripts):
    # The random-weights recipe (cfl-fn-aq) compares each prediction pair with its target pair:
    # a handful of operators over cfl-fn, all layers at once.
    op_count, _ = scripts
    options = {"critic": "target_views", "false_negative_threshold": 0.99}
    fn = op_count.count_ops(batch=2, size=64, **options)["cfl"]
    aq = op_count.count_ops(batch=2, size=64, query_negatives="above_target", **options)["cfl"]
    assert 0 < len(aq) - len(fn) <= 12


def test_loss_speed_steps_every_loss_it_names(scripts):
    # One forward + backward of each, the random-weights recipe read from its config.
    import argparse

    _, loss_speed = scripts
    assert loss_speed.random_weights_options()["critic"] == "target_views"
    args = argparse.Namespace(batch=1, size=32, compile=False, precision="32")
    for name in loss_speed.LOSSES:
        loss_speed.make_step(name, args, torch.device("cpu"))()
