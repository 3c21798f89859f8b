"""Image -> image pairs: pix2pix's side-by-side files, or two folders matched by name.

Items are dicts: ``"input"`` float32 ``(3, H, W)`` in ``[-1, 1]`` (the source), ``"image"``
float32 ``(3, H, W)`` in ``[-1, 1]`` (the target) and ``"path"`` (str). ``direction="AtoB"`` maps
A (the left half, or ``a_dir``) to B; ``"BtoA"`` the other way round. Both images get the same
resize, crop and flip.
"""

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
from cfl_lightning.data.io import ImageFileError, list_images, read_image, to_unit_range
from cfl_lightning.data.predict_inputs import PhotoInputs
from cfl_lightning.data.transforms import SpatialTransform, check_preprocess_args

DIRECTIONS = ("AtoB", "BtoA")
PAIRED_FOLDER_LAYOUT = "<root>/{train,val[,test]}/*.jpg|png with A and B side by side (A left)"


@dataclass(frozen=True)
class PairedSample:
    """Files of one pair: ``a`` holds A|B side by side when ``b`` is None."""

    a: Path
    b: Path | None = None


def split_side_by_side(image: torch.Tensor, path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """``(C, H, W)`` holding A|B -> ``(A, B)``, each ``W // 2`` wide (an odd last column is
    dropped)."""
    half = image.shape[-1] // 2
    if half == 0:
        raise ImageFileError(
            f"{path}: expected A and B side by side, got an image {image.shape[-1]} pixel wide"
        )
    return image[..., :half], image[..., half : 2 * half]


class PairedImageDataset(EpochAugmentedDataset):
    """Image pairs with a shared spatial transform (random crops and flips at train time drawn
    per (seed, epoch, item), see ``EpochAugmentedDataset``).

    Args:
        samples: the files of each pair.
        direction: ``"AtoB"`` (input A, target B) or ``"BtoA"``.
        transform: the spatial transform (train: random crop/flip; eval: centre crop).
        seed: seed of the training augmentations (see ``AugmentationRandom``); default 0.
    """

    def __init__(
        self,
        samples: list[PairedSample],
        direction: str,
        transform: SpatialTransform,
        seed: int = 0,
    ) -> None:
        check_direction(direction)
        self.samples = samples
        self.direction = direction
        self.transform = transform
        self.seed = seed

    def __len__(self) -> int:
        return len(self.samples)

    def load_pair(self, sample: PairedSample) -> tuple[torch.Tensor, torch.Tensor]:
        """A and B as uint8 ``(3, H, W)``, checked to have one size."""
        if sample.b is None:
            return split_side_by_side(read_image(sample.a), sample.a)
        a, b = read_image(sample.a), read_image(sample.b)
        if a.shape != b.shape:
            raise ImageFileError(
                f"{sample.b}: image is {b.shape[-1]}x{b.shape[-2]} (width x height) but its pair "
                f"{sample.a} is {a.shape[-1]}x{a.shape[-2]}"
            )
        return a, b

    def get_item(self, index: int, random: AugmentationRandom) -> dict[str, Any]:
        sample = self.samples[index]
        a, b = self.load_pair(sample)
        source, target = (a, b) if self.direction == "AtoB" else (b, a)
        params = self.transform.draw(a.shape[-2], a.shape[-1], random)
        return {
            "input": to_unit_range(self.transform.apply_image(source, params)),
            "image": to_unit_range(self.transform.apply_image(target, params)),
            "path": str(sample.a),
        }


def check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction: expected one of {DIRECTIONS}, got {direction!r}")


class _PairedDataModule(ImageDataModule):
    """Shared settings of the paired DataModules; subclasses implement :meth:`samples`."""

    input_channels = 3

    def __init__(
        self,
        direction: str,
        preprocess: str,
        load_size: int,
        crop_size: int,
        aspect_ratio: float,
        flip: bool,
        **loader: Any,
    ) -> None:
        super().__init__(**loader)
        check_direction(direction)
        check_preprocess_args(preprocess, load_size, crop_size, aspect_ratio)
        self.direction = direction
        self.preprocess = preprocess
        self.load_size = load_size
        self.crop_size = crop_size
        self.aspect_ratio = aspect_ratio
        self.flip = flip

    def samples(self, split: str) -> list[PairedSample]:
        raise NotImplementedError

    def build_predict_dataset(self, root: Path) -> PhotoInputs:
        """Input-side images (A for ``"AtoB"``, B for ``"BtoA"``) under ``root``."""
        return PhotoInputs(root)

    def build_dataset(self, split: str) -> PairedImageDataset:
        transform = SpatialTransform(
            preprocess=self.preprocess,
            load_size=self.load_size,
            crop_size=self.crop_size,
            aspect_ratio=self.aspect_ratio,
            flip=self.flip,
            train=split == "train",
        )
        return PairedImageDataset(self.samples(split), self.direction, transform, seed=self.seed)


class PairedFolderDataModule(_PairedDataModule):
    """pix2pix's aligned layout: ``<root>/<split>/*.jpg|png``, each file A|B side by side.

    Splits: ``"train"`` and ``"val"`` read the folders of the same name; ``"test"`` reads
    ``<root>/test`` when it exists, else ``<root>/val``. pix2pix's defaults:
    ``"resize_and_crop"`` to 286 then a 256 crop, random flips when training.

    Args:
        root: the folder holding ``train``, ``val`` (and ``test``).
        direction: ``"AtoB"`` (input: left half) or ``"BtoA"`` (input: right half).
        preprocess, load_size, crop_size, aspect_ratio, flip: see
            :class:`~cfl_lightning.data.transforms.SpatialTransform` (sizes of one half).
        batch_size, num_workers, pin_memory, persistent_workers, multiprocessing_context, seed,
            split_seed, predict_split: see
            :class:`~cfl_lightning.data.base.ImageDataModule`.
    """

    def __init__(
        self,
        root: str | Path,
        direction: str = "AtoB",
        preprocess: str = "resize_and_crop",
        load_size: int = 286,
        crop_size: int = 256,
        aspect_ratio: float = 1.0,
        flip: bool = True,
        **loader: Any,
    ) -> None:
        super().__init__(
            direction=direction,
            preprocess=preprocess,
            load_size=load_size,
            crop_size=crop_size,
            aspect_ratio=aspect_ratio,
            flip=flip,
            **loader,
        )
        self.root = Path(root)

    def samples(self, split: str) -> list[PairedSample]:
        require_folder(self.root, "root", PAIRED_FOLDER_LAYOUT)
        folder = self.root / split
        if split == "test" and not folder.is_dir():
            folder = self.root / "val"
        require_folder(folder, "root", PAIRED_FOLDER_LAYOUT)
        files = list_images(folder)
        require_nonempty(files, folder, "images")
        return [PairedSample(a=path) for path in files]


class PairedTwoFolderDataModule(_PairedDataModule):
    """Pairs from two folders, A in ``a_dir`` and B in ``b_dir``, matched by their path relative
    to the folder without extension (the file stem for flat folders).

    Splits: with ``val_a_dir``/``val_b_dir`` those are ``"val"`` and ``"test"``; otherwise a
    fraction ``val_ratio`` of the pairs (drawn with ``split_seed``, at least one when
    ``val_ratio > 0``) is held out as ``"val"`` and ``"test"``.

    Args:
        a_dir, b_dir: folders of A and B images.
        val_a_dir, val_b_dir: validation folders, or None.
        val_ratio: held-out fraction without validation folders, in ``[0, 1)``; default 0.1.
        direction: ``"AtoB"`` (input from ``a_dir``) or ``"BtoA"``.
        preprocess, load_size, crop_size, aspect_ratio, flip: see
            :class:`~cfl_lightning.data.transforms.SpatialTransform` (default
            ``"resize_and_crop"`` 286 -> 256 with flips).
        batch_size, num_workers, pin_memory, persistent_workers, multiprocessing_context, seed,
            split_seed, predict_split: see
            :class:`~cfl_lightning.data.base.ImageDataModule`.
    """

    def __init__(
        self,
        a_dir: str | Path,
        b_dir: str | Path,
        val_a_dir: str | Path | None = None,
        val_b_dir: str | Path | None = None,
        val_ratio: float = 0.1,
        direction: str = "AtoB",
        preprocess: str = "resize_and_crop",
        load_size: int = 286,
        crop_size: int = 256,
        aspect_ratio: float = 1.0,
        flip: bool = True,
        **loader: Any,
    ) -> None:
        super().__init__(
            direction=direction,
            preprocess=preprocess,
            load_size=load_size,
            crop_size=crop_size,
            aspect_ratio=aspect_ratio,
            flip=flip,
            **loader,
        )
        if (val_a_dir is None) != (val_b_dir is None):
            raise ValueError(
                f"val_a_dir, val_b_dir: expected both or neither, got {val_a_dir!r} and "
                f"{val_b_dir!r}"
            )
        if not 0 <= val_ratio < 1:
            raise ValueError(f"val_ratio: expected a number in [0, 1), got {val_ratio}")
        self.a_dir = Path(a_dir)
        self.b_dir = Path(b_dir)
        self.val_a_dir = None if val_a_dir is None else Path(val_a_dir)
        self.val_b_dir = None if val_b_dir is None else Path(val_b_dir)
        self.val_ratio = val_ratio
        self._split_samples: dict[str, list[PairedSample]] | None = None

    @staticmethod
    def _folder_samples(a_dir: Path, b_dir: Path, prefix: str) -> list[PairedSample]:
        layout = "A images and B images with the same names"
        require_folder(a_dir, f"{prefix}a_dir", layout)
        require_folder(b_dir, f"{prefix}b_dir", layout)
        a_files, b_files = index_by_key(a_dir), index_by_key(b_dir)
        require_nonempty(a_files, a_dir, "images")
        keys = sorted(a_files)
        require_matches(keys, b_files, a_files, "a B image", f"{prefix}b_dir {b_dir}")
        return [PairedSample(a=a_files[key], b=b_files[key]) for key in keys]

    def _splits(self) -> dict[str, list[PairedSample]]:
        if self._split_samples is None:
            train = self._folder_samples(self.a_dir, self.b_dir, "")
            if self.val_a_dir is not None and self.val_b_dir is not None:
                val = self._folder_samples(self.val_a_dir, self.val_b_dir, "val_")
            else:
                train, val = hold_out_split(train, self.val_ratio, self.split_seed)
            self._split_samples = {"train": train, "val": val, "test": val}
        return self._split_samples

    def samples(self, split: str) -> list[PairedSample]:
        return self._splits()[split]
