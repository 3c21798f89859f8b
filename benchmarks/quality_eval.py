"""Held-out evaluation of a trained module: quality metrics and the value of every loss.

Metrics (``cfl_lightning.metrics``): PatchSWD (x1000, as Karras et al. report it; also with joint
normalisation, which unlike Karras' per-set one penalises blur), SharpnessRatio,
ColorfulnessRatio, PSNR (dB), SSIM. Loss values on the same predictions, with extractors that are
the same for every run (seeded ``EVAL_SEED``, independent of the run's own losses): pixel L1, the
VGG perceptual loss (random VGG19), and CFL with identity heads (no trained critic, so the value is
comparable between runs; fixed patch locations per batch).
"""

from __future__ import annotations

import torch

from cfl_lightning.losses import PERCEPTUAL_LAYERS, ContrastiveFeatureLoss, PerceptualLoss
from cfl_lightning.metrics import PatchSWD, quality_metrics
from cfl_lightning.modules import ImagePredictionModule
from cfl_lightning.networks import DEFAULT_CFL_LAYERS, VGG19Features

METRICS = ("patch_swd", "sharpness", "colorfulness", "psnr", "ssim")  # + "patch_swd_joint"
LOSS_VALUES = ("loss_l1", "loss_vgg", "loss_cfl_id")
EVAL_SEED = 1234
SWD_SCALE = 1000.0


class HeldOutEvaluator:
    """Scores predictions against targets; one instance is reused for every run on a device.

    ``swd_repeats``: PatchSWD's ``num_repeats`` (default: the metric's, 4); 1 is 4x cheaper (the
    sort of every projected patch set dominates the evaluation on a CPU) with a noisier value.
    """

    def __init__(self, device: torch.device, swd_repeats: int | None = None) -> None:
        self.device = device
        options = {} if swd_repeats is None else {"patch_swd": {"num_repeats": swd_repeats}}
        self.metrics = quality_metrics(list(METRICS), options=options).to(device)
        # Karras' per-set normalisation rescales each set's band energy away, so it barely sees
        # blur or greyness; joint normalisation (one statistic for both sets) does.
        self.swd_joint = PatchSWD(normalization="joint", num_repeats=1).to(device)
        vgg = VGG19Features(PERCEPTUAL_LAYERS, weights="random", seed=EVAL_SEED)
        self.perceptual = PerceptualLoss(extractor=vgg).to(device)
        self.cfl_identity = ContrastiveFeatureLoss(
            extractor=vgg, layers=DEFAULT_CFL_LAYERS, head="identity"
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
        self.swd_joint.reset()
        sums = dict.fromkeys(LOSS_VALUES, 0.0)
        count = 0
        total = len(loader.dataset)  # type: ignore[arg-type]
        wanted = sorted({i * total // keep for i in range(min(keep, total))})
        samples: dict[str, list[torch.Tensor]] = {"input": [], "prediction": [], "target": []}
        for batch_index, batch in enumerate(loader):
            batch = module.transfer_batch_to_device(batch, self.device, 0)
            generator_input, target = module.prepare_batch(batch)
            prediction = module.generate(generator_input, target).float().clamp(-1, 1)
            target = target.float()
            self.metrics.update(prediction, target)
            self.swd_joint.update(prediction, target)
            n = target.shape[0]
            locations = torch.Generator().manual_seed(EVAL_SEED + batch_index)
            sums["loss_l1"] += n * (prediction - target).abs().mean().item()
            sums["loss_vgg"] += n * self.perceptual(prediction, target).item()
            sums["loss_cfl_id"] += n * self.cfl_identity(prediction, target, locations).item()
            picked = [i - count for i in wanted if count <= i < count + n]
            if picked:
                shown = module.visualize_input(generator_input, target)
                samples["input"].append(shown[picked].cpu())
                samples["prediction"].append(prediction[picked].cpu())
                samples["target"].append(target[picked].cpu())
            count += n
        scores = {name: float(value) for name, value in self.metrics.compute().items()}
        scores["patch_swd"] *= SWD_SCALE
        scores["patch_swd_joint"] = float(self.swd_joint.compute()) * SWD_SCALE
        scores.update({name: total / count for name, total in sums.items()})
        kept = {name: torch.cat(images) for name, images in samples.items()}
        return scores, kept
