"""Real super-resolution pairs: low-resolution inputs and their high-resolution targets, as files
in two folders (e.g. DIV2K's ``DIV2K_train_LR_unknown/X4`` and ``DIV2K_train_HR``), instead of
inputs made by bicubic downscaling."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cfl_lightning.data.augment_random import AugmentationRandom, EpochAugmentedDataset
from cfl_lightning.data.base import ImageDataModule
from cfl_lightning.data.checks import (
    hold_out_split,
    index_by_key,
    require_folder,
    require_matches,
    require_nonempty,
)
from cfl_lightning.data.io import ImageFileError, read_image, to_unit_range
from cfl_lightning.data.paired_folder import PairedSample
from cfl_lightning.data.predict_inputs import PhotoInputs
from cfl_lightning.data.transforms import crop, hflip

LAYOUT = "low-resolution images in lr_dir and their high-resolution targets in hr_dir, same names"


@dataclass(frozen=True)
class SuperResolutionPairs:
    """What real pairs state about their task: the inputs are ``factor`` times smaller than the
    targets (the ``cfl`` command passes ``factor`` to the model's ``scale``). Nothing is degraded:
    the inputs are files."""

    factor: int
    input_channels: int = 3


def aligned_target(
    low: torch.Tensor, high: torch.Tensor, factor: int, sample: PairedSample
) -> torch.Tensor:
    """``high`` cut to exactly ``factor`` times ``low``'s size (from its top-left corner), as
    downscaling by an integer factor drops the last rows and columns; any other size is an
    error naming both files."""
    height, width = low.shape[-2:]
    if not (
        factor * height <= high.shape[-2] < factor * (height + 1)
        and factor * width <= high.shape[-1] < factor * (width + 1)
    ):
        raise ImageFileError(
            f"{sample.b}: target is {high.shape[-1]}x{high.shape[-2]} (width x height) but its "
            f"input {sample.a} is {width}x{height}; expected {factor} times the input's size "
            f"({factor * width}x{factor * height}, up to {factor - 1} more pixels)"
        )
    return high[..., : factor * height, : factor * width]


class PairedSuperResolutionDataset(EpochAugmentedDataset):
    """Items ``{"input": (3, c/s, c/s), "image": (3, c, c), "path"}`` in ``[-1, 1]`` (``c`` the
    crop size, ``s`` the factor): aligned crops of an input file and its target, random with a
    random horizontal flip when training (drawn per (seed, epoch, item)), centred otherwise.

    Args:
        samples: the files of each pair (``a`` the input, ``b`` the target).
        factor: the target's size over the input's.
        crop_size: side of the target's crop (a multiple of ``factor``).
        train: random crops and flips.
        flip: random horizontal flips when training.
        seed: seed of the training draws.
    """

    def __init__(
        self,
        samples: list[PairedSample],
        factor: int,
        crop_size: int,
        train: bool,
        flip: bool = True,
        seed: int = 0,
    ) -> None:
        self.samples = samples
        self.factor = factor
        self.crop_size = crop_size
        self.train = train
        self.flip = flip
        self.seed = seed

    def __len__(self) -> int:
        return len(self.samples)

    def get_item(self, index: int, random: AugmentationRandom) -> dict[str, Any]:
        sample = self.samples[index]
        assert sample.b is not None
        low = read_image(sample.a)
        high = aligned_target(low, read_image(sample.b), self.factor, sample)
        side = self.crop_size // self.factor
        height, width = low.shape[-2:]
        if height < side or width < side:
            raise ImageFileError(
                f"{sample.a}: input is {width}x{height} (width x height), smaller than the "
                f"{side}x{side} crop (crop_size {self.crop_size} / factor {self.factor})"
            )
        if self.train:
            top, left = random.randint(height - side + 1), random.randint(width - side + 1)
        else:
            top, left = (height - side) // 2, (width - side) // 2
        s = self.factor
        low = crop(low, (top, left, side, side))
        high = crop(high, (s * top, s * left, s * side, s * side))
        if self.train and self.flip and random.uniform() < 0.5:
            low, high = hflip(low), hflip(high)
        return {
            "input": to_unit_range(low.contiguous()),
            "image": to_unit_range(high.contiguous()),
            "path": str(sample.b),
        }


class PairedSuperResolutionDataModule(ImageDataModule):
    """Super-resolution from real pairs: inputs in ``lr_dir``, targets ``factor`` times larger in
    ``hr_dir``, matched by their path relative to the folder without extension and without
    ``lr_suffix`` (DIV2K names its x4 inputs ``0001x4.png``: ``lr_suffix="x4"``).

    Splits: with ``val_lr_dir``/``val_hr_dir`` those are ``"val"`` and ``"test"``; otherwise a
    fraction ``val_ratio`` of the pairs (drawn with ``split_seed``) is held out as both.
    ``degradation`` is :class:`SuperResolutionPairs` (the factor, for the model's ``scale``);
    ``predict`` reads the photos under ``predict_root`` as inputs, as they are.

    Args:
        lr_dir, hr_dir: folders of inputs and of targets.
        factor: the targets' size over the inputs' (targets up to ``factor - 1`` pixels larger
            are cut at the bottom and right); default 4.
        crop_size: side of the targets' square crops, a multiple of ``factor`` (inputs:
            ``crop_size / factor``); random at train, centred at val/test; default 128.
        lr_suffix: end of the inputs' file stems that the targets' lack; default "".
        val_lr_dir, val_hr_dir: validation folders, or None.
        val_ratio: held-out fraction without validation folders, in ``[0, 1)``; default 0.1.
        flip: random horizontal flips at train time; default True.
        **loader: :class:`ImageDataModule` arguments (``batch_size``, ``num_workers``, ``seed``,
            ``split_seed``, ...).
    """

    input_channels = 3

    def __init__(
        self,
        lr_dir: str | Path,
        hr_dir: str | Path,
        factor: int = 4,
        crop_size: int = 128,
        lr_suffix: str = "",
        val_lr_dir: str | Path | None = None,
        val_hr_dir: str | Path | None = None,
        val_ratio: float = 0.1,
        flip: bool = True,
        **loader: Any,
    ) -> None:
        super().__init__(**loader)
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 2:
            raise ValueError(f"factor: expected an integer >= 2, got {factor!r}")
        if crop_size < factor or crop_size % factor:
            raise ValueError(
                f"crop_size: expected a positive multiple of factor {factor}, got {crop_size}"
            )
        if (val_lr_dir is None) != (val_hr_dir is None):
            raise ValueError(
                f"val_lr_dir, val_hr_dir: expected both or neither, got {val_lr_dir!r} and "
                f"{val_hr_dir!r}"
            )
        if not 0 <= val_ratio < 1:
            raise ValueError(f"val_ratio: expected a number in [0, 1), got {val_ratio}")
        self.lr_dir, self.hr_dir = Path(lr_dir), Path(hr_dir)
        self.val_lr_dir = None if val_lr_dir is None else Path(val_lr_dir)
        self.val_hr_dir = None if val_hr_dir is None else Path(val_hr_dir)
        self.factor = factor
        self.crop_size = crop_size
        self.lr_suffix = lr_suffix
        self.val_ratio = val_ratio
        self.flip = flip
        self.degradation = SuperResolutionPairs(factor)
        self._split_samples: dict[str, list[PairedSample]] | None = None

    def _folder_samples(self, lr_dir: Path, hr_dir: Path, prefix: str) -> list[PairedSample]:
        require_folder(lr_dir, f"{prefix}lr_dir", LAYOUT)
        require_folder(hr_dir, f"{prefix}hr_dir", LAYOUT)
        inputs = index_by_key(lr_dir, self.lr_suffix)
        targets = index_by_key(hr_dir)
        require_nonempty(inputs, lr_dir, "images")
        keys = sorted(inputs)
        require_matches(keys, targets, inputs, "a target image", f"{prefix}hr_dir {hr_dir}")
        return [PairedSample(a=inputs[key], b=targets[key]) for key in keys]

    def samples(self, split: str) -> list[PairedSample]:
        """The pairs of ``split`` (``"train"``, ``"val"`` or ``"test"``), listed once."""
        if self._split_samples is None:
            train = self._folder_samples(self.lr_dir, self.hr_dir, "")
            if self.val_lr_dir is not None and self.val_hr_dir is not None:
                val = self._folder_samples(self.val_lr_dir, self.val_hr_dir, "val_")
            else:
                train, val = hold_out_split(train, self.val_ratio, self.split_seed)
            self._split_samples = {"train": train, "val": val, "test": val}
        return self._split_samples[split]

    def build_predict_dataset(self, root: Path) -> PhotoInputs:
        """The images under ``root`` as low-resolution inputs, unchanged."""
        return PhotoInputs(root)

    def build_dataset(self, split: str) -> PairedSuperResolutionDataset:
        return PairedSuperResolutionDataset(
            self.samples(split),
            self.factor,
            self.crop_size,
            train=split == "train",
            flip=self.flip,
            seed=self.seed,
        )
