"""LightningModules: the image prediction base and its task subclasses."""

from cfl_lightning.modules.image_prediction import LOSS_TERMS, ImagePredictionModule
from cfl_lightning.modules.label_encoding import instance_edges, one_hot_labels
from cfl_lightning.modules.optimization import LinearDecay, adam_2e4
from cfl_lightning.modules.restoration import (
    ColorizationModule,
    DenoisingModule,
    InpaintingModule,
    SuperResolutionModule,
)
from cfl_lightning.modules.task_module import NetworkFactory, TaskModule
from cfl_lightning.modules.tasks import Pix2PixModule, SemanticSynthesisModule, input_channels

__all__ = [
    "LOSS_TERMS",
    "ColorizationModule",
    "DenoisingModule",
    "ImagePredictionModule",
    "InpaintingModule",
    "LinearDecay",
    "NetworkFactory",
    "Pix2PixModule",
    "SemanticSynthesisModule",
    "SuperResolutionModule",
    "TaskModule",
    "adam_2e4",
    "input_channels",
    "instance_edges",
    "one_hot_labels",
]
