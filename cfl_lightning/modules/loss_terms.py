"""The generator's loss terms: one entry per name that a module's ``losses`` mapping may use.

Adding a term is one entry in :data:`GENERATOR_TERMS`: its name, how its value is computed from a
:class:`TermInputs`, and what it needs (a loss module held by the LightningModule, or the
discriminator). The LightningModule validates ``losses`` against this table, builds the default
loss modules from it and sums ``weight * value`` over the active terms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from cfl_lightning.losses import ContrastiveFeatureLoss, PerceptualLoss, feature_matching_loss
from cfl_lightning.modules.adversarial import discriminate_pair
from cfl_lightning.modules.frozen_params import no_param_grads

if TYPE_CHECKING:
    from cfl_lightning.modules.image_prediction import ImagePredictionModule


@dataclass
class TermInputs:
    """What the terms of one generator step see. The discriminator's outputs on (prediction,
    target) are computed once, on first use, with the discriminator's parameters frozen."""

    module: ImagePredictionModule
    generator_input: torch.Tensor
    prediction: torch.Tensor
    target: torch.Tensor
    patch_generator: torch.Generator | None = None
    _adversarial: tuple[Any, Any] | None = field(default=None, repr=False)

    def discriminator_outputs(self) -> tuple[Any, Any]:
        """``(fake, real)`` discriminator outputs (per scale, per layer)."""
        if self._adversarial is None:
            module = self.module
            condition = module.discriminator_condition(self.generator_input, self.target)
            with no_param_grads(module.discriminator):
                self._adversarial = discriminate_pair(
                    module.discriminator, condition, self.prediction, self.target
                )
        return self._adversarial


@dataclass(frozen=True)
class LossTerm:
    """One term of the generator's loss.

    Attributes:
        compute: ``TermInputs -> scalar tensor`` (unweighted).
        loss_module: name of the LightningModule's attribute (and constructor argument) holding
            the loss module the term uses, or None.
        default_module: builds that module when the constructor gets None.
        needs_discriminator: the term uses the discriminator's outputs.
        description: how errors name the loss module.
    """

    compute: Callable[[TermInputs], torch.Tensor]
    loss_module: str | None = None
    default_module: Callable[[], nn.Module] | None = None
    needs_discriminator: bool = False
    description: str = ""


def _l1(inputs: TermInputs) -> torch.Tensor:
    return F.l1_loss(inputs.prediction.float(), inputs.target.float())


def _perceptual(inputs: TermInputs) -> torch.Tensor:
    return inputs.module.perceptual(inputs.prediction, inputs.target)


def _cfl(inputs: TermInputs) -> torch.Tensor:
    # Locations drawn outside the loss's forward (the same draw forward would make), so that a
    # compiled loss (compile_losses) has no random op inside its graph.
    cfl = inputs.module.cfl
    prediction = inputs.prediction
    locations = cfl.draw_locations(prediction.shape, inputs.patch_generator, prediction.device)
    return cfl(prediction, inputs.target, locations=locations)


def _gan(inputs: TermInputs) -> torch.Tensor:
    fake, _ = inputs.discriminator_outputs()
    return inputs.module.gan_loss.generator_loss(fake)


def _feature_matching(inputs: TermInputs) -> torch.Tensor:
    fake, real = inputs.discriminator_outputs()
    return feature_matching_loss(fake, real)


GENERATOR_TERMS: dict[str, LossTerm] = {
    "l1": LossTerm(_l1),
    "perceptual": LossTerm(_perceptual, "perceptual", PerceptualLoss, description="VGG loss"),
    "cfl": LossTerm(_cfl, "cfl", ContrastiveFeatureLoss, description="CFL"),
    "gan": LossTerm(_gan, needs_discriminator=True),
    "feature_matching": LossTerm(_feature_matching, needs_discriminator=True),
}
LOSS_TERMS = tuple(GENERATOR_TERMS)


def check_loss_weights(losses: dict[str, float]) -> dict[str, float]:
    """``losses`` as ``{name: float weight}``; raises ``ValueError`` for unknown names, negative
    weights or an empty mapping."""
    unknown = sorted(set(losses) - set(GENERATOR_TERMS))
    if unknown:
        raise ValueError(f"losses: unknown term(s) {unknown}; expected names from {LOSS_TERMS}")
    if not losses or any(float(w) < 0 for w in losses.values()):
        raise ValueError(
            f"losses: expected at least one term with a non-negative weight, got {losses}"
        )
    return {name: float(weight) for name, weight in losses.items()}


def resolve_loss_modules(
    weights: dict[str, float], given: dict[str, nn.Module | None]
) -> dict[str, nn.Module | None]:
    """The loss module of each term that uses one (``given`` by name, else its default when the
    term is active, else None). Raises ``ValueError`` for a module given without its term."""
    modules: dict[str, nn.Module | None] = {}
    for name, term in GENERATOR_TERMS.items():
        if term.loss_module is None:
            continue
        module = given.get(term.loss_module)
        if module is not None and name not in weights:
            raise ValueError(
                f"{term.loss_module}: a {term.description} module was given but {name!r} is not "
                "in losses; add the term or drop the module"
            )
        if module is None and name in weights and term.default_module is not None:
            module = term.default_module()
        modules[term.loss_module] = module
    return modules


def terms_needing_discriminator(weights: dict[str, float]) -> list[str]:
    """The active terms that use the discriminator."""
    return [name for name in weights if GENERATOR_TERMS[name].needs_discriminator]


def compute_terms(weights: dict[str, float], inputs: TermInputs) -> dict[str, torch.Tensor]:
    """Every active term's unweighted value, in the order of ``weights``."""
    return {name: GENERATOR_TERMS[name].compute(inputs) for name in weights}
