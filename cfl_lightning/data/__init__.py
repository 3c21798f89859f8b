"""DataModules for paired, labelled and plain-photo data, degradations, and a synthetic dataset."""

from cfl_lightning.data.ade20k import ADE20KDataModule, ade20k_label_ids
from cfl_lightning.data.base import ImageDataModule
from cfl_lightning.data.checks import DatasetError
from cfl_lightning.data.cityscapes import CityscapesDataModule
from cfl_lightning.data.coco_stuff import COCOStuffDataModule
from cfl_lightning.data.color_labels import ColorLabels
from cfl_lightning.data.degradations import (
    Colorization,
    Degradation,
    Denoising,
    Inpainting,
    SuperResolution,
    add_gaussian_noise,
    bicubic_downscale,
    box_mask,
    free_form_mask,
    item_generator,
    mask_image,
    rgb_to_luminance,
)
from cfl_lightning.data.image_folder import ImageFolderDataModule, ImageFolderDataset
from cfl_lightning.data.io import ImageFileError, read_image, read_label
from cfl_lightning.data.label_folder import LabelFolderDataModule
from cfl_lightning.data.label_image import LabelImageDataModule, LabelImageDataset
from cfl_lightning.data.paired_folder import (
    PairedFolderDataModule,
    PairedImageDataset,
    PairedTwoFolderDataModule,
)
from cfl_lightning.data.paired_super_resolution import (
    PairedSuperResolutionDataModule,
    PairedSuperResolutionDataset,
    SuperResolutionPairs,
)
from cfl_lightning.data.sampler import EpochShuffleSampler
from cfl_lightning.data.synthetic import SyntheticTexturesDataModule, SyntheticTexturesDataset
from cfl_lightning.data.transforms import PREPROCESS_MODES, SpatialTransform

__all__ = [
    "PREPROCESS_MODES",
    "ADE20KDataModule",
    "COCOStuffDataModule",
    "CityscapesDataModule",
    "ColorLabels",
    "Colorization",
    "DatasetError",
    "Degradation",
    "Denoising",
    "EpochShuffleSampler",
    "ImageDataModule",
    "ImageFileError",
    "ImageFolderDataModule",
    "ImageFolderDataset",
    "Inpainting",
    "LabelFolderDataModule",
    "LabelImageDataModule",
    "LabelImageDataset",
    "PairedFolderDataModule",
    "PairedImageDataset",
    "PairedSuperResolutionDataModule",
    "PairedSuperResolutionDataset",
    "PairedTwoFolderDataModule",
    "SpatialTransform",
    "SuperResolution",
    "SuperResolutionPairs",
    "SyntheticTexturesDataModule",
    "SyntheticTexturesDataset",
    "add_gaussian_noise",
    "ade20k_label_ids",
    "bicubic_downscale",
    "box_mask",
    "free_form_mask",
    "item_generator",
    "mask_image",
    "read_image",
    "read_label",
    "rgb_to_luminance",
]
