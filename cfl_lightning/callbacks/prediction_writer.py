"""Write ``predict`` outputs as PNG files named after their inputs, never overwriting a file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import BasePredictionWriter
from pytorch_lightning.utilities import rank_zero_info

from cfl_lightning.data.checks import format_some
from cfl_lightning.data.predict_inputs import tensor_to_image

DEFAULT_FOLDER = "predictions"


def output_name(name: Any, path: Any, index: int) -> str:
    """The relative file name (``/`` separators, ``.png``) of one prediction.

    ``name``: the input's path relative to its predict folder without extension (inputs read with
    ``predict_root``): subfolders are mirrored. Otherwise ``index`` (the item's index in its
    dataset, unique across processes) makes the name, followed by the input file's stem when
    there is a ``path``: ``000012_<stem>.png``.
    """
    if name:
        relative = Path(str(name))
        if relative.is_absolute() or ".." in relative.parts:
            raise ValueError(
                f"name: expected a relative path inside the output folder, got {name!r}"
            )
        return relative.as_posix() + ".png"
    stem = f"_{Path(str(path)).stem}" if path else ""
    return f"{index:06d}{stem}.png"


class PredictionWriter(BasePredictionWriter):
    """Save each predicted image ``(C, H, W)`` in ``[-1, 1]`` as a PNG file: RGB for ``C = 3``,
    grey for 1, RGBA for 4 (a 4th channel such as near infrared as the alpha channel); other
    channel counts raise ``ValueError``.

    Names: inputs read with ``predict_root`` keep their relative paths (``photos/a/b.jpg`` ->
    ``<output_dir>/a/b.png``); dataset splits are named by dataset index and file stem
    (``000003_b.png``). Both are unique across processes, so under DDP each rank writes its own
    inputs with no collision. Nothing is overwritten: ``setup`` refuses an output folder that
    already holds a file this run would write (when the names are known in advance), and each file
    is created exclusively.

    The folder is resolved in ``setup`` (which every process runs): ``output_dir``, or by default
    ``<trainer.log_dir>/predictions`` (the run's versioned log folder, next to the ``config.yaml``
    that ``cfl predict`` saves; ``<default_root_dir>/predictions`` without a logger). Rank zero
    prints it.

    Args:
        output_dir: folder for the PNG files (created if needed); default None (see above).
    """

    def __init__(self, output_dir: str | None = None) -> None:
        super().__init__(write_interval="batch")
        self.output_dir = output_dir
        self.folder: Path | None = None if output_dir is None else Path(output_dir)
        self.written: list[Path] = []

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "predict":
            return
        if self.output_dir is not None:
            self.folder = Path(self.output_dir)
        else:
            # trainer.log_dir broadcasts rank zero's folder: every rank runs this hook.
            self.folder = Path(trainer.log_dir or trainer.default_root_dir) / DEFAULT_FOLDER
        self.written = []
        datamodule = getattr(trainer, "datamodule", None)
        if getattr(datamodule, "predict_root", None) is not None:
            names = datamodule.predict_inputs().names  # type: ignore[union-attr]
            clashes = [self.folder / output_name(n, None, 0) for n in names]
            clashes = [p for p in clashes if p.exists()]
            if clashes:
                raise FileExistsError(
                    f"output_dir: {self.folder} already holds {len(clashes)} file(s) this run "
                    "would write; choose another output_dir or move them:\n" + format_some(clashes)
                )
        rank_zero_info(f"PredictionWriter: writing predictions to {self.folder.resolve()}")

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
        if self.folder is None:
            self.folder = Path(DEFAULT_FOLDER)
        images = prediction["prediction"] if isinstance(prediction, dict) else prediction
        names = prediction.get("name") if isinstance(prediction, dict) else None
        paths = prediction.get("path") if isinstance(prediction, dict) else None
        for i, image in enumerate(images.detach().float().cpu()):
            if batch_indices is not None and i < len(batch_indices):
                index = int(batch_indices[i])
            else:
                index = batch_idx * len(images) + i
            name = names[i] if names is not None and i < len(names) else None
            path = paths[i] if paths is not None and i < len(paths) else None
            self._save(image, self.folder / output_name(name, path, index))

    def _save(self, image: torch.Tensor, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(target, "xb") as file:  # exclusive: never overwrite
                tensor_to_image(image).save(file, format="PNG")
        except FileExistsError as error:
            raise FileExistsError(
                f"PredictionWriter: {target} already exists; predictions never overwrite files "
                "(choose another output_dir)"
            ) from error
        self.written.append(target)

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        rank_zero_info(
            f"PredictionWriter: wrote {len(self.written)} prediction(s)"
            + (" on rank 0" if trainer.world_size > 1 else "")
            + f" to {self.folder.resolve() if self.folder else DEFAULT_FOLDER}"
        )
