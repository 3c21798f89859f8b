import pytest
import torch

from cfl_lightning.modules import ImagePredictionModule
from cfl_lightning.modules.accumulation import GradientStash, check_accumulate_grad_batches
from cfl_lightning.networks.discriminator import MultiscaleDiscriminator
from tests.modules.tiny import (
    RandomPairsDataModule,
    make_module,
    make_trainer,
    tiny_generator,
    tiny_perceptual,
)


def fit_one_step(batch_size: int, accumulate: int, discriminator: bool = False):
    """One optimizer step on the first 4 items of the epoch's order."""
    torch.manual_seed(0)
    parts = {"perceptual": tiny_perceptual()}
    terms = {"l1": 1.0, "perceptual": 1.0}
    if discriminator:
        # per-image norm and no spectral norm: its loss on 4 images is the mean of 2 + 2
        parts["discriminator"] = MultiscaleDiscriminator(
            6, ndf=8, n_layers=2, num_scales=2, spectral_norm=False
        )
        terms["gan"] = 1.0
    module = ImagePredictionModule(
        tiny_generator(),
        losses=terms,
        accumulate_grad_batches=accumulate,
        metrics=("psnr",),
        **parts,
    )
    trainer = make_trainer(max_steps=1)
    trainer.fit(module, RandomPairsDataModule(size=8, batch_size=batch_size))
    assert trainer.global_step == 1
    return module, trainer


def assert_same_parameters(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (name, x), y in zip(a.named_parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6, msg=name)


def test_two_batches_of_two_step_like_one_batch_of_four():
    whole, _ = fit_one_step(batch_size=4, accumulate=1)
    parts, trainer = fit_one_step(batch_size=2, accumulate=2)
    assert trainer.fit_loop.epoch_loop.batch_progress.current.ready == 2  # two batches, one step
    assert_same_parameters(whole.generator, parts.generator)
    untrained, _ = fit_one_step(batch_size=2, accumulate=1)  # one batch of two: another step
    with pytest.raises(AssertionError):
        assert_same_parameters(untrained.generator, parts.generator)


def test_the_discriminator_steps_on_its_own_gradients_only():
    # The generator's GAN term also reaches the discriminator's parameters; its gradients must
    # not enter the discriminator's accumulated step.
    whole, _ = fit_one_step(batch_size=4, accumulate=1, discriminator=True)
    parts, _ = fit_one_step(batch_size=2, accumulate=2, discriminator=True)
    assert_same_parameters(whole.discriminator, parts.discriminator)


def test_an_epoch_ends_with_a_step_and_the_schedule_counts_steps():
    # 8 items in batches of 2: 4 batches per epoch; accumulating 3 steps after batches 3 and 4.
    module = make_module(
        {"cfl": 1.0, "gan": 1.0},
        accumulate_grad_batches=3,
        lr_schedule="linear_decay",
        lr_decay_start=0.5,
    )
    trainer = make_trainer(max_epochs=2)
    trainer.fit(module, RandomPairsDataModule(size=8, batch_size=2))
    assert trainer.global_step == 4
    # the decay ran over the 4 optimizer steps of the run (not over its 8 batches)
    for optimizer in trainer.optimizers:
        assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0)


@pytest.mark.parametrize(("interval", "warns"), [(3, True), (4, False)])
def test_validation_inside_accumulated_steps_warns(interval, warns, recwarn):
    module = make_module({"l1": 1.0}, accumulate_grad_batches=2)
    trainer = make_trainer(max_steps=1, val_check_interval=interval, limit_val_batches=1)
    trainer.fit(module, RandomPairsDataModule(size=8, batch_size=2))
    messages = [str(w.message) for w in recwarn if "falls inside" in str(w.message)]
    expected = (
        f"accumulate_grad_batches=2: validation every {interval} batches falls inside optimizer"
    )
    assert [m.startswith(expected) for m in messages] == ([True] if warns else [])


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_accumulate_grad_batches_must_be_a_positive_integer(value):
    with pytest.raises(
        ValueError, match=rf"accumulate_grad_batches: expected an integer >= 1, got {value!r}"
    ):
        check_accumulate_grad_batches(value)
    with pytest.raises(ValueError, match="accumulate_grad_batches"):
        make_module({"l1": 1.0}, accumulate_grad_batches=value)


def test_gradient_stash_sums_and_restores():
    params = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(1))]
    stash = GradientStash()
    params[0].grad = torch.tensor([1.0, 2.0])
    stash.add(params)
    params[0].grad, params[1].grad = torch.tensor([10.0, 20.0]), torch.tensor([5.0])
    stash.add(params)
    params[0].grad = torch.tensor([99.0, 99.0])  # written by another backward: not kept
    stash.restore(params)
    assert params[0].grad.tolist() == [11.0, 22.0] and params[1].grad.tolist() == [5.0]
    assert stash.empty
