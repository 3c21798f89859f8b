"""ADE20K (SceneParsing challenge release) as label map -> image pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from cfl_lightning.data.checks import index_by_key, require_folder, require_nonempty
from cfl_lightning.data.label_image import (
    LabelImageDataModule,
    LabelImageSample,
    LabelTransform,
    pair_samples,
)

ADE20K_LAYOUT = (
    "<root>/ADEChallengeData2016/images/{training,validation}/*.jpg with "
    "<root>/ADEChallengeData2016/annotations/{training,validation}/*.png"
)
ADE20K_DONTCARE = 255
_FOLDERS = {"train": "training", "val": "validation", "test": "validation"}


def ade20k_label_ids(raw: torch.Tensor) -> torch.Tensor:
    """ADE20K annotation values -> class ids: 0 ("other") -> 255 (don't care), ``k`` -> ``k - 1``
    for ``k = 1 .. 150``."""
    return torch.where(raw == 0, torch.full_like(raw, ADE20K_DONTCARE), raw - 1)


class ADE20KDataModule(LabelImageDataModule):
    """ADE20K: 150 classes (``num_classes=150``) and the don't-care id 255 for the annotation
    value 0 ("other"); no instance maps.

    Splits: ``"train"`` reads ``training``; ``"val"`` and ``"test"`` read ``validation`` (the
    challenge's test annotations are not public). SPADE's defaults: ``"resize_and_crop"`` to 286
    then a 256 crop, random flips when training.

    Args:
        root: the folder holding ``ADEChallengeData2016`` (or that folder itself).
        preprocess, load_size, crop_size, aspect_ratio, flip: see
            :class:`~cfl_lightning.data.transforms.SpatialTransform`.
        batch_size, num_workers, pin_memory, persistent_workers, multiprocessing_context, seed,
            split_seed, predict_split: see
            :class:`~cfl_lightning.data.base.ImageDataModule`.
    """

    def __init__(
        self,
        root: str | Path,
        preprocess: str = "resize_and_crop",
        load_size: int = 286,
        crop_size: int = 256,
        aspect_ratio: float = 1.0,
        flip: bool = True,
        **loader: Any,
    ) -> None:
        super().__init__(
            num_classes=150,
            dontcare_label=ADE20K_DONTCARE,
            preprocess=preprocess,
            load_size=load_size,
            crop_size=crop_size,
            aspect_ratio=aspect_ratio,
            flip=flip,
            **loader,
        )
        self.root = Path(root)

    @property
    def has_instances(self) -> bool:
        return False

    def label_transform(self) -> LabelTransform:
        return ade20k_label_ids

    def dataset_folder(self) -> Path:
        """``<root>/ADEChallengeData2016``, or ``root`` when it is that folder."""
        require_folder(self.root, "root", ADE20K_LAYOUT)
        nested = self.root / "ADEChallengeData2016"
        if not nested.is_dir() and (self.root / "images").is_dir():
            return self.root
        return nested

    def samples(self, split: str) -> list[LabelImageSample]:
        folder = self.dataset_folder()
        image_dir = folder / "images" / _FOLDERS[split]
        label_dir = folder / "annotations" / _FOLDERS[split]
        require_folder(image_dir, "root", ADE20K_LAYOUT)
        require_folder(label_dir, "root", ADE20K_LAYOUT)
        images = index_by_key(image_dir)
        require_nonempty(images, image_dir, "images")
        return pair_samples(images, index_by_key(label_dir), f"{label_dir} (<name>.png)")
