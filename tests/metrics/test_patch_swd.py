import numpy as np
import pytest
import torch
from torchvision.transforms.functional import gaussian_blur

from cfl_lightning.metrics import PatchSWD, sliced_wasserstein_distance

SMALL = {"num_projections": 64, "num_repeats": 2, "patches_per_image": 64}


def swd(preds, target, **kwargs):
    metric = PatchSWD(**{**SMALL, **kwargs})
    metric.update(preds, target)
    return metric.compute()


def test_zero_for_identical_sets(textures):
    x = textures(4)
    metric = PatchSWD(**SMALL)
    metric.update(x, x)
    assert float(metric.compute()) == 0.0
    assert metric.compute_levels().shape == (2,)  # 32 -> levels at 32 and 16 pixels
    assert torch.all(metric.compute_levels() == 0)


def test_grows_with_blur_and_noise(textures):
    target = textures(6)
    blurred = [swd(gaussian_blur(target, 7, s), target) for s in (0.5, 1.0, 2.0)]
    assert 0 < blurred[0] < blurred[1] < blurred[2]
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(target.shape, generator=g)
    noisy = [swd((target + s * noise).clamp(-1, 1), target) for s in (0.05, 0.15, 0.4)]
    assert 0 < noisy[0] < noisy[1] < noisy[2]


def test_symmetric_and_deterministic_under_seed(textures):
    a, b = textures(4, seed=0), textures(4, seed=1)
    for normalization in ("per_set", "joint"):  # "reference" uses the targets' units only
        ab, ba = swd(a, b, normalization=normalization), swd(b, a, normalization=normalization)
        torch.testing.assert_close(ab, ba)
    torch.testing.assert_close(swd(a, b, seed=3), swd(a, b, seed=3), rtol=0, atol=0)
    assert float(swd(a, b, seed=3)) != float(swd(a, b, seed=4))


def test_equals_plain_recomputation_single_level():
    # 7x7 images and 7x7 patches: every patch is the whole image, whatever the positions drawn.
    g = torch.Generator().manual_seed(0)
    preds = torch.rand(5, 3, 7, 7, generator=g) * 2 - 1
    target = torch.rand(5, 3, 7, 7, generator=g) ** 2 * 2 - 1
    for normalization in ("reference", "per_set", "joint"):
        metric = PatchSWD(
            num_levels=1,
            patches_per_image=3,
            num_projections=4,
            num_repeats=2,
            seed=5,
            normalization=normalization,
        )
        metric.update(preds, target)

        def descriptors(images):  # one 147-vector per image, (channel, row, column) order
            return [[(v + 1) / 2 for v in image.flatten().tolist()] for image in images]

        def normalise(rows, stats_rows):
            out = [list(r) for r in rows]
            for c in range(3):
                values = [r[i] for r in stats_rows for i in range(c * 49, (c + 1) * 49)]
                mean = sum(values) / len(values)
                std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
                for r in out:
                    for i in range(c * 49, (c + 1) * 49):
                        r[i] = (r[i] - mean) / std
            return out

        a, b = descriptors(preds), descriptors(target)
        if normalization == "reference":
            a, b = normalise(a, b), normalise(b, b)
        elif normalization == "per_set":
            a, b = normalise(a, a), normalise(b, b)
        else:
            a, b = normalise(a, a + b), normalise(b, a + b)
        directions = torch.Generator().manual_seed(5)
        repeats = []
        for _ in range(2):
            d = torch.randn(147, 4, generator=directions)
            d = (d / d.norm(dim=0, keepdim=True)).T.tolist()
            per_direction = []
            for u in d:
                pa = sorted(sum(x * w for x, w in zip(row, u)) for row in a)
                pb = sorted(sum(x * w for x, w in zip(row, u)) for row in b)
                per_direction.append(sum(abs(p - q) for p, q in zip(pa, pb)) / len(pa))
            repeats.append(sum(per_direction) / len(per_direction))
        expected = sum(repeats) / len(repeats)
        assert float(metric.compute()) == pytest.approx(expected, rel=1e-4)


def test_reference_normalisation_equals_numpy_recomputation(textures):
    # Multi-level: the descriptors the metric keeps, normalised here with numpy by the targets'
    # per-level, per-channel statistics, then the same directions.
    preds, target = textures(3, seed=0) * 0.7, textures(3, seed=1)
    metric = PatchSWD(normalization="reference", seed=2, **SMALL)
    metric.update(preds, target)
    a_all = metric.pred_descriptors[0].double().numpy()  # (N, L, 147)
    b_all = metric.target_descriptors[0].double().numpy()
    directions = torch.Generator().manual_seed(2)
    expected = []
    for level in range(a_all.shape[1]):
        a = a_all[:, level].reshape(len(a_all), 3, 49)
        b = b_all[:, level].reshape(len(b_all), 3, 49)
        mean = b.mean(axis=(0, 2), keepdims=True)
        std = b.std(axis=(0, 2), keepdims=True)  # population std (ddof 0)
        a = ((a - mean) / std).reshape(len(a), -1)
        b = ((b - mean) / std).reshape(len(b), -1)
        repeats = []
        for _ in range(SMALL["num_repeats"]):
            d = torch.randn(147, SMALL["num_projections"], generator=directions).double().numpy()
            d = d / np.linalg.norm(d, axis=0, keepdims=True)
            pa, pb = np.sort(a @ d, axis=0), np.sort(b @ d, axis=0)
            repeats.append(np.abs(pa - pb).mean())
        expected.append(np.mean(repeats))
    torch.testing.assert_close(
        metric.compute_levels().double(),
        torch.tensor(expected, dtype=torch.float64),
        rtol=1e-4,
        atol=1e-6,
    )


def test_reference_normalisation_sees_contrast_and_colour_per_set_does_not(textures):
    target = textures(8)
    channel_mean = target.mean(dim=(0, 2, 3), keepdim=True)  # one affine map per channel
    low_contrast = channel_mean + 0.5 * (target - channel_mean)
    floor = swd(textures(8, seed=1), target)  # another sample of the same distribution
    assert swd(low_contrast, target, normalization="per_set") < 0.01 * floor
    assert swd(low_contrast, target) > floor  # default: normalization="reference"
    # Reference units do not depend on the predictions: a quarter of the contrast scores higher.
    quarter = channel_mean + 0.25 * (target - channel_mean)
    assert swd(quarter, target) > 1.5 * swd(low_contrast, target)
    # A global colour cast (red up, blue down): invisible per set, linear in the shift otherwise.
    cast = [(target + torch.tensor([s, 0.0, -s])[:, None, None]).clamp(-1, 1) for s in (0.1, 0.2)]
    per_set = [swd(c, target, normalization="per_set") for c in cast]
    reference = [swd(c, target) for c in cast]
    assert max(per_set) < 0.05 * floor
    assert reference[0] > 20 * per_set[0]
    assert 1.7 < reference[1] / reference[0] < 2.3
    assert PatchSWD().normalization == "reference"


def test_sliced_wasserstein_of_shifted_set_is_shift_along_directions():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(50, 4, generator=g)
    shift = torch.tensor([1.0, -2.0, 0.5, 0.0])
    directions = torch.nn.functional.normalize(torch.randn(4, 8, generator=g), dim=0)
    expected = (shift @ directions).abs().mean()
    torch.testing.assert_close(sliced_wasserstein_distance(a + shift, a, directions), expected)


def test_accumulation_matches_single_update(textures):
    preds, target = textures(6, seed=0), textures(6, seed=1)
    once = PatchSWD(**SMALL)
    once.update(preds, target)
    split = PatchSWD(**SMALL)
    split.update(preds[:2], target[:2])
    split.update(preds[2:], target[2:])
    torch.testing.assert_close(split.compute_levels(), once.compute_levels())
    split.reset()  # a new epoch starts from the same patch positions
    split.update(preds, target)
    torch.testing.assert_close(split.compute(), once.compute())


def test_merge_state_normalises_over_the_union():
    # 7x7 images: positions cannot differ between instances, so merging must equal one pass.
    g = torch.Generator().manual_seed(0)
    preds, target = torch.rand(2, 6, 3, 7, 7, generator=g) * 2 - 1
    kwargs = {"num_levels": 1, **SMALL}
    first, second, both = PatchSWD(**kwargs), PatchSWD(**kwargs), PatchSWD(**kwargs)
    first.update(preds[:3], target[:3])
    second.update(preds[3:], target[3:])
    both.update(preds, target)
    first.merge_state(second)
    torch.testing.assert_close(first.compute(), both.compute())
    assert first._reductions["pred_descriptors"].__name__ == "dim_zero_cat"
    assert first.full_state_update is False


def test_forward_returns_batch_value_and_keeps_accumulating(textures):
    preds, target = textures(4, seed=0), textures(4, seed=1)
    metric = PatchSWD(**SMALL)
    batch_value = metric(preds[:2], target[:2])
    metric(preds[2:], target[2:])
    alone = PatchSWD(**SMALL)
    alone.update(preds[:2], target[:2])
    torch.testing.assert_close(batch_value, alone.compute())  # first batch: same positions
    reference = PatchSWD(**SMALL)
    reference.update(preds, target)
    torch.testing.assert_close(metric.compute(), reference.compute())


def test_input_range(textures):
    preds, target = textures(3, seed=0), textures(3, seed=1)
    unit = PatchSWD(input_range=(0, 1), **SMALL)
    unit.update((preds + 1) / 2, (target + 1) / 2)
    torch.testing.assert_close(unit.compute(), swd(preds, target))


def test_errors():
    with pytest.raises(ValueError, match="patch_size: expected a positive int, got 0"):
        PatchSWD(patch_size=0)
    with pytest.raises(ValueError, match="normalization: expected one of"):
        PatchSWD(normalization="global")
    metric = PatchSWD(num_levels=3)
    x = torch.zeros(1, 3, 20, 20)
    with pytest.raises(ValueError, match=r"20x20 images give a 5x5 coarsest level"):
        metric.update(x, x)
    with pytest.raises(ValueError, match=r"preds, target: expected equal shapes"):
        metric.update(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 16))
    with pytest.raises(ValueError, match=r"preds: expected shape \(B, 3, H, W\)"):
        metric.update(torch.zeros(1, 1, 32, 32), torch.zeros(1, 1, 32, 32))
    auto = PatchSWD()
    auto.update(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="earlier images gave 2; set num_levels"):
        auto.update(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64))


def test_nan_before_update():
    with pytest.warns(UserWarning, match="called before the ``update``"):
        assert torch.isnan(PatchSWD().compute())


def test_split_half_calibration_divides_by_the_targets_own_halves():
    # 7x7 images, 7x7 patches: position-free. Two target images: the only split is {0} | {1};
    # with "joint" normalisation the distance between the halves does not depend on their order.
    g = torch.Generator().manual_seed(3)
    preds = torch.rand(2, 3, 7, 7, generator=g) * 2 - 1
    target = torch.rand(2, 3, 7, 7, generator=g) ** 2 * 2 - 1
    options = dict(num_levels=1, patches_per_image=4, num_projections=8, num_repeats=2, seed=1)
    raw = PatchSWD(normalization="joint", **options)
    raw.update(preds, target)
    halves = PatchSWD(normalization="joint", **options)
    halves.update(target[:1], target[1:])
    calibrated = PatchSWD(normalization="joint", calibration="split_half", **options)
    calibrated.update(preds, target)
    expected = raw.compute_levels() / halves.compute_levels()
    torch.testing.assert_close(calibrated.compute_levels(), expected)
    torch.testing.assert_close(calibrated.compute(), expected.square().mean().sqrt())


def test_split_half_calibration_sees_a_one_band_difference_that_the_mean_dilutes(textures):
    # Fine noise lives in the finest pyramid band only: with the raw mean over levels it scores
    # close to a second sample of the targets; in split-half units it stands far above it.
    target, other = textures(16, seed=0), textures(16, seed=1)
    noise = torch.randn(target.shape, generator=torch.Generator().manual_seed(0))
    noisy = (target + 0.1 * noise).clamp(-1, 1)
    ratios = {}
    for calibration in ("none", "split_half"):
        floor = swd(other, target, calibration=calibration)
        ratios[calibration] = float(swd(noisy, target, calibration=calibration) / floor)
    assert ratios["split_half"] > 1.2 * ratios["none"]
    levels = PatchSWD(calibration="split_half", **SMALL)
    levels.update(other, target)
    assert torch.all(levels.compute_levels() < 2)  # a second sample: about its halves' spread


def test_split_half_calibration_needs_two_target_images(textures):
    metric = PatchSWD(calibration="split_half", **SMALL)
    x = textures(1)
    metric.update(x, x)
    assert torch.isnan(metric.compute())
    with pytest.raises(ValueError, match=r"calibration: expected one of \('none', 'split_half'\)"):
        PatchSWD(calibration="halves")
    with pytest.raises(ValueError, match="calibration_splits: expected a positive int, got 0"):
        PatchSWD(calibration_splits=0)
