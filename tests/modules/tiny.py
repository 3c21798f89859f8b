"""Tiny models, data and trainers for the module tests (CPU, 32x32)."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import Dataset

from cfl_lightning.data.augment_random import AugmentationRandom, EpochAugmentedDataset
from cfl_lightning.data.base import ImageDataModule
from cfl_lightning.losses import ContrastiveFeatureLoss, PerceptualLoss
from cfl_lightning.modules import ImagePredictionModule
from cfl_lightning.networks import VGG19Features
from cfl_lightning.networks.discriminator import MultiscaleDiscriminator


class RandomPairs(Dataset):
    """Deterministic (input, image) pairs: item i is the same on every call."""

    def __init__(self, size: int = 8, image_size: int = 32, offset: int = 0) -> None:
        self.size, self.image_size, self.offset = size, image_size, offset

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict:
        g = torch.Generator().manual_seed(self.offset + index)
        image = torch.rand(3, self.image_size, self.image_size, generator=g) * 2 - 1
        return {"input": image.flip(0) * 0.5, "image": image, "path": f"pair_{index:03d}.png"}


class RandomPairsDataModule(ImageDataModule):
    def __init__(self, size: int = 8, image_size: int = 32, **kwargs) -> None:
        super().__init__(**kwargs)
        self.size, self.image_size = size, image_size

    def build_dataset(self, split: str) -> Dataset:
        offset = {"train": 0, "val": 1000, "test": 2000}[split]
        return RandomPairs(self.size if split == "train" else 4, self.image_size, offset)


class AugmentedPairs(EpochAugmentedDataset):
    """Item i: a fixed 40x40 random image (from i alone); training items are a random 32x32 crop,
    randomly flipped, with input = crop + random noise, all drawn from the item's stream; other
    items are the centre crop with input = crop."""

    def __init__(self, size: int, seed: int = 0, train: bool = True, offset: int = 0) -> None:
        self.size, self.seed, self.train, self.offset = size, seed, train, offset

    def __len__(self) -> int:
        return self.size

    def get_item(self, index: int, random: AugmentationRandom) -> dict:
        g = torch.Generator().manual_seed(self.offset + index)
        full = torch.rand(3, 40, 40, generator=g) * 2 - 1
        if not self.train:
            crop = full[:, 4:36, 4:36]
            return {"input": crop.flip(0), "image": crop, "path": f"item_{index:03d}.png"}
        top, left = random.randint(9), random.randint(9)
        crop = full[:, top : top + 32, left : left + 32]
        if random.uniform() < 0.5:
            crop = crop.flip(-1)
        noise = 0.1 * torch.randn(3, 32, 32, generator=random.generator)
        return {"input": (crop + noise).flip(0), "image": crop, "path": f"item_{index:03d}.png"}


class AugmentedPairsDataModule(ImageDataModule):
    def __init__(self, size: int = 8, **kwargs) -> None:
        super().__init__(**kwargs)
        self.size = size

    def build_dataset(self, split: str) -> Dataset:
        if split == "train":
            return AugmentedPairs(self.size, self.seed, train=True)
        return AugmentedPairs(4, self.seed, train=False, offset=1000)


def tiny_generator(in_channels: int = 3, dropout: float = 0.0) -> nn.Module:
    layers = [nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))  # draws from the global RNG at every step
    return nn.Sequential(*layers, nn.Conv2d(8, 3, 3, padding=1), nn.Tanh())


def tiny_cfl(**kwargs) -> ContrastiveFeatureLoss:
    extractor = VGG19Features(layers=("relu1_1", "relu2_1"), weights="random")
    return ContrastiveFeatureLoss(extractor=extractor, num_patches=32, **kwargs)


def tiny_perceptual() -> PerceptualLoss:
    return PerceptualLoss(weights="random", layers=("relu1_1", "relu2_1"), layer_weights=(0.5, 1.0))


def tiny_discriminator(in_channels: int = 6) -> nn.Module:
    return MultiscaleDiscriminator(in_channels, ndf=8, n_layers=2, num_scales=2)


def make_module(
    terms: dict[str, float], module_class=ImagePredictionModule, dropout: float = 0.0, **kwargs
):
    torch.manual_seed(0)
    parts = {}
    if "cfl" in terms:
        parts["cfl"] = tiny_cfl()
    if "perceptual" in terms:
        parts["perceptual"] = tiny_perceptual()
    if "gan" in terms:
        parts["discriminator"] = tiny_discriminator()
    kwargs = {"metrics": ("psnr",), **kwargs}
    return module_class(tiny_generator(dropout=dropout), losses=terms, **parts, **kwargs)


def make_trainer(tmp_path=None, **kwargs) -> pl.Trainer:
    settings = {
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "limit_val_batches": 0,
        "deterministic": True,
    }
    if tmp_path is not None:
        settings["default_root_dir"] = str(tmp_path)
    settings.update(kwargs)
    return pl.Trainer(**settings)


def assert_same_optimizer_states(a: pl.Trainer, b: pl.Trainer) -> None:
    """Every optimizer state of trainer ``a`` equals ``b``'s exactly (same order, same keys)."""
    for opt_a, opt_b in zip(a.optimizers, b.optimizers, strict=True):
        state_a, state_b = opt_a.state_dict()["state"], opt_b.state_dict()["state"]
        assert state_a.keys() == state_b.keys()
        for index in state_a:
            for key, value in state_a[index].items():
                torch.testing.assert_close(value, state_b[index][key], rtol=0, atol=0)
