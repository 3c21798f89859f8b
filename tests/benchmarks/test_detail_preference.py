"""The detail-preference ladders (plausible predictions not aligned with their targets) and the
table that reports where each loss is lowest."""

import pytest
import torch

from cfl_lightning.metrics import mean_gradient_magnitude
from tests.benchmarks.scripts import benchmark_modules


@pytest.fixture(scope="module")
def scripts():
    yield from benchmark_modules("detail_preference", "distortions")


def _sharpness(pred, target):
    return float(mean_gradient_magnitude(pred).mean() / mean_gradient_magnitude(target).mean())


def test_texture_ladder_is_another_rendering_sharpened_by_a(scripts):
    detail, _ = scripts
    target, make = detail.texture_ladder(3)
    assert target.shape == (3, 3, 64, 64)
    other = make(0.0)
    assert (other - target).abs().mean() > 0.05  # other texture phases, not the target
    assert 0.8 < _sharpness(other, target) < 1.25  # but as sharp as the targets
    ratios = [_sharpness(make(a), target) for a in (-0.5, 0.0, 0.5, 1.0)]
    assert ratios == sorted(ratios) and ratios[-1] > 1.3 and ratios[0] < 0.85


def test_photo_ladder_moves_the_targets_own_detail(scripts):
    detail, distortions = scripts
    target, make = detail.photo_ladder(4)
    assert target.shape == (4, 3, 64, 64)
    low = distortions.gaussian_blur(target, 1.5)
    torch.testing.assert_close(make(0.0), low)
    moved = torch.roll(target - low, (3, 3), (2, 3))
    torch.testing.assert_close(make(1.0), (low + moved).clamp(-1, 1))
    assert abs(_sharpness(make(1.0), target) - 1) < 0.15  # the targets' amount of detail
    assert (make(1.0) - target).abs().mean() > (low - target).abs().mean()  # at the wrong places


def test_table_marks_each_losses_lowest_level(scripts):
    detail, _ = scripts
    rows = [
        {"a": 0.0, "sharpness": 1.0, "l1": 0.1, "cfl": 9.0},
        {"a": 1.0, "sharpness": 1.5, "l1": 0.2, "cfl": 8.5},
    ]
    text = detail.table("t", rows)
    assert "| 0 | 1.00 | **0.1000** | 9.0000 |" in text
    assert "| 1 | 1.50 | 0.2000 | **8.5000** |" in text
    assert "| lowest at a (sharpness) | | 0 (1.00) | 1 (1.50) |" in text


def test_train_view_heads_moves_the_heads_only(scripts):
    from cfl_lightning.losses import ContrastiveFeatureLoss
    from cfl_lightning.networks import ConvEncoderFeatures

    detail, _ = scripts
    torch.manual_seed(0)
    encoder = ConvEncoderFeatures(widths=(4, 8, 8), trainable=False)
    loss = ContrastiveFeatureLoss(extractor=encoder, num_patches=16, critic="target_views")
    heads = [p.detach().clone() for p in loss.heads.parameters()]
    frozen = [p.detach().clone() for p in encoder.parameters()]
    pool = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    detail.train_view_heads(loss, pool, steps=2, seed=0)
    assert not loss.training
    assert all(not torch.equal(a, b) for a, b in zip(heads, loss.heads.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(frozen, encoder.parameters()))


@pytest.mark.parametrize("name", ["feature_mean_term", "gram_term"])
def test_term_sees_the_amount_of_detail_not_its_place(scripts, name):
    from cfl_lightning.networks import VGG19Features

    detail, distortions = scripts
    extractor = VGG19Features(weights="random")
    x = torch.arange(64, dtype=torch.float32)
    stripes = 0.8 * torch.tanh(3 * torch.sin(2 * torch.pi * x / 8)).expand(1, 3, 64, 64)
    moved = torch.roll(stripes, 4, dims=3)  # half a period
    blurred = distortions.gaussian_blur(stripes, 1.5)
    layers = extractor.layers

    def term(pred):
        with torch.no_grad():
            return getattr(detail, name)(extractor, layers, pred, stripes)

    assert term(stripes) == 0.0
    assert term(blurred) > 0.1
    assert term(moved) < 0.25 * term(blurred)


def test_aq_recipe_changes_only_the_options_asked_for(scripts):
    from quality_tasks import main_recipes

    detail, _ = scripts
    shipped = next(r for r in main_recipes(False) if r.name == "cfl-fn-aq")
    assert detail.aq_recipe() == shipped
    moved = detail.aq_recipe(view_shift=4)
    assert moved.cfl_options == {**shipped.cfl_options, "view_shift": 4}
    warmer = detail.aq_recipe(temperature=0.2)
    assert warmer.cfl_options == {**shipped.cfl_options, "temperature": 0.2}
    assert moved.name == warmer.name == "cfl-fn-aq"


def test_view_shift_below_one_is_refused(scripts):
    detail, _ = scripts
    with pytest.raises(SystemExit, match="--view-shift: expected pixels >= 1, got 0"):
        detail.main(["--view-shift", "0"])


def test_temperature_not_above_zero_is_refused(scripts):
    detail, _ = scripts
    with pytest.raises(SystemExit, match=r"--temperature: expected a value > 0, got 0\.0"):
        detail.main(["--temperature", "0"])


def test_num_patches_below_two_is_refused(scripts):
    detail, _ = scripts
    with pytest.raises(SystemExit, match="--num-patches: expected a count >= 2, got 1"):
        detail.main(["--num-patches", "1"])


def _options_and_report(detail, tmp_path, monkeypatch, *options):
    """``cfl-fn-aq``'s options as main passes them with ``options`` (the losses and rows stubbed:
    the real ones take a minute here), and the report's text."""
    seen = []

    def loss_columns(seed, pool, head_steps, recipe, per_layer=False, gram=False, half=False):
        seen.append(recipe.cfl_options)
        return {"l1": lambda p, t: 0.0}

    monkeypatch.setattr(detail, "loss_columns", loss_columns)
    monkeypatch.setattr(
        detail,
        "ladder_rows",
        lambda t, m, levels, losses, gram_weights=(): [{"a": 0.0, "sharpness": 1.0, "l1": 0}],
    )
    out = tmp_path / "report.md"
    assert detail.main(["--items", "1", *options, "--ladders", "photos", "--out", str(out)]) == 0
    return seen, out.read_text()


def test_num_patches_reaches_cfl_fn_aq_and_the_header(scripts, tmp_path, monkeypatch):
    detail, _ = scripts
    seen, report = _options_and_report(detail, tmp_path, monkeypatch, "--num-patches", "64")
    shipped = detail.aq_recipe().cfl_options
    assert "num_patches" not in shipped  # the loss's default, 256
    assert seen == [{**shipped, "num_patches": 64}]
    assert "heads at initialisation, num_patches 64" in report


def test_ladders_option_runs_only_the_ladders_asked_for(scripts, tmp_path, monkeypatch):
    # The losses and rows stubbed (the real ones take a minute here): which ladders main builds,
    # which levels it scores and which pools the heads would train on.
    detail, _ = scripts
    calls = []

    def loss_columns(seed, pool, head_steps, recipe, per_layer=False, gram=False, half=False):
        calls.append(("losses", None if pool is None else tuple(pool.shape), head_steps))
        return {"l1": lambda p, t: 0.0}

    def ladder_rows(target, make, levels, losses, gram_weights=()):
        calls.append(("rows", tuple(levels)))
        return [{"a": a, "sharpness": 1.0, "l1": abs(a - 1)} for a in levels]

    monkeypatch.setattr(detail, "loss_columns", loss_columns)
    monkeypatch.setattr(detail, "ladder_rows", ladder_rows)
    monkeypatch.setattr(detail, "photo_pool", lambda: torch.zeros(5, 3, 8, 8))
    out = tmp_path / "photos.md"
    argv = ["--items", "1", "--ladders", "photos", "--train-heads", "3", "--out", str(out)]
    assert detail.main(argv) == 0
    assert calls == [("losses", (5, 3, 8, 8), 3), ("rows", detail.PHOTO_LEVELS)]
    text = out.read_text()
    assert "### photos: low-pass + a x detail moved 3 px" in text
    assert "### textures" not in text and "| lowest at a (sharpness) | | 1 (1.00) |" in text

    calls.clear()
    assert detail.main(["--items", "1", "--out", str(tmp_path / "both.md")]) == 0
    assert calls == [
        ("losses", None, 0),
        ("rows", detail.TEXTURE_LEVELS),
        ("losses", None, 0),
        ("rows", detail.PHOTO_LEVELS),
    ]
    with pytest.raises(SystemExit):
        detail.main(["--ladders", "faces"])


def test_head_dim_below_one_is_refused_and_reaches_cfl_fn_aq(scripts, tmp_path, monkeypatch):
    detail, _ = scripts
    with pytest.raises(SystemExit, match="--head-dim: expected a width >= 1, got 0"):
        detail.main(["--head-dim", "0"])
    seen, report = _options_and_report(detail, tmp_path, monkeypatch, "--head-dim", "64")
    assert seen == [{**detail.aq_recipe().cfl_options, "head_dim": 64}]
    assert "heads at initialisation, head_dim 64" in report


@pytest.mark.parametrize("sizes", [["0"], ["2"], ["3", "3", "4", "1"]])
def test_feature_pooling_not_odd_is_refused(scripts, sizes):
    detail, _ = scripts
    with pytest.raises(
        SystemExit, match=f"--feature-pooling: expected odd sizes >= 1, got {' '.join(sizes)}"
    ):
        detail.main(["--feature-pooling", *sizes])


@pytest.mark.parametrize(
    ("sizes", "option", "header"),
    [
        (["3"], 3, "feature_pooling 3"),
        (["3", "3", "1", "1"], (3, 3, 1, 1), "feature_pooling 3 3 1 1"),
    ],
)
def test_feature_pooling_reaches_cfl_fn_aq_and_the_header(
    scripts, tmp_path, monkeypatch, sizes, option, header
):
    detail, _ = scripts
    seen, report = _options_and_report(detail, tmp_path, monkeypatch, "--feature-pooling", *sizes)
    assert seen == [{**detail.aq_recipe().cfl_options, "feature_pooling": option}]
    assert f"heads at initialisation, {header}" in report


def test_forward_only_runs_cfl_fn_aq_with_one_direction(scripts, tmp_path, monkeypatch):
    detail, _ = scripts
    seen, report = _options_and_report(detail, tmp_path, monkeypatch, "--forward-only")
    shipped = detail.aq_recipe().cfl_options
    assert shipped.get("bidirectional", True) is True
    assert seen == [{**shipped, "bidirectional": False}]
    assert "heads at initialisation, bidirectional False" in report


def _view_loss(seed, **options):
    from cfl_lightning.losses import ContrastiveFeatureLoss
    from cfl_lightning.networks import ConvEncoderFeatures

    torch.manual_seed(seed)
    encoder = ConvEncoderFeatures(widths=(4, 8, 8), trainable=False)
    return ContrastiveFeatureLoss(
        extractor=encoder, num_patches=16, critic="target_views", **options
    ).eval()


def test_one_layer_is_the_loss_with_that_layers_weight_alone(scripts):
    detail, _ = scripts
    loss = _view_loss(0)
    pred, target = (
        torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(k)) * 2 - 1 for k in (1, 2)
    )

    def value(module):
        with torch.no_grad():
            return float(module(pred, target, generator=torch.Generator().manual_seed(5)))

    kept = dict(loss.layer_weights)
    per_layer = {name: value(detail.OneLayer(loss, name)) for name in loss.layers}
    assert loss.layer_weights == kept  # restored after each call
    for i, name in enumerate(loss.layers):  # a loss built with that layer's weight alone
        alone = _view_loss(0, layer_weights=[float(j == i) for j in range(len(loss.layers))])
        assert per_layer[name] == pytest.approx(value(alone), rel=1e-5)
    # The shipped uniform weighting is the mean of the layers' values.
    assert value(loss) == pytest.approx(sum(per_layer.values()) / len(per_layer), rel=1e-5)
    with pytest.raises(
        ValueError,
        match=r"name: expected one of \['conv1', 'conv2', 'conv3'\], "
        r"got 'relu9_1'",
    ):
        detail.OneLayer(loss, "relu9_1")


def test_weighting_table_reads_each_weighting_from_the_layer_columns(scripts):
    detail, _ = scripts
    col = detail.LAYER_PREFIX
    rows = [
        {"a": 0.0, "sharpness": 0.5, col + "x": 1.0, col + "y": 9.0},
        {"a": 1.0, "sharpness": 1.0, col + "x": 3.0, col + "y": 4.0},
        {"a": 2.0, "sharpness": 1.5, col + "x": 6.0, col + "y": 2.0},
    ]
    weightings = {"x alone": {"x": 1}, "even": {"x": 1, "y": 1}, "y thrice": {"x": 1, "y": 3}}
    text = detail.weighting_table("w", rows, weightings)
    assert "| x alone | 0 (0.50) | 1.0000 |" in text
    assert "| even | 1 (1.00) | 3.5000 |" in text  # (3 + 4) / 2; the ends give 5 and 4
    assert "| y thrice | 2 (1.50) | 3.0000 |" in text  # (6 + 3 x 2) / 4


def test_per_layer_adds_the_layer_weightings_table(scripts, tmp_path, monkeypatch):
    detail, _ = scripts
    seen = []

    def loss_columns(seed, pool, head_steps, recipe, per_layer=False, gram=False, half=False):
        seen.append(per_layer)
        return {"l1": lambda p, t: 0.0}

    def ladder_rows(target, make, levels, losses, gram_weights=()):
        layers = {detail.LAYER_PREFIX + n: 1.0 for n in ("relu2_1", "relu3_1", "relu4_1")}
        return [
            {
                "a": a,
                "sharpness": 1.0,
                "l1": 0.0,
                **layers,
                detail.LAYER_PREFIX + "relu5_1": abs(a - 0.25),
            }
            for a in levels
        ]

    monkeypatch.setattr(detail, "loss_columns", loss_columns)
    monkeypatch.setattr(detail, "ladder_rows", ladder_rows)
    out = tmp_path / "layers.md"
    assert (
        detail.main(["--items", "1", "--per-layer", "--ladders", "textures", "--out", str(out)])
        == 0
    )
    assert seen == [True]
    text = out.read_text()
    assert "### textures: cfl-fn-aq's layer weights" in text
    assert "| relu5_1 alone | 0.25 (1.00) | 0.0000 |" in text
    assert "| without relu5_1 | -0.75 (1.00) | 1.0000 |" in text  # ties: the first level
    assert text.count("| uniform (shipped) |") == 1
    seen.clear()
    assert detail.main(["--items", "1", "--ladders", "textures", "--out", str(out)]) == 0
    assert seen == [False] and "layer weights" not in out.read_text()


def test_gram_weights_add_the_term_and_each_weighted_sum(scripts, tmp_path, monkeypatch):
    detail, _ = scripts
    with pytest.raises(SystemExit, match=r"--gram-weights: expected weights > 0, got \[0\.0\]"):
        detail.main(["--gram-weights", "0"])
    stub = {
        "cfl-fn-aq (init)": lambda p, t: float(p.mean() / t.mean()),
        detail.TERM: lambda p, t: 0.0,
        detail.GRAM: lambda p, t: 0.5,
    }
    ramp = torch.linspace(0.1, 0.9, 64).view(1, 1, 8, 8).expand(1, 3, 8, 8)
    # The prediction at level a is a times the target here, so the stub CFL column is a.
    rows = detail.ladder_rows(ramp, lambda a: a * ramp, (1.0, 1.5), stub, (2.0, 10.0))
    assert rows[0]["cfl-fn-aq + 2x Gram"] == pytest.approx(1.0 + 2 * 0.5)
    assert rows[1]["cfl-fn-aq + 10x Gram"] == pytest.approx(1.5 + 10 * 0.5)

    flags, text = _flags_and_report(
        detail, tmp_path, monkeypatch, stub, ramp, "--gram-weights", "2", "10"
    )
    assert flags == [{"per_layer": False, "gram": True, "half": False}]
    assert "cfl-fn-aq + 10x Gram" in text


def _flags_and_report(detail, tmp_path, monkeypatch, stub, ramp, *options):
    """The optional columns main asks ``loss_columns`` for with ``options`` (the columns stubbed
    by ``stub``, the photo ladder by ``ramp`` scaled by a), and the report's text."""
    flags = []

    def loss_columns(seed, pool, head_steps, recipe, per_layer=False, gram=False, half=False):
        flags.append({"per_layer": per_layer, "gram": gram, "half": half})
        return stub

    monkeypatch.setattr(detail, "loss_columns", loss_columns)
    monkeypatch.setattr(detail, "photo_ladder", lambda items: (ramp, lambda a: a * ramp))
    out = tmp_path / "report.md"
    assert detail.main(["--items", "1", "--ladders", "photos", *options, "--out", str(out)]) == 0
    return flags, out.read_text()


def test_half_scale_is_the_loss_on_images_pooled_2x_with_its_own_heads(scripts):
    detail, _ = scripts
    loss = _view_loss(0)
    half = detail.HalfScale(loss)
    assert list(half.critic_parameters()) == list(loss.critic_parameters())
    pred, target = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    value = half(pred, target, generator=torch.Generator().manual_seed(3))
    pooled_pred = pred.reshape(2, 3, 8, 2, 8, 2).mean((3, 5))  # 2x2 means, by hand
    pooled_target = target.reshape(2, 3, 8, 2, 8, 2).mean((3, 5))
    expected = loss(pooled_pred, pooled_target, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(value, expected)
    assert not torch.allclose(value, loss(pred, target, generator=torch.Generator().manual_seed(3)))


def test_half_scale_adds_its_column_and_the_sum_of_both_scales(scripts, tmp_path, monkeypatch):
    detail, _ = scripts
    stub = {
        "cfl-fn-aq (init)": lambda p, t: float(p.mean() / t.mean()),
        detail.TERM: lambda p, t: 0.0,
        detail.HALF: lambda p, t: 0.25,
    }
    ramp = torch.linspace(0.1, 0.9, 64).view(1, 1, 8, 8).expand(1, 3, 8, 8)
    # The prediction at level a is a times the target here, so the stub CFL column is a.
    rows = detail.ladder_rows(ramp, lambda a: a * ramp, (1.0, 1.5), stub)
    assert [row[detail.TWO_SCALES] for row in rows] == pytest.approx([1.25, 1.75])

    flags, text = _flags_and_report(detail, tmp_path, monkeypatch, stub, ramp, "--half-scale")
    assert flags == [{"per_layer": False, "gram": False, "half": True}]
    assert "cfl-fn-aq, both scales (sum)" in text
    flags, text = _flags_and_report(detail, tmp_path, monkeypatch, stub, ramp)
    assert flags == [{"per_layer": False, "gram": False, "half": False}]
