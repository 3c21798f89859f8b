"""Callbacks: validation image grids and prediction writing."""

from cfl_lightning.callbacks.image_grid import ImageGridLogger
from cfl_lightning.callbacks.prediction_writer import PredictionWriter

__all__ = ["ImageGridLogger", "PredictionWriter"]
