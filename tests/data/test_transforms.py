import numpy as np
import pytest
import torch
from PIL import Image

from cfl_lightning.data.augment_random import AugmentationRandom
from cfl_lightning.data.io import to_unit_range
from cfl_lightning.data.transforms import (
    SpatialTransform,
    resize_image,
    resize_label,
)


def _item(transform: SpatialTransform, label: torch.Tensor, image: torch.Tensor, random):
    params = transform.draw(label.shape[0], label.shape[1], random)
    return {
        "label": transform.apply_label(label, params),
        "image": to_unit_range(transform.apply_image(image, params)),
    }, params


def test_resize_label_matches_pil_nearest_and_keeps_ids():
    rng = np.random.default_rng(0)
    label = rng.integers(0, 40000, size=(23, 37)).astype(np.int32)
    expected = np.asarray(Image.fromarray(label, mode="I").resize((16, 11), Image.NEAREST))
    result = resize_label(torch.from_numpy(label).long(), (11, 16))
    assert result.dtype == torch.int64
    assert torch.equal(result, torch.from_numpy(expected.astype(np.int64)))
    up = resize_label(torch.from_numpy(label).long(), (50, 70))
    expected_up = np.asarray(Image.fromarray(label, mode="I").resize((70, 50), Image.NEAREST))
    assert torch.equal(up, torch.from_numpy(expected_up.astype(np.int64)))


def test_resize_image_is_antialiased_bilinear_like_pil():
    rng = np.random.default_rng(1)
    array = rng.integers(0, 256, size=(40, 60, 3)).astype(np.uint8)
    expected = np.array(Image.fromarray(array).resize((23, 17), Image.BILINEAR))
    result = resize_image(torch.from_numpy(array).permute(2, 0, 1), (17, 23))
    assert result.dtype == torch.uint8 and result.shape == (3, 17, 23)
    diff = (result.permute(1, 2, 0).int() - torch.from_numpy(expected).int()).abs()
    assert diff.max() <= 1
    # an aliasing resize (no prefilter) is far from it on noise
    aliased = torch.nn.functional.interpolate(
        torch.from_numpy(array).permute(2, 0, 1)[None].float(), (17, 23), mode="bilinear"
    )[0]
    assert (aliased - torch.from_numpy(expected).permute(2, 0, 1).float()).abs().mean() > 5


@pytest.mark.parametrize(
    ("preprocess", "load_size", "crop_size", "aspect_ratio", "input_hw", "output_hw"),
    [
        ("resize_and_crop", 40, 32, 1.0, (48, 64), (32, 32)),
        ("scale_width_and_crop", 32, 16, 1.0, (32, 64), (16, 16)),
        ("scale_width_and_crop", 32, 24, 1.0, (32, 64), (24, 24)),  # height raised to the crop
        ("fixed", 99, 32, 2.0, (48, 64), (16, 32)),
        ("fixed", 99, 30, 4.0, (48, 64), (8, 30)),  # round(7.5)
        ("none", 99, 32, 1.0, (48, 64), (48, 64)),
    ],
)
def test_output_size_of_each_mode(
    preprocess, load_size, crop_size, aspect_ratio, input_hw, output_hw, make_pair
):
    label, image = make_pair(*input_hw)
    for train in (True, False):
        transform = SpatialTransform(preprocess, load_size, crop_size, aspect_ratio, train=train)
        item, _ = _item(transform, label, image, AugmentationRandom(seed=0))
        assert item["label"].shape == output_hw
        assert item["image"].shape == (3, *output_hw)
        assert item["image"].dtype == torch.float32
        assert item["image"].min() >= -1 and item["image"].max() <= 1


def _find_window(small: torch.Tensor, big: torch.Tensor) -> set[tuple[int, int]]:
    h, w = small.shape
    return {
        (top, left)
        for top in range(big.shape[0] - h + 1)
        for left in range(big.shape[1] - w + 1)
        if torch.equal(big[top : top + h, left : left + w], small)
    }


def test_random_crop_and_flip_keep_label_and_image_aligned(make_pair, check_aligned):
    label, image = make_pair(64, 64)
    transform = SpatialTransform("resize_and_crop", 64, 40, train=True)
    random = AugmentationRandom(seed=3)
    flips, boxes = set(), set()
    for _ in range(24):
        item, params = _item(transform, label, image, random)
        check_aligned(item)
        # the label is a window of the original, mirrored iff flipped
        unflipped = item["label"].flip(-1) if params.flip else item["label"]
        assert (params.box[0], params.box[1]) in _find_window(unflipped, label)
        flips.add(params.flip)
        boxes.add(params.box)
    assert flips == {True, False}
    assert len(boxes) > 5


def test_alignment_survives_resize_crop_and_flip(make_pair, check_aligned):
    label, image = make_pair(64, 64, seed=5)
    for preprocess, load in (("resize_and_crop", 32), ("scale_width_and_crop", 32)):
        transform = SpatialTransform(preprocess, load, 24, train=True)
        random = AugmentationRandom(seed=1)
        for _ in range(12):
            item, _ = _item(transform, label, image, random)
            check_aligned(item)
            resized = resize_label(label, (32, 32))
            assert item["label"].shape == (24, 24)
            found = _find_window(item["label"], resized) | _find_window(
                item["label"].flip(-1), resized
            )
            assert found


def test_eval_crops_the_centre_never_flips_and_draws_nothing(make_pair, check_aligned):
    label, image = make_pair(64, 64)
    transform = SpatialTransform("resize_and_crop", 64, 40, flip=True, train=False)
    random = AugmentationRandom(seed=0)
    state = random.generator.get_state()
    for _ in range(3):
        item, params = _item(transform, label, image, random)
        assert params.box == (12, 12, 40, 40) and not params.flip
        assert torch.equal(item["label"], label[12:52, 12:52])
        check_aligned(item)
    assert torch.equal(random.generator.get_state(), state)


def test_flip_false_never_flips_in_training(make_pair):
    label, image = make_pair(64, 64)
    transform = SpatialTransform("resize_and_crop", 64, 64, flip=False, train=True)
    random = AugmentationRandom(seed=0)
    for _ in range(10):
        item, params = _item(transform, label, image, random)
        assert not params.flip
        assert torch.equal(item["label"], label)


def test_draws_are_resumable_from_the_random_state():
    transform = SpatialTransform("resize_and_crop", 64, 40, train=True)
    random = AugmentationRandom(seed=7)
    transform.draw(64, 64, random)
    state = random.state_dict()
    first = [transform.draw(64, 64, random) for _ in range(5)]
    resumed = AugmentationRandom(seed=7)
    resumed.load_state_dict(state)
    assert [transform.draw(64, 64, resumed) for _ in range(5)] == first


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"preprocess": "resize"}, r"preprocess: expected one of .*'resize'"),
        ({"load_size": 0}, r"load_size: expected an integer >= 1, got 0"),
        ({"crop_size": -2}, r"crop_size: expected an integer >= 1, got -2"),
        ({"aspect_ratio": 0.0}, r"aspect_ratio: expected a number > 0, got 0.0"),
        ({"load_size": 128, "crop_size": 256}, r"load_size: expected >= crop_size \(256\)"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SpatialTransform(**kwargs)
