"""Write ``predict`` outputs as PNG files named after their inputs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import BasePredictionWriter
from torchvision.utils import save_image


class PredictionWriter(BasePredictionWriter):
    """Save each predicted image ``(3, H, W)`` in ``[-1, 1]`` as ``<output_dir>/<input stem>.png``.

    Inputs without a path are named ``<batch>_<index>.png``; a stem seen twice gets a numeric
    suffix instead of overwriting. Each process writes the images it predicted.

    Args:
        output_dir: folder for the PNG files (created if needed); default ``"predictions"``.
    """

    def __init__(self, output_dir: str = "predictions") -> None:
        super().__init__(write_interval="batch")
        self.output_dir = Path(output_dir)
        self.written: list[Path] = []
        self._used: set[str] = set()

    def _name(self, path: Any, batch_idx: int, index: int) -> str:
        stem = Path(str(path)).stem if path else f"{batch_idx:06d}_{index:03d}"
        name, suffix = stem, 1
        while name in self._used:
            name, suffix = f"{stem}_{suffix}", suffix + 1
        self._used.add(name)
        return name

    def write_on_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        prediction: Any,
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        images = prediction["prediction"] if isinstance(prediction, dict) else prediction
        paths = prediction.get("path") if isinstance(prediction, dict) else None
        self.output_dir.mkdir(parents=True, exist_ok=True)
        for index, image in enumerate(images.detach().float().cpu()):
            path = paths[index] if paths is not None and index < len(paths) else None
            target = self.output_dir / f"{self._name(path, batch_idx, index)}.png"
            save_image((image.clamp(-1, 1) + 1) / 2, target)
            self.written.append(target)
