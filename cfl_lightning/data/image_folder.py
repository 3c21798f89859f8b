"""Plain folders of photos for image -> image tasks: the input is made from the photo on the fly
by a :class:`~cfl_lightning.data.degradations.Degradation`, the photo is the target."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from PIL import Image
from pytorch_lightning.utilities import rank_zero_warn
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from .augment_random import AugmentationRandom, EpochAugmentedDataset
from .base import ImageDataModule
from .degradations import Degradation, item_generator
from .io import IMAGE_EXTENSIONS, ImageFileError, list_images, read_image, to_unit_range
from .predict_inputs import PhotoInputs, photo_inputs_for

LAYOUT = (
    "expected a folder of images ({extensions}), e.g. <root>/photo.jpg or, with recursive=True, "
    "<root>/any/sub/folder/photo.png"
)


def check_image_file(path: Path) -> None:
    """Raise :class:`ImageFileError` naming ``path`` if it is not a readable, complete image.

    Cheap: JPEGs are decoded at 1/8 scale (which still reads every byte), PNGs are checked chunk by
    chunk (CRC) without decompression, other formats are decoded fully.
    """
    try:
        with Image.open(path) as image:
            if image.format == "JPEG":
                image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
                image.load()
            elif image.format == "PNG":
                image.verify()
            else:
                image.load()
    except Exception as error:  # PIL raises many types (OSError, SyntaxError, ValueError, ...)
        raise ImageFileError(f"{path}: unreadable or truncated image file ({error})") from error


def resize_shorter_side(image: torch.Tensor, size: int) -> torch.Tensor:
    """Antialiased bicubic resize of ``(C, H, W)`` so that the shorter side is ``size``."""
    height, width = image.shape[-2:]
    scale = size / min(height, width)
    new_size = [max(size, round(height * scale)), max(size, round(width * scale))]
    return TF.resize(image, new_size, interpolation=InterpolationMode.BICUBIC, antialias=True)


class ImageFolderDataset(EpochAugmentedDataset):
    """Photos of one split, cropped and degraded.

    Items: ``"image"`` float ``(3, crop, crop)`` in ``[-1, 1]`` (the target), ``"input"`` (from the
    degradation), ``"mask"`` (inpainting), ``"path"`` (str).

    With ``train=True``: random crop and (``flip``) random horizontal flip, and random degradation,
    all drawn from the item's :class:`AugmentationRandom`, keyed by ``(seed, epoch, index)``.
    Otherwise: center crop, and the degradation seeded from ``(eval_seed, split, index)`` so every
    run sees the same inputs.
    """

    def __init__(
        self,
        paths: list[Path],
        degradation: Degradation,
        crop_size: int,
        load_size: int | None = None,
        train: bool = False,
        flip: bool = True,
        split: str = "val",
        eval_seed: int = 0,
        seed: int = 0,
    ) -> None:
        self.paths = list(paths)
        self.degradation = degradation
        self.crop_size = crop_size
        self.load_size = load_size
        self.train = train
        self.flip = flip and train
        self.split = split
        self.eval_seed = eval_seed
        self.seed = seed

    def __len__(self) -> int:
        return len(self.paths)

    def _load(self, path: Path) -> torch.Tensor:
        image = read_image(path)
        if self.load_size is not None:
            image = resize_shorter_side(image, self.load_size)
        if min(image.shape[-2:]) < self.crop_size:
            image = resize_shorter_side(image, self.crop_size)
        return image

    def get_item(self, index: int, random: AugmentationRandom) -> dict[str, Any]:
        path = self.paths[index]
        image = self._load(path)
        height, width = image.shape[-2:]
        size = self.crop_size
        if self.train:
            top = random.randint(height - size + 1)
            left = random.randint(width - size + 1)
        else:
            top, left = (height - size) // 2, (width - size) // 2
        image = image[:, top : top + size, left : left + size]
        if self.flip and random.uniform() < 0.5:
            image = image.flip(-1)
        target = to_unit_range(image)
        if self.train:
            generator = random.generator
        else:
            generator = item_generator(self.eval_seed, f"image-folder-{self.split}", index)
        item = dict(self.degradation(target, generator))
        item["image"] = target
        item["path"] = str(path)
        return item


class ImageFolderDataModule(ImageDataModule):
    """Any folder tree of photos (jpg, png, webp, ...) for super-resolution, colorization,
    inpainting or denoising: batches hold ``"input"``, ``"image"``, ``"path"`` (and ``"mask"``).

    Splits: by a seeded random permutation of the sorted relative paths (``val_ratio``,
    ``test_ratio``), or by separate folders (``val_root``, ``test_root``: then all of ``root``
    not used by a ratio is training data). Every file is checked when the splits are first built
    (``setup``); nothing is written to the folders.

    Args:
        root: folder of training photos (searched recursively by default).
        degradation: makes ``"input"`` from the photo, e.g. ``SuperResolution(factor=4)``.
        crop_size: side of the square crops (random at train, center at val/test); default 128.
            Photos with a shorter side below it are upscaled first.
        load_size: if given, resize every photo's shorter side to it before cropping.
        val_ratio, test_ratio: fractions of ``root`` held out when ``val_root``/``test_root`` are
            not given (defaults 0.1, 0.0); a positive ratio holds out at least one photo.
        val_root, test_root: separate folders for validation/test.
        recursive: search subfolders (default True).
        on_corrupt: ``"fail"`` (default): an unreadable or truncated file raises at setup, naming
            it; ``"skip"``: such files are dropped with one warning; ``num_skipped`` counts them.
        flip: random horizontal flip at train time (default True).
        **kwargs: :class:`ImageDataModule` arguments (``batch_size``, ``num_workers``, ``seed``,
            ``split_seed``: seeds the ratio split and the validation/test degradations...).
    """

    def __init__(
        self,
        root: str,
        degradation: Degradation,
        crop_size: int = 128,
        load_size: int | None = None,
        val_ratio: float = 0.1,
        test_ratio: float = 0.0,
        val_root: str | None = None,
        test_root: str | None = None,
        recursive: bool = True,
        on_corrupt: Literal["fail", "skip"] = "fail",
        flip: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(degradation, Degradation):
            raise ValueError(
                f"degradation: expected a Degradation (e.g. SuperResolution(factor=4)), got "
                f"{degradation!r}"
            )
        if crop_size < 1:
            raise ValueError(f"crop_size: expected an integer >= 1, got {crop_size}")
        if load_size is not None and load_size < 1:
            raise ValueError(f"load_size: expected None or an integer >= 1, got {load_size}")
        for name, ratio in (("val_ratio", val_ratio), ("test_ratio", test_ratio)):
            if not 0.0 <= ratio < 1.0:
                raise ValueError(f"{name}: expected a fraction in [0, 1), got {ratio}")
        if val_ratio + test_ratio >= 1.0:
            raise ValueError(
                f"val_ratio + test_ratio: expected a sum below 1 so that training photos remain, "
                f"got {val_ratio} + {test_ratio}"
            )
        if on_corrupt not in ("fail", "skip"):
            raise ValueError(f"on_corrupt: expected 'fail' or 'skip', got {on_corrupt!r}")
        degradation.check_size(crop_size, crop_size)
        self.root = root
        self.degradation = degradation
        self.crop_size = crop_size
        self.load_size = load_size
        self.flip = flip
        self.val_ratio = val_ratio
        self.test_ratio = test_ratio
        self.val_root = val_root
        self.test_root = test_root
        self.recursive = recursive
        self.on_corrupt = on_corrupt
        self.num_skipped = 0
        self.skipped: list[Path] = []
        self._split_paths: dict[str, list[Path]] | None = None

    @property
    def input_channels(self) -> int:
        """Channels of ``"input"`` (from the degradation)."""
        return self.degradation.input_channels

    def _list(self, argument: str, folder: str) -> list[Path]:
        extensions = ", ".join(IMAGE_EXTENSIONS)
        path = Path(folder)
        if not path.is_dir():
            what = "is not a folder" if path.exists() else "does not exist"
            raise ValueError(
                f"{argument}: {folder!r} {what}; " + LAYOUT.format(extensions=extensions)
            )
        paths = list_images(path, recursive=self.recursive)
        paths.sort(key=lambda p: p.relative_to(path).as_posix())
        if not paths:
            hint = "" if self.recursive else " (subfolders not searched: recursive=False)"
            raise ValueError(
                f"{argument}: no image files found in {folder!r}{hint}; "
                + LAYOUT.format(extensions=extensions)
            )
        return paths

    def _check(self, argument: str, paths: list[Path]) -> list[Path]:
        """The readable ``paths``; unreadable ones raise (``"fail"``, all named at once, up to
        five) or go to ``self.skipped`` (``"skip"``)."""
        good, errors = [], []
        for path in paths:
            try:
                check_image_file(path)
                good.append(path)
            except ImageFileError as error:
                errors.append((path, error))
        if errors and self.on_corrupt == "fail":
            shown = "\n  ".join(str(error) for _, error in errors[:5])
            more = f"\n  ... and {len(errors) - 5} more" if len(errors) > 5 else ""
            raise ImageFileError(
                f"{argument}: {len(errors)} unreadable or truncated image file(s); repair or "
                f"remove them, or set on_corrupt='skip':\n  {shown}{more}"
            )
        self.skipped.extend(path for path, _ in errors)
        return good

    def split_paths(self) -> dict[str, list[Path]]:
        """``{"train", "val", "test"}`` -> photo paths; listed, checked and split once."""
        if self._split_paths is not None:
            return self._split_paths
        self.skipped = []
        pool = self._check("root", self._list("root", self.root))
        separate = {
            split: self._check(f"{split}_root", self._list(f"{split}_root", folder))
            for split, folder in (("val", self.val_root), ("test", self.test_root))
            if folder is not None
        }
        held_out = {
            split: ratio
            for split, ratio in (("test", self.test_ratio), ("val", self.val_ratio))
            if split not in separate and ratio > 0
        }
        order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(self.split_seed))
        shuffled = [pool[i] for i in order.tolist()]
        splits: dict[str, list[Path]] = {"val": [], "test": [], **separate}
        start = 0
        for split, ratio in held_out.items():
            count = max(1, round(ratio * len(pool)))
            splits[split] = sorted(shuffled[start : start + count])
            start += count
        splits["train"] = sorted(shuffled[start:])
        self.num_skipped = len(self.skipped)
        if self.skipped:
            shown = ", ".join(str(p) for p in self.skipped[:5])
            more = f" and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
            rank_zero_warn(
                f"ImageFolderDataModule: skipped {len(self.skipped)} unreadable or truncated "
                f"image file(s): {shown}{more}"
            )
        if not splits["train"]:
            raise ValueError(
                f"root: no training photos left in {self.root!r} ({len(pool)} readable, "
                f"{self.num_skipped} skipped, {start} held out by val_ratio/test_ratio)"
            )
        self._split_paths = splits
        return splits

    def build_predict_dataset(self, root: Path) -> PhotoInputs:
        """Photos under ``root`` made into inputs as ``degradation``'s task needs (see
        :func:`~cfl_lightning.data.predict_inputs.photo_inputs_for`)."""
        return photo_inputs_for(root, self.degradation)

    def build_dataset(self, split: str) -> ImageFolderDataset:
        paths = self.split_paths()[split]
        if split == "test" and not paths:
            raise ValueError(
                "test_ratio: the test split is empty; set test_ratio > 0 or test_root to a folder "
                "of photos (or predict_split='val' to predict on the validation photos)"
            )
        return ImageFolderDataset(
            paths,
            self.degradation,
            self.crop_size,
            self.load_size,
            train=split == "train",
            flip=self.flip,
            split=split,
            eval_seed=self.split_seed,
            seed=self.seed,
        )
