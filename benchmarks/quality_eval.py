"""Held-out evaluation of a trained module: quality metrics and the value of every loss.

Metrics, all computed by ``cfl_lightning.metrics.quality_metrics`` as in the modules' validation:
``patch_swd`` (PatchSWD in units of the targets' split-half distance, both sets normalised by the
targets' statistics: the primary realism metric, validated by ``metric_check.py``),
``patch_swd_per_set`` (x1000, Karras et al.'s per-set
normalisation, which barely sees blur or greyness: secondary, for comparison), SharpnessRatio,
ColorfulnessRatio, PSNR (dB, mean over images), SSIM. Loss values on the same predictions, with
extractors that are the same for every run (seeded ``EVAL_SEED``, independent of the run's own
losses): pixel L1, the VGG perceptual loss (random VGG19), and CFL with identity heads through
:class:`~cfl_lightning.metrics.FixedHeadsCFL`, as ``val/cfl_fixed_heads`` (no trained critic and
patch locations fixed by ``EVAL_SEED``, so the value is comparable between runs).
"""

from __future__ import annotations

import torch

from cfl_lightning.losses import PERCEPTUAL_LAYERS, PerceptualLoss
from cfl_lightning.metrics import FixedHeadsCFL, quality_metrics
from cfl_lightning.modules import ImagePredictionModule
from cfl_lightning.networks import DEFAULT_CFL_LAYERS, VGG19Features

METRICS = ("patch_swd", "patch_swd_per_set", "sharpness", "colorfulness", "psnr", "ssim")
SWD_METRICS = ("patch_swd", "patch_swd_per_set")
SWD_SCALES = {"patch_swd": 1.0, "patch_swd_per_set": 1000.0}  # per-set: x1000, as Karras et al.
# Bumped when a score changes meaning; runs saved with another version are not reused (2: patch_swd
# is reference-normalised, patch_swd_per_set is Karras', patch_swd_joint is gone; 3: loss_cfl_id
# through FixedHeadsCFL, patch locations fixed per image size instead of per batch; 4: patch_swd in
# split-half units, root mean square over levels).
EVAL_VERSION = 4
LOSS_VALUES = ("loss_l1", "loss_vgg", "loss_cfl_id")
EVAL_SEED = 1234


class HeldOutEvaluator:
    """Scores predictions against targets; one instance is reused for every run on a device.

    ``swd_repeats``: both PatchSWDs' ``num_repeats`` (default: the metric's, 4); 1 is 4x cheaper
    (the sort of every projected patch set dominates the evaluation on a CPU), noisier.
    """

    def __init__(self, device: torch.device, swd_repeats: int | None = None) -> None:
        self.device = device
        options = {}
        if swd_repeats is not None:
            options = {name: {"num_repeats": swd_repeats} for name in SWD_METRICS}
        self.metrics = quality_metrics(list(METRICS), options=options).to(device)
        vgg = VGG19Features(PERCEPTUAL_LAYERS, weights="random", seed=EVAL_SEED)
        self.perceptual = PerceptualLoss(extractor=vgg).to(device)
        self.cfl_identity = FixedHeadsCFL(
            extractor=vgg, layers=DEFAULT_CFL_LAYERS, seed=EVAL_SEED
        ).to(device)

    @torch.no_grad()
    def evaluate(
        self, module: ImagePredictionModule, loader: torch.utils.data.DataLoader, keep: int = 8
    ) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
        """Run ``module.generate`` on every batch of ``loader``.

        Returns ``(scores, samples)``: scores by name (``METRICS`` then ``LOSS_VALUES``), and
        ``"input"``, ``"prediction"`` and ``"target"`` images (CPU, ``[-1, 1]``) of ``keep`` items
        evenly spaced over the (unshuffled) loader.
        """
        module = module.to(self.device).eval()
        self.metrics.reset()
        self.cfl_identity.reset()
        sums = dict.fromkeys(("loss_l1", "loss_vgg"), 0.0)
        count = 0
        total = len(loader.dataset)  # type: ignore[arg-type]
        wanted = sorted({i * total // keep for i in range(min(keep, total))})
        samples: dict[str, list[torch.Tensor]] = {"input": [], "prediction": [], "target": []}
        for batch in loader:
            batch = module.transfer_batch_to_device(batch, self.device, 0)
            generator_input, target = module.prepare_batch(batch)
            prediction = module.generate(generator_input, target).float().clamp(-1, 1)
            target = target.float()
            self.metrics.update(prediction, target)
            n = target.shape[0]
            sums["loss_l1"] += n * (prediction - target).abs().mean().item()
            sums["loss_vgg"] += n * self.perceptual(prediction, target).item()
            self.cfl_identity.update(prediction, target)
            picked = [i - count for i in wanted if count <= i < count + n]
            if picked:
                shown = module.visualize_input(generator_input, target)
                samples["input"].append(shown[picked].cpu())
                samples["prediction"].append(prediction[picked].cpu())
                samples["target"].append(target[picked].cpu())
            count += n
        scores = {name: float(value) for name, value in self.metrics.compute().items()}
        for name in SWD_METRICS:
            scores[name] *= SWD_SCALES[name]
        scores.update({name: total / count for name, total in sums.items()})
        scores["loss_cfl_id"] = float(self.cfl_identity.compute())
        kept = {name: torch.cat(images) for name, images in samples.items()}
        return scores, kept
