"""Folders of inputs alone (no targets) for ``predict``: what a trained model's users have.

Every DataModule reads one with ``predict_root`` (see ``ImageDataModule``). Layouts:

- Photos (super-resolution, colorization, denoising, pix2pix): every image file under the folder,
  subfolders included, at any size. Colorization takes the luminance of colour or grey photos.
- Inpainting: photos as above plus, for ``<root>/<path>/<name>.<ext>``, the mask
  ``<root>/masks/<path>/<name>.png`` (any image extension): single-channel, the same size as the
  photo, white (>= 128) marks the hole to fill, black the pixels to keep.
- Label maps (semantic synthesis): single-channel label-id PNGs in ``<root>/labels`` (or, without
  that folder, directly under ``<root>``), with the values the training dataset's label files use;
  with instance maps (models trained with them), ``<root>/instances/<same path>.png``.

Items are dicts with ``"name"`` (the input's path relative to its folder, without extension, with
``/`` separators: predictions are written to ``<output_dir>/<name>.png``), ``"path"`` (the input
file) and ``"input"`` float ``(C, H, W)`` in ``[-1, 1]`` (photos) or ``"label"`` int64 ``(H, W)``
(and ``"instance"``). Every input is read and checked by :meth:`PredictInputs.check_all` (called by
the DataModule's ``setup``) before anything is predicted; the error names every bad file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from cfl_lightning.data.checks import DatasetError, format_some
from cfl_lightning.data.degradations import (
    Colorization,
    Degradation,
    Denoising,
    Inpainting,
    SuperResolution,
    mask_image,
    rgb_to_luminance,
)
from cfl_lightning.data.io import (
    IMAGE_EXTENSIONS,
    ImageFileError,
    list_images,
    read_image,
    read_label,
    rgb_array,
    to_unit_range,
)
from cfl_lightning.data.label_image import check_label_ids

MASKS_FOLDER = "masks"
LABELS_FOLDER = "labels"
INSTANCES_FOLDER = "instances"
PhotoTransform = Callable[[torch.Tensor], torch.Tensor]
LabelTransform = Callable[[torch.Tensor], torch.Tensor]


def index_inputs(folder: Path, argument: str, exclude: Sequence[str] = ()) -> dict[str, Path]:
    """Image files under ``folder`` keyed by their relative path without extension (``/``
    separators), skipping the top-level subfolders named in ``exclude``. Raises
    :class:`DatasetError` for a missing folder, no files, or two files with one key."""
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        raise DatasetError(f"{argument}: {folder} {what}; expected a folder of input images")
    index: dict[str, Path] = {}
    for path in list_images(folder):
        relative = path.relative_to(folder)
        if relative.parts[0] in exclude:
            continue
        key = relative.with_suffix("").as_posix()
        if key in index:
            raise DatasetError(
                f"{argument}: {index[key]} and {path} would both be predicted as {key}.png; "
                "rename or remove one"
            )
        index[key] = path
    if not index:
        extensions = ", ".join(IMAGE_EXTENSIONS)
        raise DatasetError(f"{argument}: no image files ({extensions}) found in {folder}")
    return dict(sorted(index.items()))


def require_companions(
    inputs: dict[str, Path], companions: dict[str, Path], what: str, where: Path
) -> None:
    """Raise :class:`DatasetError` listing the inputs without a companion file (mask, instance
    map) of the same key in ``where``."""
    missing = [
        f"{inputs[key]} (expected {where / key}.png)" for key in inputs if key not in companions
    ]
    if missing:
        raise DatasetError(
            f"predict_root: {len(missing)} input(s) without {what} in {where}:\n"
            + format_some(missing)
        )


def read_mask(path: Path) -> torch.Tensor:
    """A hole mask ``(1, H, W)`` float, 1 = hole (pixels >= 128), from a single-channel image
    (1-bit, 8-bit grey or palette); other modes raise :class:`ImageFileError`."""
    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            grey = image.convert("L") if mode in ("1", "L", "P") else None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageFileError(f"{path}: unreadable or truncated image file ({error})") from error
    if grey is None:
        raise ImageFileError(
            f"{path}: expected a single-channel mask (1-bit or 8-bit grey PNG, white = hole), got "
            f"mode {mode!r} ({Image.getmodebands(mode)} channels)"
        )
    array = np.asarray(grey)
    return torch.from_numpy(array >= 128).float().unsqueeze(0)


def _size(tensor: torch.Tensor) -> str:
    return f"{tensor.shape[-1]}x{tensor.shape[-2]}"


class PredictInputs(Dataset):
    """Base of the inputs-only datasets: ``names``/``paths`` of the inputs, ``load(index)``
    reads and checks one, and :meth:`check_all` all of them."""

    names: list[str]
    paths: list[Path]

    def __len__(self) -> int:
        return len(self.names)

    def load(self, index: int) -> dict[str, Any]:
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.load(index)
        item["name"] = self.names[index]
        item["path"] = str(self.paths[index])
        return item

    def check_all(self) -> None:
        """Read every input; raise one :class:`ImageFileError` naming each bad file (up to five,
        with a count), so that nothing is predicted from a folder with a bad input."""
        errors = []
        for index in range(len(self)):
            try:
                self.load(index)
            except (ImageFileError, ValueError) as error:
                errors.append(str(error))
        if errors:
            raise ImageFileError(
                f"predict_root: {len(errors)} bad input(s) of {len(self)}; nothing was "
                f"predicted. Fix or remove them:\n{format_some(errors)}"
            )


class PhotoInputs(PredictInputs):
    """Photos under ``root`` (any size, subfolders mirrored in ``names``) made into generator
    inputs by ``transform`` (``(3, H, W)`` in ``[-1, 1]`` -> ``(C, h, w)``; default: unchanged).

    With ``masks=True`` (inpainting), each photo needs its mask in ``<root>/masks`` (see the
    module's docstring); ``"input"`` is then the masked photo plus the mask, ``(4, H, W)``, and
    ``"mask"`` the mask ``(1, H, W)``.
    """

    def __init__(
        self, root: str | Path, transform: PhotoTransform | None = None, masks: bool = False
    ) -> None:
        self.root = Path(root)
        exclude = (MASKS_FOLDER,) if masks else ()
        files = index_inputs(self.root, "predict_root", exclude)
        self.mask_files: dict[str, Path] | None = None
        if masks:
            mask_dir = self.root / MASKS_FOLDER
            if not mask_dir.is_dir():
                raise DatasetError(
                    f"predict_root: inpainting needs a mask per photo in {mask_dir} "
                    "(masks/<photo path>.png, white = hole); the folder does not exist"
                )
            self.mask_files = index_inputs(mask_dir, "predict_root masks")
            require_companions(files, self.mask_files, "a mask", mask_dir)
        self.names = list(files)
        self.paths = list(files.values())
        self.transform = transform

    def load(self, index: int) -> dict[str, Any]:
        path = self.paths[index]
        photo = to_unit_range(read_image(path))
        if self.mask_files is None:
            generator_input = photo if self.transform is None else self.transform(photo)
            return {"input": generator_input}
        mask_path = self.mask_files[self.names[index]]
        mask = read_mask(mask_path)
        if mask.shape[-2:] != photo.shape[-2:]:
            raise ImageFileError(
                f"{mask_path}: mask is {_size(mask)} (width x height) but its photo {path} is "
                f"{_size(photo)}"
            )
        return {"input": mask_image(photo, mask), "mask": mask}


class LabelInputs(PredictInputs):
    """Label maps (and instance maps) under ``root`` for semantic synthesis (layout in the module's
    docstring). Ids are checked against ``num_classes`` and ``dontcare_label`` after
    ``label_transform`` (the dataset's mapping from file values to ids, e.g. ADE20K's shift).
    ``label_reader`` reads a label file (default single-channel, see :func:`read_label`)."""

    def __init__(
        self,
        root: str | Path,
        num_classes: int,
        dontcare_label: int | None = None,
        label_transform: LabelTransform | None = None,
        instances: bool = False,
        label_reader: Callable[[Path], torch.Tensor] = read_label,
    ) -> None:
        self.root = Path(root)
        self.label_reader = label_reader
        labelled = self.root / LABELS_FOLDER
        self.label_dir = labelled if labelled.is_dir() else self.root
        files = index_inputs(self.label_dir, "predict_root", (INSTANCES_FOLDER,))
        self.instance_files: dict[str, Path] | None = None
        if instances:
            instance_dir = self.root / INSTANCES_FOLDER
            if not instance_dir.is_dir():
                raise DatasetError(
                    f"predict_root: the model uses instance maps: expected one per label map in "
                    f"{instance_dir} (instances/<label path>.png); the folder does not exist"
                )
            self.instance_files = index_inputs(instance_dir, "predict_root instances")
            require_companions(files, self.instance_files, "an instance map", instance_dir)
        self.names = list(files)
        self.paths = list(files.values())
        self.num_classes = num_classes
        self.dontcare_label = dontcare_label
        self.label_transform = label_transform

    def load(self, index: int) -> dict[str, Any]:
        path = self.paths[index]
        raw = self.label_reader(path)
        label = raw if self.label_transform is None else self.label_transform(raw)
        check_label_ids(
            label,
            self.num_classes,
            self.dontcare_label,
            path,
            raw=None if self.label_transform is None else raw,
        )
        item: dict[str, Any] = {"label": label.long()}
        if self.instance_files is not None:
            instance_path = self.instance_files[self.names[index]]
            instance = read_label(instance_path)
            if instance.shape != raw.shape:
                raise ImageFileError(
                    f"{instance_path}: instance map is {_size(instance)} (width x height) but its "
                    f"label map {path} is {_size(raw)}"
                )
            item["instance"] = instance.long()
        return item


class BicubicUpsample:
    """Bicubic upsampling of ``(3, H, W)`` by ``factor``, clamped to ``[-1, 1]`` (the input of
    super-resolution generators trained on ``SuperResolution(upsample=True)``). A class, so that
    DataLoader workers can pickle it."""

    def __init__(self, factor: int) -> None:
        self.factor = factor

    def __call__(self, photo: torch.Tensor) -> torch.Tensor:
        size = (photo.shape[-2] * self.factor, photo.shape[-1] * self.factor)
        big = F.interpolate(photo.unsqueeze(0), size=size, mode="bicubic", align_corners=False)
        return big.squeeze(0).clamp(-1.0, 1.0)


def photo_inputs_for(root: str | Path, degradation: Degradation) -> PhotoInputs:
    """The inputs-only dataset matching a training ``degradation``: low-resolution photos for
    ``SuperResolution`` (upsampled first with ``upsample=True``), the luminance of colour or grey
    photos for ``Colorization``, photos plus masks for ``Inpainting``, noisy photos for
    ``Denoising``."""
    if isinstance(degradation, SuperResolution):
        transform = BicubicUpsample(degradation.factor) if degradation.upsample else None
        return PhotoInputs(root, transform)
    if isinstance(degradation, Colorization):
        return PhotoInputs(root, rgb_to_luminance)
    if isinstance(degradation, Inpainting):
        return PhotoInputs(root, masks=True)
    if isinstance(degradation, Denoising):
        return PhotoInputs(root)
    raise ValueError(
        f"predict_root: no rule to make inputs for {type(degradation).__name__} from photos; "
        "supported: SuperResolution, Colorization, Inpainting, Denoising"
    )


def image_to_tensor(image: Image.Image | str | Path) -> torch.Tensor:
    """A PIL image (or an image file) as an RGB batch ``(1, 3, H, W)`` float in ``[-1, 1]``."""
    if not isinstance(image, Image.Image):
        return to_unit_range(read_image(image)).unsqueeze(0)
    return to_unit_range(torch.from_numpy(rgb_array(image)).permute(2, 0, 1)).unsqueeze(0)


IMAGE_MODES = {1: "L", 3: "RGB", 4: "RGBA"}  # channels -> the PIL mode that stores them


def tensor_to_image(prediction: torch.Tensor) -> Image.Image:
    """A ``(C, H, W)`` or ``(1, C, H, W)`` image in ``[-1, 1]`` as a PIL image (values rounded to
    8 bits as ``torchvision.utils.save_image`` does): ``C = 3`` RGB, ``C = 1`` grey (``"L"``),
    ``C = 4`` ``"RGBA"`` (the 4th channel, e.g. near infrared, stored as the alpha channel).
    ``ValueError`` for other shapes."""
    if prediction.dim() == 4:
        if prediction.shape[0] != 1:
            raise ValueError(
                f"prediction: expected one image, (C, H, W) or (1, C, H, W), got shape "
                f"{tuple(prediction.shape)}"
            )
        prediction = prediction[0]
    if prediction.dim() != 3 or prediction.shape[0] not in IMAGE_MODES:
        raise ValueError(
            f"prediction: expected a (C, H, W) image with C in {sorted(IMAGE_MODES)} to write as "
            f"an image file, got shape {tuple(prediction.shape)}; save other channel counts "
            "yourself (e.g. torch.save in a BasePredictionWriter)"
        )
    unit = (prediction.detach().float().cpu().clamp(-1, 1) + 1) / 2
    array = unit.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
