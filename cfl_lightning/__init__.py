"""cfl_lightning: the contrastive feature loss for image prediction, with Lightning modules."""

from cfl_lightning.losses import ContrastiveFeatureLoss, PerceptualLoss, patch_nce

__version__ = "0.1.0"
__all__ = ["ContrastiveFeatureLoss", "PerceptualLoss", "__version__", "patch_nce"]
