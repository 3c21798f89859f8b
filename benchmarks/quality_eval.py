"""Held-out evaluation of a trained module: quality metrics and the value of every loss.

Metrics (``cfl_lightning.metrics``): PatchSWD (x1000, as Karras et al. report it), SharpnessRatio,
ColorfulnessRatio, PSNR (dB), SSIM. Loss values on the same predictions, with extractors that are
the same for every run (seeded ``EVAL_SEED``, independent of the run's own losses): pixel L1, the
VGG perceptual loss (random VGG19), and CFL with identity heads (no trained critic, so the value is
comparable between runs; fixed patch locations per batch).
"""

from __future__ import annotations

import torch

from cfl_lightning.losses import PERCEPTUAL_LAYERS, ContrastiveFeatureLoss, PerceptualLoss
from cfl_lightning.metrics import quality_metrics
from cfl_lightning.modules import ImagePredictionModule
from cfl_lightning.networks import DEFAULT_CFL_LAYERS, VGG19Features

METRICS = ("patch_swd", "sharpness", "colorfulness", "psnr", "ssim")
LOSS_VALUES = ("loss_l1", "loss_vgg", "loss_cfl_id")
EVAL_SEED = 1234
SWD_SCALE = 1000.0


class HeldOutEvaluator:
    """Scores predictions against targets; one instance is reused for every run on a device."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.metrics = quality_metrics(list(METRICS)).to(device)
        perceptual_vgg = VGG19Features(PERCEPTUAL_LAYERS, weights="random", seed=EVAL_SEED)
        self.perceptual = PerceptualLoss(extractor=perceptual_vgg).to(device)
        cfl_vgg = VGG19Features(DEFAULT_CFL_LAYERS, weights="random", seed=EVAL_SEED)
        self.cfl_identity = ContrastiveFeatureLoss(extractor=cfl_vgg, head="identity").to(device)

    @torch.no_grad()
    def evaluate(
        self, module: ImagePredictionModule, loader: torch.utils.data.DataLoader, keep: int = 8
    ) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
        """Run ``module.generate`` on every batch of ``loader``.

        Returns ``(scores, samples)``: scores by name (``METRICS`` then ``LOSS_VALUES``), and the
        first ``keep`` ``"input"``, ``"prediction"`` and ``"target"`` images (CPU, ``[-1, 1]``).
        """
        module = module.to(self.device).eval()
        self.metrics.reset()
        sums = dict.fromkeys(LOSS_VALUES, 0.0)
        count = 0
        samples: dict[str, list[torch.Tensor]] = {"input": [], "prediction": [], "target": []}
        for batch_index, batch in enumerate(loader):
            batch = module.transfer_batch_to_device(batch, self.device, 0)
            generator_input, target = module.prepare_batch(batch)
            prediction = module.generate(generator_input, target).float().clamp(-1, 1)
            target = target.float()
            self.metrics.update(prediction, target)
            n = target.shape[0]
            locations = torch.Generator().manual_seed(EVAL_SEED + batch_index)
            sums["loss_l1"] += n * (prediction - target).abs().mean().item()
            sums["loss_vgg"] += n * self.perceptual(prediction, target).item()
            sums["loss_cfl_id"] += n * self.cfl_identity(prediction, target, locations).item()
            count += n
            if sum(len(t) for t in samples["target"]) < keep:
                samples["input"].append(module.visualize_input(generator_input, target).cpu())
                samples["prediction"].append(prediction.cpu())
                samples["target"].append(target.cpu())
        scores = {name: float(value) for name, value in self.metrics.compute().items()}
        scores["patch_swd"] *= SWD_SCALE
        scores.update({name: total / count for name, total in sums.items()})
        kept = {name: torch.cat(images)[:keep] for name, images in samples.items()}
        return scores, kept
