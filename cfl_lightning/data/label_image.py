"""The dataset of (label map, optional instance map, image) triples shared by the label DataModules.

Items are dicts: ``"label"`` int64 ``(H, W)`` (class ids in ``[0, num_classes)`` or the don't-care
id), ``"instance"`` int64 ``(H, W)`` when the dataset has instance maps, ``"image"`` float32
``(3, H, W)`` in ``[-1, 1]`` and ``"path"`` (the image file, str).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from cfl_lightning.data.augment_random import AugmentationRandom, EpochAugmentedDataset
from cfl_lightning.data.base import ImageDataModule
from cfl_lightning.data.checks import require_matches
from cfl_lightning.data.io import ImageFileError, read_image, read_label, to_unit_range
from cfl_lightning.data.transforms import SpatialTransform, check_preprocess_args

if TYPE_CHECKING:
    from cfl_lightning.data.predict_inputs import PredictInputs

LabelTransform = Callable[[torch.Tensor], torch.Tensor]
LabelReader = Callable[[Path], torch.Tensor]


@dataclass(frozen=True)
class LabelImageSample:
    """Files of one item: the image, its label map and (optionally) its instance map."""

    image: Path
    label: Path
    instance: Path | None = None


def pair_samples(
    images: Mapping[str, Path],
    labels: Mapping[str, Path],
    label_where: str,
    instances: Mapping[str, Path] | None = None,
    instance_where: str = "",
) -> list[LabelImageSample]:
    """One sample per image, in key order; raises :class:`~cfl_lightning.data.checks.DatasetError`
    listing images whose label (or instance) map is missing."""
    keys = sorted(images)
    require_matches(keys, labels, images, "a label map", label_where)
    if instances is not None:
        require_matches(keys, instances, images, "an instance map", instance_where)
    return [
        LabelImageSample(
            image=images[key],
            label=labels[key],
            instance=None if instances is None else instances[key],
        )
        for key in keys
    ]


def _size_text(tensor: torch.Tensor) -> str:
    return f"{tensor.shape[-1]}x{tensor.shape[-2]}"


def check_same_size(
    label: torch.Tensor, image: torch.Tensor, label_path: Path, image_path: Path, what: str
) -> None:
    """Raise :class:`ImageFileError` when a label/instance map and its image differ in size."""
    if label.shape[-2:] != image.shape[-2:]:
        raise ImageFileError(
            f"{label_path}: {what} is {_size_text(label)} (width x height) but its image "
            f"{image_path} is {_size_text(image)}"
        )


def check_label_ids(
    label: torch.Tensor,
    num_classes: int,
    dontcare_label: int | None,
    path: Path,
    raw: torch.Tensor | None = None,
) -> None:
    """Raise :class:`ImageFileError` when ``label`` holds an id outside ``[0, num_classes)`` that
    is not ``dontcare_label``. ``raw`` (the file's values before a remapping) is quoted too."""
    bad = (label < 0) | (label >= num_classes)
    if dontcare_label is not None:
        bad &= label != dontcare_label
    if not bool(bad.any()):
        return
    ids = torch.unique(label[bad]).tolist()
    text = f"{path}: label id(s) {ids[:5]}"
    if raw is not None:
        text += f" (value(s) {torch.unique(raw[bad]).tolist()[:5]} in the file)"
    dontcare = "" if dontcare_label is None else f" and not the don't-care id {dontcare_label}"
    raise ImageFileError(f"{text} outside [0, num_classes={num_classes}){dontcare}")


class LabelImageDataset(EpochAugmentedDataset):
    """Label/instance/image triples with a shared spatial transform (random crops and flips at
    train time drawn per (seed, epoch, item), see ``EpochAugmentedDataset``).

    Args:
        samples: the files of each item.
        num_classes: valid class ids are ``0 .. num_classes - 1``.
        dontcare_label: the id of unlabelled pixels (allowed besides the classes), or None.
        transform: the spatial transform (train: random crop/flip; eval: centre crop).
        label_transform: maps the file's values to class ids (e.g. ADE20K's shift), or None.
        seed: seed of the training augmentations (see ``AugmentationRandom``); default 0.
        label_reader: reads a label file as ``int64`` ``(H, W)``; default :func:`read_label`
            (single-channel files), e.g. :class:`ColorLabels` for colour-coded maps.
    """

    def __init__(
        self,
        samples: list[LabelImageSample],
        num_classes: int,
        dontcare_label: int | None,
        transform: SpatialTransform,
        label_transform: LabelTransform | None = None,
        seed: int = 0,
        label_reader: LabelReader = read_label,
    ) -> None:
        self.samples = samples
        self.label_reader = label_reader
        self.num_classes = num_classes
        self.dontcare_label = dontcare_label
        self.transform = transform
        self.label_transform = label_transform
        self.seed = seed

    def __len__(self) -> int:
        return len(self.samples)

    def get_item(self, index: int, random: AugmentationRandom) -> dict[str, Any]:
        sample = self.samples[index]
        image = read_image(sample.image)
        raw = self.label_reader(sample.label)
        check_same_size(raw, image, sample.label, sample.image, "label map")
        label = raw if self.label_transform is None else self.label_transform(raw)
        check_label_ids(
            label,
            self.num_classes,
            self.dontcare_label,
            sample.label,
            raw=None if self.label_transform is None else raw,
        )
        params = self.transform.draw(image.shape[-2], image.shape[-1], random)
        item: dict[str, Any] = {
            "label": self.transform.apply_label(label, params).long(),
            "image": to_unit_range(self.transform.apply_image(image, params)),
            "path": str(sample.image),
        }
        if sample.instance is not None:
            instance = read_label(sample.instance)
            check_same_size(instance, image, sample.instance, sample.image, "instance map")
            item["instance"] = self.transform.apply_label(instance, params).long()
        return item


class LabelImageDataModule(ImageDataModule):
    """Base of the label -> image DataModules: subclasses list the files of a split.

    Subclasses implement :meth:`samples` and the ``has_instances`` property and call this
    ``__init__`` with their dataset's ``num_classes``, ``dontcare_label`` and preprocess defaults.
    Attributes: ``num_classes``, ``dontcare_label``, ``has_instances``.
    """

    def __init__(
        self,
        num_classes: int,
        dontcare_label: int | None,
        preprocess: str,
        load_size: int,
        crop_size: int,
        aspect_ratio: float,
        flip: bool,
        **loader: Any,
    ) -> None:
        super().__init__(
            **loader,
        )
        if num_classes < 1:
            raise ValueError(f"num_classes: expected an integer >= 1, got {num_classes}")
        if dontcare_label is not None and 0 <= dontcare_label < num_classes:
            raise ValueError(
                f"dontcare_label: expected None or an id outside [0, num_classes={num_classes}), "
                f"got {dontcare_label}"
            )
        check_preprocess_args(preprocess, load_size, crop_size, aspect_ratio)
        self.num_classes = num_classes
        self.dontcare_label = dontcare_label
        self.preprocess = preprocess
        self.load_size = load_size
        self.crop_size = crop_size
        self.aspect_ratio = aspect_ratio
        self.flip = flip

    @property
    def has_instances(self) -> bool:
        """Whether items carry an ``"instance"`` map."""
        raise NotImplementedError

    def samples(self, split: str) -> list[LabelImageSample]:
        """The files of ``split``, checked for layout and missing labels."""
        raise NotImplementedError

    def label_transform(self) -> LabelTransform | None:
        """Maps a label file's values to class ids; None keeps them."""
        return None

    def label_reader(self) -> LabelReader:
        """Reads a label file as ``int64`` ``(H, W)``; default single-channel files."""
        return read_label

    def spatial_transform(self, split: str) -> SpatialTransform:
        """The preprocess of ``split``: random crop/flip for ``"train"`` only."""
        return SpatialTransform(
            preprocess=self.preprocess,
            load_size=self.load_size,
            crop_size=self.crop_size,
            aspect_ratio=self.aspect_ratio,
            flip=self.flip,
            train=split == "train",
        )

    def build_predict_dataset(self, root: Path) -> PredictInputs:
        """Label maps (and, with ``has_instances``, instance maps) under ``root``."""
        from cfl_lightning.data.predict_inputs import LabelInputs

        return LabelInputs(
            root,
            self.num_classes,
            self.dontcare_label,
            self.label_transform(),
            instances=self.has_instances,
            label_reader=self.label_reader(),
        )

    def build_dataset(self, split: str) -> LabelImageDataset:
        return LabelImageDataset(
            self.samples(split),
            num_classes=self.num_classes,
            dontcare_label=self.dontcare_label,
            transform=self.spatial_transform(split),
            label_transform=self.label_transform(),
            seed=self.seed,
            label_reader=self.label_reader(),
        )
