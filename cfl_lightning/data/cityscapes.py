"""Cityscapes (fine annotations) as label map -> image pairs, with instance maps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cfl_lightning.data.checks import index_by_key, require_folder, require_nonempty
from cfl_lightning.data.label_image import LabelImageDataModule, LabelImageSample, pair_samples

CITYSCAPES_LAYOUT = (
    "<root>/leftImg8bit/<split>/<city>/*_leftImg8bit.png with "
    "<root>/gtFine/<split>/<city>/*_gtFine_labelIds.png and *_gtFine_instanceIds.png "
    "(<split>: train, val)"
)


class CityscapesDataModule(LabelImageDataModule):
    """Cityscapes ``leftImg8bit`` images with ``gtFine`` label ids (35 ids, no don't-care) and
    instance ids (16-bit PNG: ``label_id * 1000 + k`` for things, ``label_id`` for stuff).

    Splits: ``"train"`` and ``"val"`` read the folders of the same name; ``"test"`` reads
    ``test_split`` (default ``"val"``: the public Cityscapes test annotations are placeholders).
    SPADE's defaults: ``"fixed"`` preprocess to 512x256, random flips when training.

    Args:
        root: the folder holding ``leftImg8bit`` and ``gtFine``.
        use_instances: load ``*_gtFine_instanceIds.png`` as ``"instance"``; default True.
        test_split: Cityscapes folder used for the ``"test"`` split, ``"val"`` or ``"test"``.
        preprocess, load_size, crop_size, aspect_ratio, flip: see
            :class:`~cfl_lightning.data.transforms.SpatialTransform`.
        batch_size, num_workers, pin_memory, persistent_workers, multiprocessing_context, seed,
            split_seed, predict_split: see
            :class:`~cfl_lightning.data.base.ImageDataModule`.
    """

    def __init__(
        self,
        root: str | Path,
        use_instances: bool = True,
        test_split: str = "val",
        preprocess: str = "fixed",
        load_size: int = 512,
        crop_size: int = 512,
        aspect_ratio: float = 2.0,
        flip: bool = True,
        **loader: Any,
    ) -> None:
        super().__init__(
            num_classes=35,
            dontcare_label=None,
            preprocess=preprocess,
            load_size=load_size,
            crop_size=crop_size,
            aspect_ratio=aspect_ratio,
            flip=flip,
            **loader,
        )
        if test_split not in ("val", "test"):
            raise ValueError(f"test_split: expected 'val' or 'test', got {test_split!r}")
        self.root = Path(root)
        self.use_instances = use_instances
        self.test_split = test_split

    @property
    def has_instances(self) -> bool:
        return self.use_instances

    def samples(self, split: str) -> list[LabelImageSample]:
        folder_split = {"train": "train", "val": "val", "test": self.test_split}[split]
        require_folder(self.root, "root", CITYSCAPES_LAYOUT)
        image_dir = self.root / "leftImg8bit" / folder_split
        label_dir = self.root / "gtFine" / folder_split
        require_folder(image_dir, "root", CITYSCAPES_LAYOUT)
        require_folder(label_dir, "root", CITYSCAPES_LAYOUT)
        images = index_by_key(image_dir, "_leftImg8bit")
        require_nonempty(images, image_dir, "*_leftImg8bit images")
        labels = index_by_key(label_dir, "_gtFine_labelIds")
        instances = index_by_key(label_dir, "_gtFine_instanceIds") if self.use_instances else None
        return pair_samples(
            images,
            labels,
            f"{label_dir} (*_gtFine_labelIds.png)",
            instances,
            f"{label_dir} (*_gtFine_instanceIds.png; or pass use_instances=False)",
        )
