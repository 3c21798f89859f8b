import csv
import math
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.plugins.precision import MixedPrecision

from cfl_lightning.modules import ImagePredictionModule, LinearDecay
from tests.modules.tiny import (
    RandomPairsDataModule,
    assert_same_optimizer_states,
    make_module,
    make_trainer,
    tiny_cfl,
    tiny_generator,
)

COMBINATIONS = [
    {"l1": 1.0},
    {"perceptual": 1.0},
    {"cfl": 1.0},
    {"l1": 1.0, "cfl": 1.0},
    {"l1": 1.0, "gan": 1.0},
    {"perceptual": 1.0, "gan": 1.0, "feature_matching": 10.0},
    {"cfl": 1.6, "gan": 1.0, "feature_matching": 10.0},
]


def snapshot(module: torch.nn.Module | None) -> dict[str, torch.Tensor]:
    if module is None:
        return {}
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict, module: torch.nn.Module) -> bool:
    after = module.state_dict()
    return any(not torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("terms", COMBINATIONS, ids=lambda t: "+".join(t))
def test_one_step_updates_generator_critic_discriminator_not_extractor(terms):
    module = make_module(terms)
    generator = snapshot(module.generator)
    heads = snapshot(module.cfl.heads) if module.cfl is not None else None
    extractor = snapshot(module.cfl.extractor) if module.cfl is not None else None
    perceptual = snapshot(module.perceptual) if module.perceptual is not None else None
    discriminator = snapshot(module.discriminator)

    make_trainer(max_steps=1).fit(module, RandomPairsDataModule(batch_size=2))

    assert changed(generator, module.generator)
    if module.cfl is not None:
        assert changed(heads, module.cfl.heads)
        assert not changed(extractor, module.cfl.extractor)
    if module.perceptual is not None:
        assert not changed(perceptual, module.perceptual)
    if "gan" in terms:
        assert changed(discriminator, module.discriminator)
    expected = ["generator"] + ["critic"] * ("cfl" in terms) + ["discriminator"] * ("gan" in terms)
    assert module.optimizer_names() == expected


def test_max_steps_counts_iterations_with_three_optimizers():
    module = make_module({"cfl": 1.0, "gan": 1.0})
    seen = []

    class CountBatches(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            seen.append(batch_idx)

    trainer = make_trainer(max_steps=5, callbacks=[CountBatches()])
    trainer.fit(module, RandomPairsDataModule(batch_size=2))
    assert len(seen) == 5
    assert trainer.global_step == 5


def test_losses_are_logged_per_term():
    module = make_module({"l1": 1.0, "cfl": 1.0, "gan": 1.0, "feature_matching": 10.0})
    trainer = make_trainer(max_steps=1)
    trainer.fit(module, RandomPairsDataModule(batch_size=2))
    logged = trainer.callback_metrics
    for key in ("l1", "cfl", "gan", "feature_matching", "loss", "d_real", "d_fake", "d_loss"):
        assert f"train/{key}" in logged and torch.isfinite(logged[f"train/{key}"])
    total = sum(
        w * float(logged[f"train/{k}"])
        for k, w in {"l1": 1.0, "cfl": 1.0, "gan": 1.0, "feature_matching": 10.0}.items()
    )
    assert math.isclose(float(logged["train/loss"]), total, rel_tol=1e-5)


def test_validation_logs_l1_psnr_cfl():
    module = make_module({"cfl": 1.0}, metrics=("psnr", "ssim"))
    trainer = make_trainer(max_steps=1, limit_val_batches=2)
    trainer.validate(module, RandomPairsDataModule(batch_size=2))
    logged = trainer.callback_metrics
    for key in ("val/l1", "val/psnr", "val/ssim", "val/cfl"):
        assert key in logged and torch.isfinite(logged[key])


def test_validation_does_not_touch_global_rng():
    module = make_module({"cfl": 1.0})
    torch.manual_seed(7)
    make_trainer(limit_val_batches=2).validate(
        module, RandomPairsDataModule(batch_size=2), verbose=False
    )
    after_validation = torch.rand(1)
    torch.manual_seed(7)
    assert torch.equal(torch.rand(1), after_validation)


def _resume_run(tmp_path, steps, resume_from=None, every=None, accumulate=1):
    pl.seed_everything(3, workers=True)
    module = make_module(
        {"cfl": 1.6, "gan": 1.0, "feature_matching": 10.0}, accumulate_grad_batches=accumulate
    )
    callbacks = []
    if every is not None:
        callbacks.append(
            ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=every, save_top_k=-1)
        )
    trainer = make_trainer(
        max_steps=steps, callbacks=callbacks, enable_checkpointing=bool(callbacks)
    )
    trainer.fit(module, RandomPairsDataModule(size=8, batch_size=2), ckpt_path=resume_from)
    return module, trainer


@pytest.mark.parametrize(
    ("accumulate", "checkpoint_name"),
    [(1, "epoch=0-step=3.ckpt"), (3, "epoch=1-step=3.ckpt")],
    ids=["each-batch", "accumulating-3"],
)
def test_resume_mid_epoch_is_exact(tmp_path, accumulate, checkpoint_name):
    # 4 batches per epoch; 6 steps straight, checkpoint at step 3 (mid-epoch), resume to 6.
    # Accumulating 3 batches: steps after batches 3 and 4 of each epoch; step 3 is mid-epoch 1.
    straight, straight_trainer = _resume_run(tmp_path, steps=6, every=3, accumulate=accumulate)
    checkpoint = tmp_path / checkpoint_name
    assert checkpoint.is_file(), sorted(p.name for p in tmp_path.iterdir())
    resumed, resumed_trainer = _resume_run(
        tmp_path / "b", steps=6, resume_from=str(checkpoint), accumulate=accumulate
    )
    for name in ("generator", "cfl", "discriminator"):
        a, b = getattr(straight, name).state_dict(), getattr(resumed, name).state_dict()
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=f"{name}.{key}")
    assert_same_optimizer_states(straight_trainer, resumed_trainer)


def test_resume_with_other_optimizers_fails_clearly(tmp_path):
    module = make_module({"cfl": 1.0, "gan": 1.0})
    trainer = make_trainer(max_steps=1)
    trainer.fit(module, RandomPairsDataModule(batch_size=2))
    path = tmp_path / "gan.ckpt"
    trainer.save_checkpoint(path)
    without_gan = make_module({"cfl": 1.0})
    with pytest.raises(ValueError, match=r"optimizers \['generator', 'critic', 'discriminator'\]"):
        make_trainer(max_steps=2).fit(
            without_gan, RandomPairsDataModule(batch_size=2), ckpt_path=str(path)
        )


def test_bf16_mixed_fit_has_finite_losses():
    module = make_module({"cfl": 1.0, "l1": 1.0, "gan": 1.0})
    trainer = make_trainer(max_steps=2, precision="bf16-mixed")
    trainer.fit(module, RandomPairsDataModule(batch_size=2))
    for key in ("train/cfl", "train/l1", "train/gan", "train/d_loss"):
        assert torch.isfinite(trainer.callback_metrics[key])


def test_fp16_grad_scaler_updated_once_per_iteration():
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    calls = {"update": 0, "step": 0}
    original_update, original_step = scaler.update, scaler.step

    def update(*args, **kwargs):
        calls["update"] += 1
        return original_update(*args, **kwargs)

    def step(*args, **kwargs):
        calls["step"] += 1
        return original_step(*args, **kwargs)

    scaler.update, scaler.step = update, step
    module = make_module({"cfl": 1.0, "gan": 1.0})
    heads = snapshot(module.cfl.heads)
    plugin = MixedPrecision("16-mixed", device="cpu", scaler=scaler)
    trainer = make_trainer(max_steps=3, plugins=[plugin])
    trainer.fit(module, RandomPairsDataModule(batch_size=2))
    assert calls == {"update": 3, "step": 9}  # three optimizers stepped, one update, per iteration
    assert changed(heads, module.cfl.heads)


def test_linear_decay_schedule_reaches_zero():
    decay = LinearDecay(total_steps=10, decay_start=0.5)
    assert [decay(s) for s in (0, 4, 5, 10)] == [1.0, 1.0, 1.0, 0.0]
    assert decay(7) == pytest.approx(0.6)
    module = make_module({"l1": 1.0}, lr_schedule="linear_decay", lr_decay_start=0.5)
    trainer = make_trainer(max_steps=4)
    trainer.fit(module, RandomPairsDataModule(batch_size=2))
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0)


def test_learning_rate_monitor_logs_each_optimizer_by_name(tmp_path):
    # 8 items in batches of 2: 4 steps; the decay starts at once: lr 2e-4 * (1 - step / 4)
    module = make_module({"cfl": 1.0, "gan": 1.0}, lr_schedule="linear_decay", lr_decay_start=0.0)
    trainer = make_trainer(
        max_steps=4,
        logger=CSVLogger(tmp_path),
        callbacks=[LearningRateMonitor(logging_interval="step")],
        log_every_n_steps=1,
    )
    trainer.fit(module, RandomPairsDataModule(size=8, batch_size=2))
    rows = list(csv.DictReader((Path(trainer.logger.log_dir) / "metrics.csv").open()))
    names = ("lr-generator", "lr-critic", "lr-discriminator")
    logged = [float(row[n]) for row in rows if row.get("lr-generator") for n in names]
    expected = [2e-4 * (1 - step / 4) for step in range(4) for _ in names]
    assert logged == pytest.approx(expected)


def test_gradient_clipping_bounds_the_update():
    module = make_module({"l1": 1.0}, gradient_clip_val=1e-6)
    before = snapshot(module.generator)
    optimizer = torch.optim.SGD
    module.generator_optimizer = lambda p: optimizer(p, lr=1.0)
    make_trainer(max_steps=1).fit(module, RandomPairsDataModule(batch_size=2))
    after = module.generator.state_dict()
    moved = torch.sqrt(sum(((after[k] - before[k]) ** 2).sum() for k in before))
    assert 0 < float(moved) <= 1.01e-6


def test_critic_keeps_receiving_gradients_while_discriminator_is_frozen():
    module = make_module({"cfl": 1.0, "gan": 1.0})
    heads_before = snapshot(module.cfl.heads)
    make_trainer(max_steps=2).fit(module, RandomPairsDataModule(batch_size=2))
    assert changed(heads_before, module.cfl.heads)
    assert all(p.requires_grad for p in module.discriminator.parameters())
    assert all(p.requires_grad for p in module.cfl.heads.parameters())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"losses": {"l2": 1.0}}, r"losses: unknown term\(s\) \['l2'\]"),
        ({"losses": {"gan": 1.0}}, r"discriminator: the loss term\(s\) \['gan'\] need"),
        ({"losses": {"l1": 1.0}, "cfl": "cfl"}, "cfl: a CFL module was given but 'cfl' is not"),
        ({"losses": {"l1": 1.0}, "gan_mode": "wgan"}, "gan_mode: expected one of"),
        ({"losses": {"l1": 1.0}, "lr_schedule": "cosine"}, "lr_schedule: expected one of"),
    ],
)
def test_bad_configuration_errors(kwargs, match):
    if kwargs.get("cfl") == "cfl":
        kwargs["cfl"] = tiny_cfl()
    with pytest.raises(ValueError, match=match):
        ImagePredictionModule(tiny_generator(), metrics=(), **kwargs)


def test_generator_output_size_mismatch_is_reported():
    module = ImagePredictionModule(
        torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3, stride=2, padding=1), torch.nn.Tanh()),
        losses={"l1": 1.0},
        metrics=(),
    )
    with pytest.raises(ValueError, match=r"generator: produced images of shape \(2, 3, 16, 16\)"):
        make_trainer(max_steps=1).fit(module, RandomPairsDataModule(batch_size=2))


def test_predict_returns_images_and_paths():
    module = make_module({"l1": 1.0})
    outputs = make_trainer().predict(module, RandomPairsDataModule(batch_size=2))
    assert len(outputs) == 2
    assert outputs[0]["prediction"].shape == (2, 3, 32, 32)
    assert float(outputs[0]["prediction"].abs().max()) <= 1.0
    assert outputs[0]["path"] == ["pair_000.png", "pair_001.png"]


@pytest.mark.slow
def test_compiled_losses_equal_eager_ones_with_the_same_patch_draws():
    terms = {"cfl": 1.0, "perceptual": 1.0}
    eager = make_module(terms)
    compiled = make_module(terms, compile_losses=True)
    compiled.compile_requested()
    assert compiled.hparams.compile_losses
    torch.manual_seed(1)
    generator_input = torch.randn(2, 3, 32, 32)
    target = torch.rand(2, 3, 32, 32) * 2 - 1

    def loss_and_gradient(module):
        prediction = module.generator(generator_input)
        patches = torch.Generator().manual_seed(7)
        values = module.generator_loss_terms(generator_input, prediction, target, patches)
        sum(values.values()).backward()
        first = next(module.generator.parameters())
        return {k: v.detach() for k, v in values.items()}, first.grad.clone()

    eager_values, eager_grad = loss_and_gradient(eager)
    compiled_values, compiled_grad = loss_and_gradient(compiled)
    assert eager_values.keys() == compiled_values.keys() == {"cfl", "perceptual"}
    for name in eager_values:
        torch.testing.assert_close(compiled_values[name], eager_values[name], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(compiled_grad, eager_grad, rtol=1e-4, atol=1e-5)
    assert compiled.cfl._compiled_call_impl is not None  # the loss itself was compiled
