"""Log ``input | prediction | target`` image grids at validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torchvision.utils import make_grid, save_image


class ImageGridLogger(pl.Callback):
    """At the end of each validation, log a grid whose rows are ``input | prediction | target``
    for the first ``num_images`` validation images.

    The grid goes to the Trainer's logger (TensorBoard's ``add_image``, or any logger with a
    ``log_image`` method such as W&B's) and, with ``save_png``, to
    ``<log_dir>/images/val_step<global_step>.png``. Only rank zero collects and writes; the log
    folder (a broadcast from rank zero) is resolved in ``setup``, which every rank runs, so nothing
    here waits for the other ranks. Skipped in the sanity check.

    Args:
        num_images: validation images shown (taken from the first batches); default 4.
        every_n_epochs: log every n-th validation epoch; default 1.
        save_png: also write the grid as a PNG file in the log directory.
    """

    def __init__(self, num_images: int = 4, every_n_epochs: int = 1, save_png: bool = True) -> None:
        super().__init__()
        if num_images < 1:
            raise ValueError(f"num_images: expected an integer >= 1, got {num_images}")
        self.num_images = num_images
        self.every_n_epochs = max(1, every_n_epochs)
        self.save_png = save_png
        self._rows: list[torch.Tensor] = []
        self._folder: Path | None = None
        self.last_path: Path | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # trainer.log_dir is a collective (rank zero's folder broadcast): every rank runs setup.
        self._folder = Path(trainer.log_dir or trainer.default_root_dir) / "images"

    def _active(self, trainer: pl.Trainer) -> bool:
        return (
            trainer.is_global_zero
            and not trainer.sanity_checking
            and trainer.current_epoch % self.every_n_epochs == 0
        )

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._rows = []

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not self._active(trainer) or not isinstance(outputs, dict):
            return
        have = sum(row.shape[0] for row in self._rows)
        if have >= self.num_images or "prediction" not in outputs:
            return
        take = self.num_images - have
        parts = [
            outputs[k][:take].detach().float().cpu() for k in ("input", "prediction", "target")
        ]
        # One row per image: input, prediction and target side by side.
        self._rows.append(torch.cat(parts, dim=-1))

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._active(trainer) or not self._rows:
            return
        images = torch.cat(self._rows, 0)[: self.num_images]
        grid = make_grid((images.clamp(-1, 1) + 1) / 2, nrow=1, padding=2)
        step = trainer.global_step
        for logger in trainer.loggers:
            experiment = getattr(logger, "experiment", None)
            if hasattr(experiment, "add_image"):
                experiment.add_image("val/input_prediction_target", grid, global_step=step)
            elif hasattr(logger, "log_image"):
                logger.log_image(key="val/input_prediction_target", images=[grid], step=step)
        if self.save_png:
            folder = self._folder or Path(trainer.default_root_dir) / "images"
            folder.mkdir(parents=True, exist_ok=True)
            self.last_path = folder / f"val_step{step:07d}.png"
            save_image(grid, self.last_path)
        self._rows = []
