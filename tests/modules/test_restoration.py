from functools import partial

import numpy as np
import pytest
import torch
from PIL import Image

from cfl_lightning.data import (
    Colorization,
    Denoising,
    ImageFolderDataModule,
    Inpainting,
    SuperResolution,
)
from cfl_lightning.modules import (
    ColorizationModule,
    DenoisingModule,
    InpaintingModule,
    SuperResolutionModule,
)
from cfl_lightning.networks import MultiscaleDiscriminator, ResidualSRGenerator, UNetGenerator
from tests.modules.tiny import make_trainer, tiny_cfl


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for index in range(8):
        pixels = (rng.random((40, 48, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"photo_{index}.png")
    return folder


TASKS = [
    (
        SuperResolutionModule,
        SuperResolution(factor=4),
        lambda: ResidualSRGenerator(4, nf=8, n_blocks=1),
    ),
    (ColorizationModule, Colorization(), lambda: UNetGenerator(1, num_downs=5, ngf=8)),
    (InpaintingModule, Inpainting(mask="box"), lambda: UNetGenerator(4, num_downs=5, ngf=8)),
    (DenoisingModule, Denoising(sigma=25.0), lambda: UNetGenerator(3, num_downs=5, ngf=8)),
]


@pytest.mark.parametrize(("module_class", "degradation", "generator"), TASKS)
def test_each_task_trains_a_step_and_predicts(photos, module_class, degradation, generator):
    data = ImageFolderDataModule(
        str(photos), degradation, crop_size=32, val_ratio=0.25, batch_size=2, predict_split="val"
    )
    module = module_class(generator(), losses={"l1": 1.0, "cfl": 1.0}, cfl=tiny_cfl(), metrics=())
    before = [p.detach().clone() for p in module.generator.parameters()]
    make_trainer(max_steps=1).fit(module, data)
    assert any(not torch.equal(a, b) for a, b in zip(before, module.generator.parameters()))
    outputs = make_trainer().predict(module, data)
    prediction = outputs[0]["prediction"]
    assert prediction.shape == (2, 3, 32, 32) and prediction.abs().max() <= 1
    assert outputs[0]["path"][0].endswith(".png")


def test_default_generators_fit_their_inputs():
    x = torch.zeros(1, 3, 16, 16)
    assert SuperResolutionModule(losses={"l1": 1.0}, metrics=())(x).shape == (1, 3, 64, 64)
    assert SuperResolutionModule(scale=2, losses={"l1": 1.0}, metrics=())(x).shape[-1] == 32
    factory = partial(ResidualSRGenerator, nf=8, n_blocks=1)
    module = SuperResolutionModule(factory, scale=8, losses={"l1": 1.0}, metrics=())
    assert module(x).shape[-1] == 128
    gray, masked = torch.zeros(1, 1, 64, 64), torch.zeros(1, 4, 64, 64)
    assert ColorizationModule(losses={"l1": 1.0}, metrics=())(gray).shape == (1, 3, 64, 64)
    assert InpaintingModule(losses={"l1": 1.0}, metrics=())(masked).shape == (1, 3, 64, 64)
    noisy = torch.zeros(1, 3, 64, 64)
    assert DenoisingModule(losses={"l1": 1.0}, metrics=())(noisy).shape == (1, 3, 64, 64)


def inpainting_batch():
    image = torch.rand(2, 3, 32, 32) * 2 - 1
    mask = torch.zeros(2, 1, 32, 32)
    mask[:, :, 8:20, 4:30] = 1
    return torch.cat([image * (1 - mask), mask], 1), image, mask


def test_inpainting_keeps_known_pixels_at_prediction():
    generator_input, image, mask = inpainting_batch()
    module = InpaintingModule(UNetGenerator(4, num_downs=5, ngf=8), losses={"l1": 1.0}, metrics=())
    output = module.predict_step({"input": generator_input, "image": image}, 0)["prediction"]
    known = mask.expand_as(image) == 0
    torch.testing.assert_close(output[known], image[known])
    raw = module.generator.eval()(generator_input)  # prediction runs the generator in eval mode
    torch.testing.assert_close(output[~known], raw[~known].clamp(-1, 1))


def test_masked_loss_counts_only_the_hole():
    generator_input, image, mask = inpainting_batch()
    module = InpaintingModule(
        UNetGenerator(4, num_downs=5, ngf=8), losses={"l1": 1.0}, masked_loss=True, metrics=()
    )
    prediction = module.generator(generator_input)
    terms = module.generator_loss_terms(generator_input, prediction, image)
    hole = mask.expand_as(image).bool()
    expected = (prediction - image).abs()[hole].mean()
    torch.testing.assert_close(terms["l1"], expected)
    prediction.retain_grad()
    terms["l1"].backward()
    assert prediction.grad[~hole].abs().max() == 0 and prediction.grad[hole].abs().max() > 0


def test_super_resolution_scale_agrees_with_generator_and_batches():
    given = ResidualSRGenerator(2, nf=8, n_blocks=1)
    assert SuperResolutionModule(given, losses={"l1": 1.0}, metrics=()).scale == 2
    message = r"generator: ResidualSRGenerator upsamples by 2, but scale=4"
    with pytest.raises(ValueError, match=message):
        SuperResolutionModule(given, scale=4, losses={"l1": 1.0}, metrics=())
    module = SuperResolutionModule(scale=4, losses={"l1": 1.0}, metrics=())
    batch = {"input": torch.zeros(1, 3, 16, 16), "image": torch.zeros(1, 3, 32, 32)}
    with pytest.raises(
        ValueError,
        match=r"scale: 4, but the batch pairs \(16, 16\) inputs with "
        r"\(32, 32\) targets",
    ):
        module.prepare_batch(batch)


def test_restoration_discriminators_see_condition_and_image():
    gan = {"losses": {"l1": 1.0, "gan": 1.0}, "metrics": ()}
    disc = partial(MultiscaleDiscriminator, ndf=4, num_scales=1)
    assert InpaintingModule(discriminator=disc, **gan).discriminator.input_channels == 4 + 3
    assert ColorizationModule(discriminator=disc, **gan).discriminator.input_channels == 1 + 3
    assert SuperResolutionModule(discriminator=disc, **gan).discriminator.input_channels == 3 + 3
    unconditional = DenoisingModule(discriminator=disc, conditional_discriminator=False, **gan)
    assert unconditional.discriminator.input_channels == 3


def _bt601(rgb: torch.Tensor) -> torch.Tensor:
    unit = (rgb + 1) / 2
    return 2 * (0.299 * unit[:, 0:1] + 0.587 * unit[:, 1:2] + 0.114 * unit[:, 2:3]) - 1


def test_colorization_keep_luminance_trains_colour_and_predicts_the_input_luminance(photos):
    torch.manual_seed(0)
    data = ImageFolderDataModule(
        str(photos), Colorization(), crop_size=32, val_ratio=0.25, batch_size=2, predict_split="val"
    )
    factory = partial(UNetGenerator, num_downs=5, ngf=8)
    module = ColorizationModule(
        factory, keep_luminance=True, losses={"l1": 1.0, "cfl": 1.0}, cfl=tiny_cfl(), metrics=()
    )
    assert module.hparams["keep_luminance"] is True
    inner = module.generator.generator
    before = [p.detach().clone() for p in inner.parameters()]
    make_trainer(max_steps=2).fit(module, data)
    assert any(not torch.equal(a, b) for a, b in zip(before, inner.parameters()))
    data.setup("predict")
    batch = next(iter(data.predict_dataloader()))  # the first batch trainer.predict sees
    prediction = make_trainer().predict(module, data)[0]["prediction"]
    inside = (prediction.abs() < 0.999).all(dim=1, keepdim=True)  # unclamped pixels
    assert inside.float().mean() > 0.5
    error = (_bt601(prediction) - batch["input"]).abs()
    assert error[inside].max() < 1e-5
    # Without the option the luminance is the generator's own (a random net: far from it).
    plain = ColorizationModule(factory, losses={"l1": 1.0}, metrics=())
    assert (_bt601(plain.predict_native(batch["input"])) - batch["input"]).abs().mean() > 0.05


def test_colorization_keep_luminance_is_checked():
    with pytest.raises(ValueError, match="keep_luminance: expected True or False, got 'yes'"):
        ColorizationModule(keep_luminance="yes", losses={"l1": 1.0}, metrics=())
    with pytest.raises(ValueError, match="generator: UNetGenerator takes 3 input channels"):
        ColorizationModule(UNetGenerator(3, num_downs=5, ngf=8), keep_luminance=True, metrics=())
