import numpy as np
import pytest
import torch
from jsonargparse import ArgumentParser
from PIL import Image

from cfl_lightning.data.degradations import (
    Colorization,
    Degradation,
    Denoising,
    Inpainting,
    SuperResolution,
    add_gaussian_noise,
    bicubic_downscale,
    box_mask,
    free_form_mask,
    item_generator,
    mask_image,
    rgb_to_luminance,
)


def random_image(seed=0, size=(32, 32)):
    return torch.rand(3, *size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def pil_bicubic(image, factor):
    """Independent reference: PIL's bicubic resize (which filters over the whole footprint when
    reducing) of each channel as a float image."""
    height, width = image.shape[-2:]
    channels = [
        np.asarray(
            Image.fromarray(channel.numpy(), mode="F").resize(
                (width // factor, height // factor), Image.BICUBIC
            )
        )
        for channel in image
    ]
    return torch.from_numpy(np.stack(channels)).clamp(-1, 1)


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_bicubic_downscale_matches_pil(factor):
    image = random_image(factor, (64, 48))
    small = bicubic_downscale(image, factor)
    assert small.shape == (3, 64 // factor, 48 // factor)
    assert small.min() >= -1 and small.max() <= 1
    torch.testing.assert_close(small, pil_bicubic(image, factor), atol=1e-5, rtol=0)
    # differs from plain subsampling: the downscale is antialiased
    assert not torch.allclose(small, image[:, ::factor, ::factor], atol=0.05)


def test_super_resolution_class_and_errors():
    image = random_image(1)
    degradation = SuperResolution(factor=4)
    assert degradation.input_channels == 3
    torch.testing.assert_close(degradation(image)["input"], bicubic_downscale(image, 4))
    assert SuperResolution(factor=2, upsample=True)(image)["input"].shape == (3, 32, 32)
    with pytest.raises(ValueError, match="not divisible by the downscaling factor 8"):
        bicubic_downscale(random_image(0, (36, 32)), 8)
    with pytest.raises(ValueError, match="crop_size: 34x34 is not divisible"):
        degradation.check_size(34, 34)
    with pytest.raises(ValueError, match="factor: expected an integer >= 1"):
        SuperResolution(factor=0)


def test_luminance_is_bt601_weighted_sum():
    image = random_image(2)
    luminance = rgb_to_luminance(image)
    assert luminance.shape == (1, 32, 32)
    r, g, b = ((image + 1) / 2).double()
    expected = (0.299 * r + 0.587 * g + 0.114 * b) * 2 - 1
    torch.testing.assert_close(luminance[0].double(), expected, atol=1e-6, rtol=0)
    colorization = Colorization()
    assert colorization.input_channels == 1
    torch.testing.assert_close(colorization(image)["input"], luminance)
    # a grey image keeps its value
    grey = torch.full((3, 4, 4), 0.3)
    torch.testing.assert_close(rgb_to_luminance(grey), torch.full((1, 4, 4), 0.3))


@pytest.mark.parametrize("kind", ["box", "free_form"])
def test_inpainting_zeroes_exactly_the_masked_pixels(kind):
    image = random_image(3, (64, 64))
    degradation = Inpainting(mask=kind, coverage=(0.2, 0.3))
    out = degradation(image, torch.Generator().manual_seed(0))
    mask, model_input = out["mask"], out["input"]
    assert degradation.input_channels == 4
    assert mask.shape == (1, 64, 64) and model_input.shape == (4, 64, 64)
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    missing = mask[0] == 1
    assert torch.all(model_input[:3][:, missing] == 0)
    torch.testing.assert_close(model_input[:3][:, ~missing], image[:, ~missing])
    torch.testing.assert_close(model_input[3], mask[0])


@pytest.mark.parametrize("make", [box_mask, free_form_mask])
def test_mask_coverage_range_and_determinism(make):
    coverages = []
    for seed in range(20):
        mask = make(64, 64, (0.15, 0.35), torch.Generator().manual_seed(seed))
        again = make(64, 64, (0.15, 0.35), torch.Generator().manual_seed(seed))
        assert torch.equal(mask, again)
        coverages.append(float(mask.mean()))
    assert min(coverages) >= 0.13 and max(coverages) <= 0.36
    assert max(coverages) - min(coverages) > 0.05  # coverage really varies within the range


def test_mask_image_checks_shape_and_inpainting_args():
    with pytest.raises(ValueError, match=r"mask: expected shape \(1, 8, 8\)"):
        mask_image(torch.zeros(3, 8, 8), torch.zeros(1, 8, 4))
    with pytest.raises(ValueError, match="mask: expected 'free_form' or 'box', got 'circle'"):
        Inpainting(mask="circle")
    with pytest.raises(ValueError, match="coverage: expected"):
        Inpainting(coverage=(0.5, 0.2))


def test_denoising_noise_std_is_sigma_over_127_5():
    flat = torch.zeros(3, 256, 256)
    noisy = add_gaussian_noise(flat, 25.0, torch.Generator().manual_seed(0))
    assert abs(float(noisy.std()) - 25.0 / 127.5) < 0.01 * 25.0 / 127.5 * 3
    assert abs(float(noisy.mean())) < 0.005
    # clamped near white; without clip the noise is untouched
    bright = torch.full((3, 64, 64), 0.95)
    assert float(add_gaussian_noise(bright, 50.0, torch.Generator().manual_seed(0)).max()) <= 1.0
    raw = add_gaussian_noise(bright, 50.0, torch.Generator().manual_seed(0), clip=False)
    assert float(raw.max()) > 1.0


def test_denoising_sigma_range_and_determinism():
    flat = torch.zeros(3, 128, 128)
    degradation = Denoising(sigma_range=(5.0, 50.0))
    stds = [
        float(degradation(flat, torch.Generator().manual_seed(seed))["input"].std()) * 127.5
        for seed in range(10)
    ]
    assert min(stds) > 4.5 and max(stds) < 52 and max(stds) - min(stds) > 5
    first = Denoising(sigma=15)(random_image(4), torch.Generator().manual_seed(7))["input"]
    second = Denoising(sigma=15)(random_image(4), torch.Generator().manual_seed(7))["input"]
    third = Denoising(sigma=15)(random_image(4), torch.Generator().manual_seed(8))["input"]
    assert torch.equal(first, second) and not torch.equal(first, third)
    with pytest.raises(ValueError, match="sigma: expected a noise level >= 0"):
        Denoising(sigma=-1)


def test_item_generator_is_a_pure_function_of_its_keys():
    def draw(*keys):
        return torch.rand(4, generator=item_generator(*keys))

    assert torch.equal(draw(0, "val", 3), draw(0, "val", 3))
    assert not torch.equal(draw(0, "val", 3), draw(0, "test", 3))
    assert not torch.equal(draw(0, "val", 3), draw(0, "val", 4))
    assert not torch.equal(draw(0, "val", 3), draw(1, "val", 3))


def test_degradations_are_jsonargparse_class_path_arguments():
    parser = ArgumentParser()
    parser.add_argument("--degradation", type=Degradation)
    config = parser.parse_args(
        [
            "--degradation",
            '{"class_path": "cfl_lightning.data.degradations.Inpainting",'
            ' "init_args": {"mask": "box", "coverage": [0.1, 0.2]}}',
        ]
    )
    degradation = parser.instantiate(config).degradation
    assert isinstance(degradation, Inpainting)
    assert degradation.mask == "box" and degradation.coverage == (0.1, 0.2)
