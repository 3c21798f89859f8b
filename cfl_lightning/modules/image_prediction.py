"""The base LightningModule: a generator trained with declarative loss terms, the CFL critic and an
optional discriminator, each with its own optimizer (manual optimization)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.cli import OptimizerCallable
from pytorch_lightning.utilities import rank_zero_warn
from torch import nn

from cfl_lightning.losses import GAN_MODES, ContrastiveFeatureLoss, GANLoss, PerceptualLoss
from cfl_lightning.metrics import FixedHeadsCFL, quality_metrics
from cfl_lightning.modules import rank_state
from cfl_lightning.modules.accumulation import (
    GradientStash,
    backward_sync,
    check_accumulate_grad_batches,
    ends_accumulation,
    optimizer_steps,
    validation_inside_steps,
)
from cfl_lightning.modules.adversarial import discriminate_pair
from cfl_lightning.modules.checkpoint_hparams import hparams_to_ignore
from cfl_lightning.modules.eval_mode_notice import IntendedEvalModules
from cfl_lightning.modules.loss_terms import (
    LOSS_TERMS,
    TermInputs,
    check_loss_weights,
    compute_terms,
    resolve_loss_modules,
    terms_needing_discriminator,
)
from cfl_lightning.modules.native_prediction import NativePrediction, check_inference_settings
from cfl_lightning.modules.optimization import (
    LR_SCHEDULES,
    LinearDecay,
    adam_2e4,
    clip_gradients,
    step_uncounted,
)
from cfl_lightning.modules.step_random import StepRandom
from cfl_lightning.modules.weight_averaging import resume_current_weights
from cfl_lightning.networks.deferred_weights import pretrained_weights_deferred
from cfl_lightning.seeding import derive_seed

__all__ = ["LOSS_TERMS", "OPTIMIZER_ORDER", "ImagePredictionModule"]

OPTIMIZER_ORDER = ("generator", "critic", "discriminator")
VALIDATION_CFL_SEED = 12345
PATCH_STREAM = "cfl-patches"


class ImagePredictionModule(NativePrediction, pl.LightningModule):
    """Train ``generator`` to map inputs to target images with a weighted sum of loss terms.

    ``losses`` maps term names to weights: ``"l1"`` (pixel L1), ``"perceptual"`` (VGG loss),
    ``"cfl"`` (contrastive feature loss, critic trained by its own optimizer), ``"gan"`` and
    ``"feature_matching"`` (need ``discriminator``). Each paper baseline is a config change:
    ``{"l1": 1}``, ``{"perceptual": 10}``, ``{"cfl": 1.6}``, plus ``{"gan": 1, "feature_matching":
    10}`` for the GAN variants.

    Each training iteration: the discriminator's step (when present), then one backward of the
    generator's loss that fills the generator's and the critic's gradients, then both step. Only the
    generator's step is counted by Lightning, so ``trainer.max_steps`` and ``global_step`` count
    training iterations whatever the number of optimizers. Optimizers are ordered (generator,
    critic, discriminator); resuming from a checkpoint made with another set fails clearly.

    Subclasses adapt to a task by overriding ``prepare_batch`` (batch -> ``(input, target)``), and
    optionally ``discriminator_condition`` and ``visualize_input``.

    Args:
        generator: ``input -> (B, 3, H, W)`` images in ``[-1, 1]``.
        losses: term name -> weight; default ``{"cfl": 1.0}``.
        cfl: the CFL module (default ``ContrastiveFeatureLoss()`` with ImageNet VGG19 weights when
            ``"cfl"`` is a term).
        perceptual: the VGG loss module (default ``PerceptualLoss()`` when it is a term).
        discriminator: e.g. ``MultiscaleDiscriminator``; its input is the condition (see
            ``discriminator_condition``) concatenated with the image on channels.
        gan_mode: ``"hinge"`` (default), ``"ls"`` or ``"bce"``.
        generator_optimizer, critic_optimizer, discriminator_optimizer: callables from parameters
            to optimizers; default Adam, lr 2e-4, betas (0.5, 0.999).
        lr_schedule: ``"constant"`` or ``"linear_decay"`` (to 0 from ``lr_decay_start`` of the run).
        gradient_clip_val: clip each optimizer's gradient norm to this value (manual optimization
            does not support the Trainer's ``gradient_clip_val``).
        accumulate_grad_batches: step the optimizers once every this many batches, on the sum of
            their gradients (each batch's losses divided by it), and after an epoch's last batch;
            default 1. Use it instead of the Trainer's option, which manual optimization refuses.
            ``max_steps`` and the learning-rate schedule count optimizer steps; CFL's patch
            locations differ per batch.
        metrics: validation/test metrics by name (see ``cfl_lightning.metrics.quality_metrics``);
            ``val/l1`` and, with a CFL term, ``val/cfl`` and ``val/cfl_fixed_heads`` are always
            logged. ``val/cfl`` is the CFL term itself, through the co-trained critic heads: its
            value moves with the heads, so it cannot be compared across epochs or runs.
            ``val/cfl_fixed_heads`` (:class:`FixedHeadsCFL`) is the same loss with identity heads
            and fixed patch locations on the CFL term's own extractor: comparable while that
            extractor stays fixed (as the frozen VGG19 does).
        compile_generator: ``torch.compile`` the generator (in place; checkpoints keep their keys).
        compile_losses: ``torch.compile`` the CFL and VGG loss modules (in place; CFL's patch
            locations are drawn outside the compiled graph); default False.
        conditional_discriminator: give the discriminator the condition as well as the image.
        tile_size, tile_overlap, pad_mode: inference on new inputs (``predict``,
            ``predict_native``): each input is padded (``"reflect"`` or ``"replicate"``) to the
            generator's multiple and cropped back; with ``tile_size`` (input pixels; default None:
            whole images), larger inputs run in tiles overlapping by ``tile_overlap`` (32),
            blended without seams. Not used in training.
    """

    def __init__(
        self,
        generator: nn.Module,
        losses: dict[str, float] | None = None,
        cfl: ContrastiveFeatureLoss | None = None,
        perceptual: PerceptualLoss | None = None,
        discriminator: nn.Module | None = None,
        gan_mode: str = "hinge",
        generator_optimizer: OptimizerCallable = adam_2e4,
        critic_optimizer: OptimizerCallable = adam_2e4,
        discriminator_optimizer: OptimizerCallable = adam_2e4,
        lr_schedule: str = "constant",
        lr_decay_start: float = 0.5,
        gradient_clip_val: float | None = None,
        accumulate_grad_batches: int = 1,
        metrics: Sequence[str] = ("psnr", "ssim"),
        compile_generator: bool = False,
        compile_losses: bool = False,
        conditional_discriminator: bool = True,
        tile_size: int | None = None,
        tile_overlap: int = 32,
        pad_mode: str = "reflect",
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        weights = check_loss_weights(dict(losses) if losses is not None else {"cfl": 1.0})
        if gan_mode not in GAN_MODES:
            raise ValueError(f"gan_mode: expected one of {GAN_MODES}, got {gan_mode!r}")
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule: expected one of {LR_SCHEDULES}, got {lr_schedule!r}")
        needs_discriminator = terms_needing_discriminator(weights)
        if needs_discriminator and discriminator is None:
            raise ValueError(
                f"discriminator: the loss term(s) {needs_discriminator} need a discriminator, "
                "got None"
            )
        if discriminator is not None and "gan" not in weights:
            raise ValueError("discriminator: given, but 'gan' is not in losses; add it or drop it")
        check_inference_settings(tile_size, tile_overlap, pad_mode)
        loss_modules = resolve_loss_modules(weights, {"cfl": cfl, "perceptual": perceptual})

        # Modules and optimizer factories stay out of the checkpoint's hyperparameters when they
        # are objects (torch.load(weights_only=True) would refuse them); from the CLI they are
        # plain config data, from which load_from_checkpoint rebuilds them.
        self.save_hyperparameters(
            ignore=hparams_to_ignore(
                [
                    "generator",
                    "cfl",
                    "perceptual",
                    "discriminator",
                    "generator_optimizer",
                    "critic_optimizer",
                    "discriminator_optimizer",
                ]
            )
        )
        self.loss_weights = weights
        self.generator = generator
        self.cfl: ContrastiveFeatureLoss | None = loss_modules["cfl"]  # type: ignore[assignment]
        self.perceptual: PerceptualLoss | None = loss_modules["perceptual"]  # type: ignore[assignment]
        self.discriminator = discriminator
        self.gan_loss = GANLoss(gan_mode)
        self.generator_optimizer = generator_optimizer
        self.critic_optimizer = critic_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.lr_schedule = lr_schedule
        self.lr_decay_start = lr_decay_start
        self.gradient_clip_val = gradient_clip_val
        self.accumulate_grad_batches = check_accumulate_grad_batches(accumulate_grad_batches)
        self._discriminator_grads = GradientStash()
        self._intended_eval = IntendedEvalModules()
        self.compile_generator = compile_generator
        self.compile_losses = compile_losses
        self.conditional_discriminator = conditional_discriminator
        self.step_random = StepRandom()
        self.tile_size = tile_size
        self.tile_overlap = tile_overlap
        self.pad_mode = pad_mode
        self.metric_names = list(metrics)
        self.val_metrics = self.test_metrics = None
        # Borrow the CFL term's extractor (no second network, no new checkpoint keys).
        self.val_cfl_fixed_heads: FixedHeadsCFL | None = None
        self.test_cfl_fixed_heads: FixedHeadsCFL | None = None
        if self.cfl is not None:
            self.val_cfl_fixed_heads = FixedHeadsCFL.from_loss(self.cfl)
            self.test_cfl_fixed_heads = FixedHeadsCFL.from_loss(self.cfl)
        if not pretrained_weights_deferred():  # else setup() builds them, when they are used
            self.build_metrics()

    def build_metrics(self) -> None:
        """Build the validation and test metrics (FID/KID/LPIPS load their networks here)."""
        self.val_metrics = quality_metrics(self.metric_names).clone(prefix="val/")
        self.test_metrics = quality_metrics(self.metric_names).clone(prefix="test/")

    # ----------------------------------------------------------------- task hooks (override these)
    def prepare_batch(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch -> ``(generator_input, target)``. Default: ``batch["input"], batch["image"]``."""
        return batch["input"], batch["image"]

    def discriminator_condition(
        self, generator_input: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor | None:
        """What the discriminator sees beside the image: the generator's input (resized to the
        image's size if needed) when ``conditional_discriminator``, else nothing."""
        if not self.conditional_discriminator:
            return None
        if generator_input.shape[-2:] != target.shape[-2:]:
            return F.interpolate(generator_input, size=target.shape[-2:], mode="nearest")
        return generator_input

    def visualize_input(self, generator_input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The input as ``(B, 3, H, W)`` images in ``[-1, 1]`` at the target's size, for grids."""
        x = generator_input[:, :3]
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] == 2:
            x = torch.cat([x, x[:, :1]], dim=1)
        if x.shape[-2:] != target.shape[-2:]:
            x = F.interpolate(x, size=target.shape[-2:], mode="nearest")
        return x.clamp(-1, 1)

    def generate(self, generator_input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The prediction shown and scored at validation, test and prediction (``target`` gives
        known pixels to tasks that keep them, such as inpainting). Default: the generator's."""
        return self.generator(generator_input)

    # ------------------------------------------------------------------------------ forward
    def forward(self, generator_input: torch.Tensor) -> torch.Tensor:
        return self.generator(generator_input)

    def setup(self, stage: str) -> None:
        """Under DDP, gives each rank its own global RNG stream for fitting (``seed_everything``
        seeds every rank alike, so dropout or noise in a generator would draw the same numbers
        on every rank): seeded from ``(seed, rank)``. A resumed fit then restores each rank's
        saved state over it. Single-process runs keep the global RNG as seeded.

        Builds the metrics here when construction deferred them (a module loaded from a
        checkpoint, whose feature extractors get their weights from it). Warns when validation
        falls inside accumulated steps (see :func:`validation_inside_steps`)."""
        if self.val_metrics is None and stage in ("fit", "validate", "test"):
            self.build_metrics()
        if stage == "fit":
            warning = validation_inside_steps(self.trainer, self.accumulate_grad_batches)
            if warning is not None:
                rank_zero_warn(warning)
        if stage == "fit" and self.trainer.world_size > 1:
            torch.manual_seed(
                derive_seed(self.step_random.resolve_seed(), "rank", self.global_rank)
            )
        self.compile_requested()

    def on_fit_start(self) -> None:
        # Frozen extractors and metric networks are in eval mode by design: Lightning's warning
        # about modules in eval mode is shown only when other modules are (eval_mode_notice).
        self._intended_eval.hide(self)

    def on_train_start(self) -> None:
        self._intended_eval.restore()

    def compile_requested(self) -> None:
        """Compiles in place (once) what ``compile_generator`` and ``compile_losses`` ask for;
        called by ``setup``. Not ``configure_model``: Lightning's weight-averaging callbacks call
        that hook before copying the module, and warn about sharding when it is overridden."""
        if self.compile_generator and not getattr(self, "_generator_compiled", False):
            self.generator.compile()
            self._generator_compiled = True
        if self.compile_losses and not getattr(self, "_losses_compiled", False):
            for loss in (self.cfl, self.perceptual):
                if loss is not None:
                    loss.compile()
            self._losses_compiled = True

    def _check_prediction(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        if prediction.shape != target.shape:
            raise ValueError(
                f"generator: produced images of shape {tuple(prediction.shape)} for targets of "
                f"shape {tuple(target.shape)}; check its output size and channels"
            )

    # ------------------------------------------------------------------------- loss terms
    def generator_loss_terms(
        self,
        generator_input: torch.Tensor,
        prediction: torch.Tensor,
        target: torch.Tensor,
        patch_generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Every active term's unweighted value for one batch (see ``loss_terms``).
        ``patch_generator`` draws CFL's patch locations (default: the global RNG)."""
        inputs = TermInputs(self, generator_input, prediction, target, patch_generator)
        return compute_terms(self.loss_weights, inputs)

    def _discriminator_step(
        self,
        generator_input: torch.Tensor,
        prediction: torch.Tensor,
        target: torch.Tensor,
        steps: bool = True,
    ) -> dict[str, torch.Tensor]:
        assert self.discriminator is not None
        optimizer = self._optimizers_by_name()["discriminator"]
        condition = self.discriminator_condition(generator_input, target)
        fake, real = discriminate_pair(self.discriminator, condition, prediction.detach(), target)
        real_loss, fake_loss = self.gan_loss.discriminator_loss(real, fake)
        loss = real_loss + fake_loss
        optimizer.zero_grad(set_to_none=True)
        batches = self.accumulate_grad_batches
        parameters = list(self.discriminator.parameters())
        if batches > 1:
            # The generator's GAN term also writes into the discriminator's .grad: the step's
            # own gradients so far wait apart and come back before this batch's backward, so
            # that the step's last backward all-reduces their sum under DDP.
            self._discriminator_grads.restore(parameters)
        with backward_sync(self.trainer.strategy, steps):
            self.manual_backward(loss / batches if batches > 1 else loss)
        if batches > 1 and not steps:
            self._discriminator_grads.add(parameters)
        if steps:
            self._clip_and_step_uncounted(optimizer.optimizer)
        return {"d_real": real_loss.detach(), "d_fake": fake_loss.detach(), "d_loss": loss.detach()}

    # ------------------------------------------------------------------------ optimisation
    def optimizer_names(self) -> list[str]:
        """Names of this configuration's optimizers, in their fixed order."""
        names = ["generator"]
        if self.cfl is not None and any(True for _ in self.cfl.critic_parameters()):
            names.append("critic")
        if self.discriminator is not None:
            names.append("discriminator")
        return names

    def configure_optimizers(self) -> Any:
        parameters = {
            "generator": lambda: self.generator.parameters(),
            "critic": lambda: self.cfl.critic_parameters(),
            "discriminator": lambda: self.discriminator.parameters(),
        }
        factories = {
            "generator": self.generator_optimizer,
            "critic": self.critic_optimizer,
            "discriminator": self.discriminator_optimizer,
        }
        optimizers = [factories[n](list(parameters[n]())) for n in self.optimizer_names()]
        if self.lr_schedule == "constant":
            return optimizers
        total = optimizer_steps(self.trainer, self.accumulate_grad_batches)
        if total == float("inf"):
            raise ValueError(
                "lr_schedule: 'linear_decay' needs a finite run; set trainer.max_steps or "
                "trainer.max_epochs"
            )
        # Named for Lightning's LearningRateMonitor: lr-generator, lr-critic, lr-discriminator.
        schedulers = [
            {
                "scheduler": torch.optim.lr_scheduler.LambdaLR(
                    opt, LinearDecay(int(total), self.lr_decay_start)
                ),
                "name": f"lr-{name}",
            }
            for name, opt in zip(self.optimizer_names(), optimizers)
        ]
        return optimizers, schedulers

    def _optimizers_by_name(self) -> dict[str, Any]:
        optimizers = self.optimizers()
        if not isinstance(optimizers, list):
            optimizers = [optimizers]
        return dict(zip(self.optimizer_names(), optimizers))

    def _grad_scaler(self) -> torch.amp.GradScaler | None:
        return getattr(self.trainer.precision_plugin, "scaler", None)

    def _clip_and_step_uncounted(self, optimizer: torch.optim.Optimizer) -> None:
        scaler = self._grad_scaler()
        if self.gradient_clip_val is not None:
            if scaler is not None:
                scaler.unscale_(optimizer)
            clip_gradients(optimizer, self.gradient_clip_val)
        step_uncounted(optimizer, scaler)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Only the generator's step goes through Lightning (gradients already unscaled here).
        if self.gradient_clip_val is not None:
            clip_gradients(optimizer, self.gradient_clip_val)

    # ---------------------------------------------------------------------------- steps
    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        generator_input, target = self.prepare_batch(batch)
        optimizers = self._optimizers_by_name()
        batches = self.accumulate_grad_batches
        steps = ends_accumulation(self.trainer, batch_idx, batches)
        prediction = self.generator(generator_input)
        self._check_prediction(prediction, target)
        logs: dict[str, torch.Tensor] = {}
        if self.discriminator is not None:
            logs.update(self._discriminator_step(generator_input, prediction, target, steps))

        # One stream per batch: (step, batch of the step); (step) alone without accumulation.
        patch_generator = self.step_random.generator(
            PATCH_STREAM,
            self.global_rank,
            self.global_step * batches + batch_idx % batches,
            prediction.device,
        )
        terms = self.generator_loss_terms(generator_input, prediction, target, patch_generator)
        total = sum(self.loss_weights[name] * value for name, value in terms.items())
        if batch_idx % batches == 0:  # the first batch of a step
            optimizers["generator"].zero_grad(set_to_none=True)
            if "critic" in optimizers:
                optimizers["critic"].zero_grad(set_to_none=True)
        with backward_sync(self.trainer.strategy, steps):
            self.manual_backward(total / batches if batches > 1 else total)
        if steps:
            if "critic" in optimizers:
                self._clip_and_step_uncounted(optimizers["critic"].optimizer)
            optimizers["generator"].step()  # counted: global_step += 1, scaler.update() once
            self._step_schedulers()

        logs.update({name: value.detach() for name, value in terms.items()})
        batch_size = target.shape[0]
        self.log_dict({f"train/{k}": v for k, v in logs.items()}, batch_size=batch_size)
        self.log("train/loss", total.detach(), prog_bar=True, batch_size=batch_size)
        return total.detach()

    def _step_schedulers(self) -> None:
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            scheduler.step()

    def _evaluate(self, batch: Any, batch_idx: int, stage: str) -> dict[str, torch.Tensor]:
        generator_input, target = self.prepare_batch(batch)
        prediction = self.generate(generator_input, target)
        self._check_prediction(prediction, target)
        prediction = prediction.float().clamp(-1, 1)
        target = target.float()
        batch_size = target.shape[0]
        self.log(
            f"{stage}/l1", F.l1_loss(prediction, target), batch_size=batch_size, sync_dist=True
        )
        if self.cfl is not None:
            # A fixed generator per batch: validation never consumes the global RNG.
            generator = torch.Generator().manual_seed(VALIDATION_CFL_SEED + batch_idx)
            value = self.cfl(prediction, target, generator=generator)
            self.log(f"{stage}/cfl", value, batch_size=batch_size, sync_dist=True)
            fixed = self.val_cfl_fixed_heads if stage == "val" else self.test_cfl_fixed_heads
            fixed.update(prediction, target)
            self.log(f"{stage}/cfl_fixed_heads", fixed, batch_size=batch_size)
        metrics = self.val_metrics if stage == "val" else self.test_metrics
        metrics.update(prediction, target)
        self.log_dict(metrics, batch_size=batch_size)
        return {
            "input": self.visualize_input(generator_input, target),
            "prediction": prediction,
            "target": target,
        }

    def validation_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        return self._evaluate(batch, batch_idx, "val")

    def test_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        return self._evaluate(batch, batch_idx, "test")

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        """Predictions at the inputs' own size, from inputs alone (targets are not used); see
        :meth:`NativePrediction.predict_step`."""
        return super().predict_step(batch, batch_idx, dataloader_idx)

    # ------------------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Adds the optimizer names, the run seed of the module's own random streams, and every
        rank's RNG and train-loader state (gathered: this hook runs on every rank)."""
        checkpoint["cfl_lightning"] = {
            "optimizers": self.optimizer_names(),
            "seed": self.step_random.resolve_seed(),
            "ranks": rank_state.gather_rank_states(checkpoint, self.device),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Checks the optimizer names and, when resuming a fit, restores this rank's RNG and
        train-loader state (see ``rank_state.restore_rank_state``)."""
        saved = checkpoint.get("cfl_lightning", {})
        trainer = self._trainer
        resuming_fit = trainer is not None and trainer.state.fn == "fit"
        if resuming_fit and "optimizers" in saved and saved["optimizers"] != self.optimizer_names():
            raise ValueError(
                f"ckpt_path: the checkpoint was trained with optimizers {saved['optimizers']} but "
                f"this configuration has {self.optimizer_names()}; optimizer states are restored "
                "by position, so resuming would mix them up. Use the same loss terms and "
                "discriminator, or start a new run initialised from the weights."
            )
        if "seed" in saved:
            self.step_random.seed = int(saved["seed"])
        if resuming_fit:
            resume_current_weights(checkpoint, trainer.callbacks)
            rank_state.restore_rank_state(
                checkpoint,
                trainer.world_size,
                trainer.global_rank,
                self.device,
                self.step_random.resolve_seed(),
            )
