"""An exponential moving average of the weights (Lightning's ``EMAWeightAveraging`` callback,
``--trainer.callbacks+=EMAWeightAveraging``) with the modules' manual optimization: one update per
optimizer step, the average in the module after the fit and in its checkpoints, an exact resume,
and a resume without the callback that goes on from the weights training had reached."""

import warnings

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, EMAWeightAveraging, ModelCheckpoint

from tests.modules.tiny import (
    RandomPairsDataModule,
    assert_same_optimizer_states,
    make_module,
    make_trainer,
)

TERMS = {"cfl": 1.6, "gan": 1.0, "feature_matching": 10.0}


class RecordWeights(Callback):
    """The generator's and discriminator's weights after each training batch (before the EMA
    callback, listed after this one, updates its average)."""

    def __init__(self) -> None:
        self.steps: list[dict[str, torch.Tensor]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.steps.append({k: v.detach().clone() for k, v in weights(pl_module).items()})


def fit(tmp_path, steps, callbacks, resume_from=None, accumulate=1):
    pl.seed_everything(3, workers=True)
    module = make_module(TERMS, accumulate_grad_batches=accumulate)
    trainer = make_trainer(
        tmp_path,
        max_steps=steps,
        callbacks=callbacks,
        enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in callbacks),
    )
    trainer.fit(module, RandomPairsDataModule(size=8, batch_size=2), ckpt_path=resume_from)
    return module, trainer


def ema(steps: list[dict[str, torch.Tensor]], decay: float) -> dict[str, torch.Tensor]:
    """The first weights, then ``decay * average + (1 - decay) * weights`` at every later step."""
    average = dict(steps[0])
    for weights in steps[1:]:
        average = {k: decay * average[k] + (1 - decay) * weights[k] for k in weights}
    return average


def weights(module) -> dict[str, torch.Tensor]:
    return {
        f"{name}.{key}": value
        for name in ("generator", "discriminator")
        for key, value in getattr(module, name).state_dict().items()
    }


def test_the_fit_ends_with_the_average_of_the_weights_after_each_step(tmp_path):
    record = RecordWeights()
    module, _ = fit(tmp_path, 3, [record, EMAWeightAveraging(decay=0.5)])
    assert len(record.steps) == 3
    expected = ema(record.steps, 0.5)
    for key, value in weights(module).items():
        torch.testing.assert_close(value, expected[key], rtol=1e-6, atol=1e-7, msg=key)
    assert not torch.equal(
        weights(module)["generator.0.weight"], record.steps[-1]["generator.0.weight"]
    )


def test_accumulating_batches_updates_the_average_once_per_optimizer_step(tmp_path):
    # 4 batches per epoch, K = 2: 4 batches make 2 optimizer steps, so 2 updates of the average.
    record = RecordWeights()
    module, trainer = fit(tmp_path, 2, [record, EMAWeightAveraging(decay=0.5)], accumulate=2)
    assert trainer.global_step == 2 and len(record.steps) == 4
    expected = ema([record.steps[1], record.steps[3]], 0.5)  # after each step's last batch
    for key, value in weights(module).items():
        torch.testing.assert_close(value, expected[key], rtol=1e-6, atol=1e-7, msg=key)


def test_checkpoints_hold_the_average_and_a_resume_from_one_is_exact(tmp_path):
    checkpoints = tmp_path / "checkpoints"

    def every_third_step():
        return ModelCheckpoint(dirpath=checkpoints, every_n_train_steps=3, save_top_k=-1)

    record = RecordWeights()
    straight, straight_trainer = fit(
        tmp_path / "a", 6, [record, EMAWeightAveraging(decay=0.5), every_third_step()]
    )
    saved = torch.load(checkpoints / "epoch=0-step=3.ckpt", weights_only=False)["state_dict"]
    expected = ema(record.steps[:3], 0.5)
    for key, value in expected.items():
        torch.testing.assert_close(saved[key], value, rtol=1e-6, atol=1e-7, msg=key)

    resumed, resumed_trainer = fit(
        tmp_path / "b",
        6,
        [EMAWeightAveraging(decay=0.5)],
        resume_from=str(checkpoints / "epoch=0-step=3.ckpt"),
    )
    for key, value in weights(straight).items():
        torch.testing.assert_close(weights(resumed)[key], value, rtol=0, atol=0, msg=key)
    assert_same_optimizer_states(straight_trainer, resumed_trainer)


def test_a_resume_without_the_callback_goes_on_from_the_weights_reached_and_warns(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    every_third_step = ModelCheckpoint(dirpath=checkpoints, every_n_train_steps=3, save_top_k=-1)
    fit(tmp_path / "a", 3, [EMAWeightAveraging(decay=0.5), every_third_step])
    plain, plain_trainer = fit(tmp_path / "b", 6, [])  # no averaging: the weights training reaches
    with pytest.warns(UserWarning, match="resumes from the weights it had reached"):
        resumed, resumed_trainer = fit(
            tmp_path / "c", 6, [], resume_from=str(checkpoints / "epoch=0-step=3.ckpt")
        )
    for key, value in weights(plain).items():
        torch.testing.assert_close(weights(resumed)[key], value, rtol=0, atol=0, msg=key)
    assert_same_optimizer_states(plain_trainer, resumed_trainer)


def test_compiling_the_generator_leaves_the_average_uncompiled_and_warns_nothing(tmp_path):
    # The modules compile in `setup`, after the callback copied the module (Lightning's
    # weight averaging calls an overridden `configure_model` first and warns about sharding).
    pl.seed_everything(3)
    module = make_module(TERMS, compile_generator=True)
    ema_callback = EMAWeightAveraging(decay=0.5)
    trainer = make_trainer(tmp_path, max_steps=0, callbacks=[ema_callback])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(module, RandomPairsDataModule(size=8, batch_size=2))
    assert not [w for w in caught if "configure_model" in str(w.message)]
    assert module.generator._compiled_call_impl is not None
    assert ema_callback._average_model.module.generator._compiled_call_impl is None
