import numpy as np
import pytest
import torch
from PIL import Image

from cfl_lightning.data.augment_random import ItemKey
from cfl_lightning.data.checks import DatasetError
from cfl_lightning.data.io import ImageFileError, read_image
from cfl_lightning.data.paired_super_resolution import PairedSuperResolutionDataModule

FACTOR = 4


def block_mean(high: np.ndarray, factor: int = FACTOR) -> np.ndarray:
    """``(H, W, 3)`` -> ``(H / f, W / f, 3)`` uint8, each pixel the rounded mean of its block."""
    h, w = high.shape[0] // factor, high.shape[1] // factor
    blocks = high[: h * factor, : w * factor].reshape(h, factor, w, factor, 3).astype(np.float64)
    return np.rint(blocks.mean(axis=(1, 3))).astype(np.uint8)


def write_pairs(root, sizes, extra=(0, 0), suffix="x4", factor=FACTOR):
    """Targets of ``sizes`` (height, width) and their block-mean inputs named ``<stem><suffix>``;
    the last target ``extra`` pixels larger (bottom, right)."""
    (root / "hr").mkdir(parents=True)
    (root / "lr").mkdir(parents=True)
    for i, (h, w) in enumerate(sizes):
        high = np.random.default_rng(i).integers(0, 256, (h, w, 3), dtype=np.uint8)
        if i == len(sizes) - 1 and extra != (0, 0):
            padded = np.random.default_rng(99).integers(0, 256, (h + extra[0], w + extra[1], 3))
            padded[:h, :w] = high
            Image.fromarray(padded.astype(np.uint8)).save(root / "hr" / f"{i:04d}.png")
        else:
            Image.fromarray(high).save(root / "hr" / f"{i:04d}.png")
        Image.fromarray(block_mean(high, factor)).save(root / "lr" / f"{i:04d}{suffix}.png")


def module(root, **kwargs):
    settings = {"factor": FACTOR, "crop_size": 16, "lr_suffix": "x4", "val_ratio": 0.25, **kwargs}
    return PairedSuperResolutionDataModule(root / "lr", root / "hr", **settings)


def as_uint8(image: torch.Tensor) -> np.ndarray:
    return ((image + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()


def test_crops_of_input_and_target_stay_aligned(tmp_path):
    write_pairs(tmp_path, [(40, 56), (48, 32), (36, 44), (40, 40)], extra=(3, 2))
    data = module(tmp_path)
    train = data.build_dataset("train")
    assert len(train) == 3 and len(data.build_dataset("val")) == 1
    positions = set()
    for index in range(len(train)):
        for epoch in range(6):
            item = train[ItemKey(index, epoch)]
            assert item["input"].shape == (3, 4, 4) and item["image"].shape == (3, 16, 16)
            # the input crop is the block mean of the target crop: same place, same flip
            assert np.array_equal(as_uint8(item["input"]), block_mean(as_uint8(item["image"])))
            positions.add(item["image"][:, 0, 0].sum().item())
    assert len(positions) > 6  # the crops move between epochs


def test_evaluation_crops_the_centre_and_cuts_larger_targets(tmp_path):
    write_pairs(tmp_path, [(40, 56), (44, 48)], extra=(3, 2))  # the second target is 47x50
    data = module(tmp_path, val_ratio=0.0, val_lr_dir=tmp_path / "lr", val_hr_dir=tmp_path / "hr")
    item = data.build_dataset("val")[1]
    high = read_image(tmp_path / "hr" / "0001.png")
    assert tuple(high.shape[-2:]) == (47, 50)
    # input 11x12: centre 4x4 crop at (3, 4); target crop at (12, 16)
    expected = high[:, 12:28, 16:32].float() / 127.5 - 1
    assert torch.equal(item["image"], expected)


def test_sizes_that_do_not_match_the_factor_are_named(tmp_path):
    write_pairs(tmp_path, [(40, 40)], extra=(4, 0))  # one row of input too many
    with pytest.raises(ImageFileError, match=r"0000\.png: target is 40x44 .* expected 4 times"):
        module(tmp_path, val_ratio=0.0).build_dataset("train")[0]
    small = tmp_path / "small"
    write_pairs(small, [(12, 40)])
    with pytest.raises(ImageFileError, match=r"input is 10x3 .* smaller than the 4x4 crop"):
        module(small, val_ratio=0.0).build_dataset("train")[0]


def test_missing_targets_and_bad_settings_are_refused(tmp_path):
    write_pairs(tmp_path, [(16, 16), (16, 16)])
    (tmp_path / "hr" / "0001.png").unlink()
    with pytest.raises(DatasetError, match=r"1 image\(s\) without a target image in hr_dir"):
        module(tmp_path).samples("train")
    with pytest.raises(DatasetError, match="no images found"):
        module(tmp_path, lr_suffix="x2").samples("train")
    with pytest.raises(ValueError, match="crop_size: expected a positive multiple of factor 4"):
        module(tmp_path, crop_size=18)
    with pytest.raises(ValueError, match="factor: expected an integer >= 2, got 1"):
        module(tmp_path, factor=1)


def test_the_cfl_command_takes_the_model_scale_from_the_pairs(tmp_path, monkeypatch):
    from cfl_lightning.cli import build_cli

    write_pairs(tmp_path, [(32, 32)] * 4, suffix="x2", factor=2)
    monkeypatch.chdir(tmp_path)
    args = [
        "--model=cfl_lightning.modules.SuperResolutionModule",
        "--model.losses={l1: 1.0}",
        "--model.metrics=[psnr]",
        "--data=cfl_lightning.data.PairedSuperResolutionDataModule",
        f"--data.lr_dir={tmp_path / 'lr'}",
        f"--data.hr_dir={tmp_path / 'hr'}",
        "--data.factor=2",
        "--data.lr_suffix=x2",
        "--data.crop_size=16",
        "--data.batch_size=2",
        "--trainer.max_steps=1",
        "--trainer.limit_val_batches=0",
        "--trainer.num_sanity_val_steps=0",
        "--trainer.logger=false",
        "--trainer.enable_checkpointing=false",
        "--trainer.enable_progress_bar=false",
        "--trainer.accelerator=cpu",
    ]
    cli = build_cli(args, run=False)
    assert cli.model.scale == 2
    cli.trainer.fit(cli.model, cli.datamodule)
    assert cli.trainer.global_step == 1
