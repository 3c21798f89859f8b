"""Losses: PatchNCE, the contrastive feature loss, and the baselines it is compared with."""

from torch.nn import L1Loss
from torch.nn.functional import l1_loss

from cfl_lightning.losses.contrastive_feature import (
    CRITIC_OBJECTIVES,
    ContrastiveFeatureLoss,
    sample_locations,
    sample_patch_locations,
)
from cfl_lightning.losses.gan import GAN_MODES, GANLoss, feature_matching_loss
from cfl_lightning.losses.patch_nce import (
    QUERY_NEGATIVES,
    PatchNCELoss,
    paired_patch_nce,
    patch_nce,
)
from cfl_lightning.losses.perceptual import PERCEPTUAL_LAYERS, PERCEPTUAL_WEIGHTS, PerceptualLoss

__all__ = [
    "CRITIC_OBJECTIVES",
    "GAN_MODES",
    "PERCEPTUAL_LAYERS",
    "PERCEPTUAL_WEIGHTS",
    "QUERY_NEGATIVES",
    "ContrastiveFeatureLoss",
    "GANLoss",
    "L1Loss",
    "PatchNCELoss",
    "PerceptualLoss",
    "feature_matching_loss",
    "l1_loss",
    "paired_patch_nce",
    "patch_nce",
    "sample_locations",
    "sample_patch_locations",
]
