"""A user's own label maps and images in two folders, matched by file name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cfl_lightning.data.checks import (
    hold_out_split,
    index_by_key,
    require_folder,
    require_nonempty,
)
from cfl_lightning.data.color_labels import ColorLabels
from cfl_lightning.data.label_image import (
    LabelImageDataModule,
    LabelImageSample,
    LabelReader,
    pair_samples,
)


class LabelFolderDataModule(LabelImageDataModule):
    """Label maps (single-channel PNG of ids, or colour-coded with ``colors``) in ``label_dir``
    and images in ``image_dir``, matched by their path relative to the folder without extension
    (the file stem for flat folders).

    Splits: with ``val_label_dir``/``val_image_dir`` those are ``"val"`` and ``"test"``;
    otherwise a fraction ``val_ratio`` of the pairs (drawn with ``split_seed``, at least one when
    ``val_ratio > 0``) is held out as ``"val"`` and ``"test"``.

    Args:
        label_dir: folder of label maps (ids ``0 .. num_classes - 1`` or ``dontcare_label``).
        image_dir: folder of images.
        num_classes: number of classes.
        dontcare_label: id of unlabelled pixels (outside ``[0, num_classes)``), or None.
        instance_dir: folder of instance maps (same names), or None.
        val_label_dir, val_image_dir, val_instance_dir: validation folders, or None.
        val_ratio: held-out fraction when no validation folders are given, in ``[0, 1)``;
            default 0.1.
        colors: for colour-coded label maps (RGB files), each id's ``[r, g, b]`` colour, e.g.
            ``{0: [128, 64, 128], 1: [244, 35, 232], 255: [0, 0, 0]}`` (ids: classes or
            ``dontcare_label``; any other colour in a file is an error naming it); default None:
            single-channel label maps of ids (8/16-bit grey or palette PNG).
        preprocess, load_size, crop_size, aspect_ratio, flip: see
            :class:`~cfl_lightning.data.transforms.SpatialTransform` (default
            ``"resize_and_crop"`` 286 -> 256 with flips).
        batch_size, num_workers, pin_memory, persistent_workers, multiprocessing_context, seed,
            split_seed, predict_split: see
            :class:`~cfl_lightning.data.base.ImageDataModule`.
    """

    def __init__(
        self,
        label_dir: str | Path,
        image_dir: str | Path,
        num_classes: int,
        dontcare_label: int | None = None,
        instance_dir: str | Path | None = None,
        val_label_dir: str | Path | None = None,
        val_image_dir: str | Path | None = None,
        val_instance_dir: str | Path | None = None,
        val_ratio: float = 0.1,
        colors: dict[int, list[int]] | None = None,
        preprocess: str = "resize_and_crop",
        load_size: int = 286,
        crop_size: int = 256,
        aspect_ratio: float = 1.0,
        flip: bool = True,
        **loader: Any,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            dontcare_label=dontcare_label,
            preprocess=preprocess,
            load_size=load_size,
            crop_size=crop_size,
            aspect_ratio=aspect_ratio,
            flip=flip,
            **loader,
        )
        if (val_label_dir is None) != (val_image_dir is None):
            raise ValueError(
                "val_label_dir, val_image_dir: expected both or neither, got "
                f"{val_label_dir!r} and {val_image_dir!r}"
            )
        has_val_dirs = val_label_dir is not None
        if has_val_dirs and (instance_dir is None) != (val_instance_dir is None):
            raise ValueError(
                "val_instance_dir: expected a folder exactly when instance_dir is given "
                f"(instance_dir={instance_dir!r}), got {val_instance_dir!r}"
            )
        if not has_val_dirs and val_instance_dir is not None:
            raise ValueError(
                f"val_instance_dir: expected None without val_label_dir, got {val_instance_dir!r}"
            )
        if not 0 <= val_ratio < 1:
            raise ValueError(f"val_ratio: expected a number in [0, 1), got {val_ratio}")
        self.color_labels = None if colors is None else ColorLabels(colors)
        if self.color_labels is not None:
            allowed = set(range(num_classes)) | {dontcare_label}
            unknown = [i for i in self.color_labels.ids if i not in allowed]
            if unknown:
                raise ValueError(
                    f"colors: ids {unknown} are neither classes [0, num_classes={num_classes}) "
                    f"nor dontcare_label={dontcare_label}"
                )

        def as_path(folder: str | Path | None) -> Path | None:
            return None if folder is None else Path(folder)

        self.label_dir = Path(label_dir)
        self.image_dir = Path(image_dir)
        self.instance_dir = as_path(instance_dir)
        self.val_label_dir = as_path(val_label_dir)
        self.val_image_dir = as_path(val_image_dir)
        self.val_instance_dir = as_path(val_instance_dir)
        self.val_ratio = val_ratio
        self._split_samples: dict[str, list[LabelImageSample]] | None = None

    @property
    def has_instances(self) -> bool:
        return self.instance_dir is not None

    def label_reader(self) -> LabelReader:
        """:class:`ColorLabels` with ``colors``, else single-channel label files."""
        return super().label_reader() if self.color_labels is None else self.color_labels

    @staticmethod
    def _folder_samples(
        label_dir: Path, image_dir: Path, instance_dir: Path | None, prefix: str
    ) -> list[LabelImageSample]:
        layout = "label maps and images (and instance maps) with the same names"
        require_folder(image_dir, f"{prefix}image_dir", layout)
        require_folder(label_dir, f"{prefix}label_dir", layout)
        images = index_by_key(image_dir)
        require_nonempty(images, image_dir, "images")
        instances = None
        if instance_dir is not None:
            require_folder(instance_dir, f"{prefix}instance_dir", layout)
            instances = index_by_key(instance_dir)
        return pair_samples(
            images,
            index_by_key(label_dir),
            f"{prefix}label_dir {label_dir}",
            instances,
            f"{prefix}instance_dir {instance_dir}",
        )

    def _splits(self) -> dict[str, list[LabelImageSample]]:
        if self._split_samples is not None:
            return self._split_samples
        train = self._folder_samples(self.label_dir, self.image_dir, self.instance_dir, "")
        if self.val_label_dir is not None and self.val_image_dir is not None:
            val = self._folder_samples(
                self.val_label_dir, self.val_image_dir, self.val_instance_dir, "val_"
            )
        else:
            train, val = hold_out_split(train, self.val_ratio, self.split_seed)
        self._split_samples = {"train": train, "val": val, "test": val}
        return self._split_samples

    def samples(self, split: str) -> list[LabelImageSample]:
        return self._splits()[split]
