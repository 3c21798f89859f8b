"""The modules' inference API: native-size prediction, eval mode, checkpoints of modules built in
plain Python (objects never pickled into hyperparameters)."""

import pytest
import torch

from cfl_lightning.modules import ColorizationModule, InpaintingModule, SuperResolutionModule
from cfl_lightning.networks import ResidualSRGenerator, UNetGenerator
from tests.modules.tiny import make_trainer


def save_checkpoint(module, path):
    trainer = make_trainer(max_steps=0)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(path)
    return path


def test_predict_native_pads_crops_and_restores_the_mode():
    torch.manual_seed(0)
    module = ColorizationModule(
        UNetGenerator(1, num_downs=3, ngf=4), losses={"l1": 1.0}, metrics=()
    )
    x = torch.rand(2, 1, 29, 37) * 2 - 1
    out = module.predict_native(x)
    assert out.shape == (2, 3, 29, 37) and module.generator.training
    assert not out.requires_grad and out.abs().max() <= 1


def test_tile_settings_reach_prediction_and_are_checked():
    torch.manual_seed(0)
    module = SuperResolutionModule(
        ResidualSRGenerator(2, nf=8, n_blocks=1), scale=2, losses={"l1": 1.0}, metrics=()
    )
    x = torch.rand(1, 3, 70, 45) * 2 - 1
    whole = module.predict_native(x)
    module.tile_size, module.tile_overlap = 40, 24
    torch.testing.assert_close(module.predict_native(x), whole, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="tile_overlap: expected an integer >= 0 and below"):
        SuperResolutionModule(tile_size=16, tile_overlap=16, losses={"l1": 1.0}, metrics=())
    with pytest.raises(ValueError, match="pad_mode: expected one of"):
        SuperResolutionModule(pad_mode="zeros", losses={"l1": 1.0}, metrics=())


def test_inpainting_predictions_keep_the_known_pixels_of_the_input():
    torch.manual_seed(0)
    module = InpaintingModule(UNetGenerator(4, num_downs=3, ngf=4), losses={"l1": 1.0}, metrics=())
    photo = torch.rand(1, 3, 20, 30) * 2 - 1
    mask = torch.zeros(1, 1, 20, 30)
    mask[..., 4:12, 5:20] = 1
    out = module.predict_native(torch.cat([photo * (1 - mask), mask], 1))
    known = (mask == 0).expand_as(photo)
    assert torch.equal(out[known], photo[known])


def test_plain_python_checkpoints_hold_no_objects_and_load_with_the_objects_given(tmp_path):
    torch.manual_seed(0)
    generator = UNetGenerator(1, num_downs=3, ngf=4)
    module = ColorizationModule(generator, losses={"l1": 1.0}, metrics=())
    assert "generator" not in module.hparams and "generator_optimizer" not in module.hparams
    path = save_checkpoint(module, tmp_path / "plain.ckpt")
    torch.load(path, weights_only=True)  # nothing but plain data
    loaded = ColorizationModule.load_from_checkpoint(
        path, map_location="cpu", generator=UNetGenerator(1, num_downs=3, ngf=4)
    )
    x = torch.rand(1, 1, 21, 19) * 2 - 1
    torch.testing.assert_close(loaded.predict_native(x), module.predict_native(x), rtol=0, atol=0)


def test_a_task_default_generator_needs_nothing_passed(tmp_path):
    torch.manual_seed(0)
    module = SuperResolutionModule(scale=2, losses={"l1": 1.0}, metrics=())
    path = save_checkpoint(module, tmp_path / "sr.ckpt")
    loaded = SuperResolutionModule.load_from_checkpoint(path, map_location="cpu")
    x = torch.rand(1, 3, 9, 13) * 2 - 1
    assert loaded.predict_native(x).shape == (1, 3, 18, 26)
    torch.testing.assert_close(loaded.predict_native(x), module.predict_native(x), rtol=0, atol=0)


def test_keep_luminance_survives_the_checkpoint(tmp_path):
    torch.manual_seed(0)
    module = ColorizationModule(
        UNetGenerator(1, num_downs=3, ngf=4), keep_luminance=True, losses={"l1": 1.0}, metrics=()
    )
    path = save_checkpoint(module, tmp_path / "color.ckpt")
    loaded = ColorizationModule.load_from_checkpoint(
        path, map_location="cpu", generator=UNetGenerator(1, num_downs=3, ngf=4)
    )
    assert loaded.keep_luminance is True
    x = torch.rand(1, 1, 21, 19) * 2 - 1
    torch.testing.assert_close(loaded.predict_native(x), module.predict_native(x), rtol=0, atol=0)
