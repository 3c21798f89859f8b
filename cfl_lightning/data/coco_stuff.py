"""COCO-Stuff (SPADE's folder layout) as label map -> image pairs, with optional instance maps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cfl_lightning.data.checks import index_by_key, require_folder, require_nonempty
from cfl_lightning.data.label_image import LabelImageDataModule, LabelImageSample, pair_samples

COCO_STUFF_LAYOUT = (
    "<root>/train_img/*.jpg, <root>/train_label/*.png, optional <root>/train_inst/*.png, and "
    "the same with val_"
)
_PREFIXES = {"train": "train", "val": "val", "test": "val"}


class COCOStuffDataModule(LabelImageDataModule):
    """COCO-Stuff: 182 classes (``num_classes=182``), 255 is don't care; instance maps optional.

    Splits: ``"train"`` reads ``train_*``; ``"val"`` and ``"test"`` read ``val_*``. SPADE's
    defaults: ``"resize_and_crop"`` to 286 then a 256 crop, random flips when training.

    Args:
        root: the folder holding ``train_img``, ``train_label``, ``val_img``, ``val_label`` (and
            ``train_inst``, ``val_inst``).
        use_instances: load ``*_inst/<name>.png`` as ``"instance"``; default None: when
            ``<root>/train_inst`` exists (then ``val_inst`` must exist too).
        preprocess, load_size, crop_size, aspect_ratio, flip: see
            :class:`~cfl_lightning.data.transforms.SpatialTransform`.
        batch_size, num_workers, pin_memory, persistent_workers, multiprocessing_context, seed,
            split_seed, predict_split: see
            :class:`~cfl_lightning.data.base.ImageDataModule`.
    """

    def __init__(
        self,
        root: str | Path,
        use_instances: bool | None = None,
        preprocess: str = "resize_and_crop",
        load_size: int = 286,
        crop_size: int = 256,
        aspect_ratio: float = 1.0,
        flip: bool = True,
        **loader: Any,
    ) -> None:
        super().__init__(
            num_classes=182,
            dontcare_label=255,
            preprocess=preprocess,
            load_size=load_size,
            crop_size=crop_size,
            aspect_ratio=aspect_ratio,
            flip=flip,
            **loader,
        )
        self.root = Path(root)
        self.use_instances = use_instances

    @property
    def has_instances(self) -> bool:
        if self.use_instances is not None:
            return self.use_instances
        return (self.root / "train_inst").is_dir()

    def samples(self, split: str) -> list[LabelImageSample]:
        prefix = _PREFIXES[split]
        require_folder(self.root, "root", COCO_STUFF_LAYOUT)
        image_dir = self.root / f"{prefix}_img"
        label_dir = self.root / f"{prefix}_label"
        require_folder(image_dir, "root", COCO_STUFF_LAYOUT)
        require_folder(label_dir, "root", COCO_STUFF_LAYOUT)
        images = index_by_key(image_dir)
        require_nonempty(images, image_dir, "images")
        instances = None
        if self.has_instances:
            instance_dir = self.root / f"{prefix}_inst"
            require_folder(
                instance_dir, "root", COCO_STUFF_LAYOUT + " (or pass use_instances=False)"
            )
            instances = index_by_key(instance_dir)
        return pair_samples(
            images,
            index_by_key(label_dir),
            f"{label_dir} (<name>.png)",
            instances,
            f"{self.root / f'{prefix}_inst'} (<name>.png; or pass use_instances=False)",
        )
