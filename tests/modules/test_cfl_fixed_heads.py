"""The module logs ``{stage}/cfl_fixed_heads`` (CFL with identity heads on the CFL term's
extractor, independent of the co-trained critic) and trains a ``critic="target_views"`` CFL."""

import torch

from cfl_lightning.metrics.fixed_heads_cfl import FixedHeadsCFL
from cfl_lightning.modules import ImagePredictionModule
from tests.modules.tiny import (
    RandomPairsDataModule,
    make_module,
    make_trainer,
    tiny_cfl,
    tiny_generator,
)


def test_one_step_fit_logs_the_fixed_heads_cfl():
    module = make_module({"cfl": 1.0})
    trainer = make_trainer(max_steps=1, limit_val_batches=1, val_check_interval=1)
    trainer.fit(module, RandomPairsDataModule(batch_size=2))
    logged = trainer.callback_metrics
    assert "val/cfl_fixed_heads" in logged and torch.isfinite(logged["val/cfl_fixed_heads"])
    assert "val/cfl" in logged


def test_fixed_heads_value_ignores_the_critic_and_shares_the_extractor():
    module = make_module({"cfl": 1.0})
    metric = module.val_cfl_fixed_heads
    assert isinstance(metric, FixedHeadsCFL) and metric.loss.extractor is module.cfl.extractor
    keys = set(module.state_dict())
    assert not any("cfl_fixed_heads" in key for key in keys)  # checkpoints keep their keys

    def validate():
        trainer = make_trainer(limit_val_batches=2)
        trainer.validate(module, RandomPairsDataModule(batch_size=2), verbose=False)
        return {k: v.clone() for k, v in trainer.callback_metrics.items()}

    first = validate()
    with torch.no_grad():
        for p in module.cfl.heads.parameters():
            p.add_(torch.randn_like(p))
    second = validate()
    assert torch.equal(first["val/cfl_fixed_heads"], second["val/cfl_fixed_heads"])
    assert not torch.allclose(first["val/cfl"], second["val/cfl"])


def test_test_stage_logs_it_and_l1_only_modules_do_not_build_it():
    module = make_module({"cfl": 1.0})
    trainer = make_trainer(limit_test_batches=1)
    trainer.test(module, RandomPairsDataModule(batch_size=2), verbose=False)
    assert "test/cfl_fixed_heads" in trainer.callback_metrics
    assert make_module({"l1": 1.0}).val_cfl_fixed_heads is None


def test_target_views_critic_trains_in_the_module_unchanged():
    torch.manual_seed(0)
    module = ImagePredictionModule(
        tiny_generator(), losses={"cfl": 1.0}, cfl=tiny_cfl(critic="target_views"), metrics=()
    )
    heads = {k: v.clone() for k, v in module.cfl.heads.state_dict().items()}
    generator = {k: v.clone() for k, v in module.generator.state_dict().items()}
    extractor = {k: v.clone() for k, v in module.cfl.extractor.state_dict().items()}
    make_trainer(max_steps=2).fit(module, RandomPairsDataModule(batch_size=2))
    assert module.optimizer_names() == ["generator", "critic"]
    assert all(not torch.equal(v, module.cfl.heads.state_dict()[k]) for k, v in heads.items())
    assert any(not torch.equal(v, module.generator.state_dict()[k]) for k, v in generator.items())
    assert all(torch.equal(v, module.cfl.extractor.state_dict()[k]) for k, v in extractor.items())


class FourChannelPairs(torch.utils.data.Dataset):
    """(input, image) pairs of 4-channel 32x32 images (e.g. RGB + near infrared)."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> dict:
        image = torch.rand(4, 32, 32, generator=torch.Generator().manual_seed(index)) * 2 - 1
        return {"input": image.flip(0), "image": image, "path": f"pair_{index}.png"}


def test_four_channel_images_train_validate_and_predict_with_a_conv_encoder_critic(tmp_path):
    from cfl_lightning.losses import ContrastiveFeatureLoss
    from cfl_lightning.networks import ConvEncoderFeatures

    torch.manual_seed(0)
    encoder = ConvEncoderFeatures(in_channels=4, widths=(8, 16, 16))
    cfl = ContrastiveFeatureLoss(extractor=encoder, critic="target_views", num_patches=32)
    generator = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3, padding=1), torch.nn.Tanh())
    module = ImagePredictionModule(generator, losses={"cfl": 1.0}, cfl=cfl)
    before = [p.detach().clone() for p in encoder.parameters()]
    loader = torch.utils.data.DataLoader(FourChannelPairs(), batch_size=2)
    trainer = make_trainer(max_steps=2, limit_val_batches=1, val_check_interval=1)
    trainer.fit(module, loader, loader)
    logged = trainer.callback_metrics
    for name in ("val/cfl", "val/cfl_fixed_heads", "val/psnr"):
        assert torch.isfinite(logged[name]), name
    # The critic's optimizer trains the encoder (from the target views).
    assert any(not torch.equal(a, b) for a, b in zip(before, encoder.parameters()))
    # Predictions are written as RGBA PNG files (the 4th channel as alpha).
    from PIL import Image

    from cfl_lightning.callbacks import PredictionWriter

    writer = PredictionWriter(str(tmp_path / "out"))
    make_trainer(callbacks=[writer]).predict(module, loader)
    assert len(writer.written) == 4
    assert all(Image.open(path).mode == "RGBA" for path in writer.written)
