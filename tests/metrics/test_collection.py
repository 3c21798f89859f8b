import warnings

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from cfl_lightning.metrics import QUALITY_METRICS, PatchSWD, quality_metrics


def test_weights_free_metrics_values(textures):
    metrics = quality_metrics(
        ["psnr", "ssim", "patch_swd", "sharpness", "colorfulness"],
        options={"patch_swd": {"num_projections": 16, "num_repeats": 1}},
        prefix="val/",
    )
    assert isinstance(metrics["patch_swd"], PatchSWD) and metrics["patch_swd"].num_projections == 16
    preds, target = textures(4, seed=0), textures(4, seed=1)
    metrics.update(preds[:2], target[:2])
    metrics.update(preds[2:], target[2:])
    values = metrics.compute()
    assert set(values) == {
        "val/psnr", "val/ssim", "val/patch_swd", "val/sharpness", "val/colorfulness"
    }  # fmt: skip
    unit_preds, unit_target = (preds + 1) / 2, (target + 1) / 2
    per_image_psnr = PeakSignalNoiseRatio(data_range=1.0, reduction="none", dim=(1, 2, 3))
    torch.testing.assert_close(
        values["val/psnr"], per_image_psnr(unit_preds, unit_target).mean()
    )  # mean of per-image PSNR on [0, 1] images
    ssim = StructuralSimilarityIndexMeasure(data_range=1.0)(unit_preds, unit_target)
    torch.testing.assert_close(values["val/ssim"], ssim)
    assert all(torch.isfinite(v) for v in values.values())


def test_pretrained_metrics_offline_warn_and_give_nan(offline_hub, textures):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metrics = quality_metrics(list(QUALITY_METRICS))
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert [m.split(":")[0] for m in messages] == ["FID", "KID", "LPIPS"]
    x = textures(2)
    metrics.update(x, x.flip(-1))
    values = metrics.compute()
    assert all(torch.isnan(values[name]) for name in ("fid", "kid", "lpips"))
    assert all(torch.isfinite(values[name]) for name in ("psnr", "patch_swd", "sharpness"))


class ListsMetrics(pl.LightningModule):
    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.net = nn.Conv2d(3, 3, 3, padding=1)
        self.metrics = quality_metrics(names, prefix="val/")

    def validation_step(self, batch, batch_idx):
        (target,) = batch
        self.metrics.update(torch.tanh(self.net(target)), target)
        self.log_dict(self.metrics)


def test_lightning_validation_goes_on_without_weights(offline_hub, textures):
    with pytest.warns(UserWarning, match="FID: the Inception-v3 weights are not available"):
        module = ListsMetrics(["fid", "sharpness"])
    checkpoint_keys = set(module.state_dict())
    assert checkpoint_keys == {"net.weight", "net.bias"}
    trainer = pl.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    loader = DataLoader(TensorDataset(textures(4)), batch_size=2)
    (logged,) = trainer.validate(module, loader, verbose=False)
    assert torch.isnan(torch.tensor(logged["val/fid"]))
    assert 0 < logged["val/sharpness"] < 10


def test_errors():
    with pytest.raises(ValueError, match=r"names: unknown metric\(s\) \['fsim'\]"):
        quality_metrics(["psnr", "fsim"])
    with pytest.raises(ValueError, match=r"names: each metric at most once, got \['psnr'\]"):
        quality_metrics(["psnr", "psnr"])
    with pytest.raises(ValueError, match=r"options: given for \['ssim'\], which are not in names"):
        quality_metrics(["psnr"], options={"ssim": {}})


def test_patch_swd_names_fix_the_normalisation(textures):
    small = {"num_projections": 16, "num_repeats": 1, "patches_per_image": 32}
    metrics = quality_metrics(
        ["patch_swd", "patch_swd_per_set"],
        options={"patch_swd": small, "patch_swd_per_set": small},
    )
    preds, target = textures(3, seed=0) * 0.5, textures(3, seed=1)
    values = metrics(preds, target)
    settings = (("patch_swd", "reference", "split_half"), ("patch_swd_per_set", "per_set", "none"))
    for name, normalization, calibration in settings:
        assert (metrics[name].normalization, metrics[name].calibration) == (
            normalization,
            calibration,
        )
        alone = PatchSWD(normalization=normalization, calibration=calibration, **small)
        alone.update(preds, target)
        torch.testing.assert_close(values[name], alone.compute())
    with pytest.raises(ValueError, match=r"'patch_swd_per_set' is PatchSWD with normaliz"):
        quality_metrics(
            ["patch_swd_per_set"], options={"patch_swd_per_set": {"normalization": "joint"}}
        )
    with pytest.raises(ValueError, match=r"'patch_swd' is PatchSWD with calibration='split_half'"):
        quality_metrics(["patch_swd"], options={"patch_swd": {"calibration": "none"}})
