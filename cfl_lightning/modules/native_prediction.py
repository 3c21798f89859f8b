"""Inference of an ``ImagePredictionModule`` on new inputs: each at its own size (padded and
cropped back, or in blended tiles), from a checkpoint alone, and exported to ONNX."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from cfl_lightning.modules.onnx_exporter import check_onnx_exporter
from cfl_lightning.modules.prediction import PAD_MODES, predict_native, size_multiple
from cfl_lightning.networks.deferred_weights import deferred_pretrained_weights


def check_inference_settings(tile_size: int | None, tile_overlap: int, pad_mode: str) -> None:
    """Raise ``ValueError`` naming the argument when the inference settings are unusable."""
    if tile_size is not None and tile_size < 1:
        raise ValueError(f"tile_size: expected None or an integer >= 1, got {tile_size}")
    if tile_overlap < 0 or (tile_size is not None and tile_overlap >= tile_size):
        raise ValueError(
            f"tile_overlap: expected an integer >= 0 and below tile_size ({tile_size}), got "
            f"{tile_overlap}"
        )
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode: expected one of {PAD_MODES}, got {pad_mode!r}")


class NativePrediction(pl.LightningModule):
    """Prediction hooks of ``ImagePredictionModule`` (a base class of it; needs ``generator``,
    ``tile_size``, ``tile_overlap`` and ``pad_mode`` attributes).

    Tasks override :meth:`predict_input` (batch -> generator input; needs no target) and
    :meth:`complete_prediction` (e.g. inpainting keeps the known pixels).
    """

    generator: nn.Module
    tile_size: int | None = None
    tile_overlap: int = 32
    pad_mode: str = "reflect"

    # --------------------------------------------------------------------- task hooks
    def predict_input(self, batch: Any) -> torch.Tensor:
        """The generator's input for a batch that may have no target: ``batch["input"]`` (or the
        batch itself when it is a tensor)."""
        return batch if isinstance(batch, torch.Tensor) else batch["input"]

    def complete_prediction(
        self, prediction: torch.Tensor, generator_input: torch.Tensor
    ) -> torch.Tensor:
        """The final prediction from the generator's output and its input. Default: unchanged."""
        return prediction

    # ------------------------------------------------------------------------ inference
    def predict_native(self, generator_input: torch.Tensor) -> torch.Tensor:
        """Predict ``(B, C, H, W)`` inputs of any size; returns ``(B, 3, s*H, s*W)`` float32 in
        ``[-1, 1]`` (``s``: the generator's scale, e.g. 4 for 4x super-resolution).

        The input is padded (``pad_mode``) to the multiple the generator needs (its
        ``divisor``) and the output cropped back, never resized. With ``tile_size`` set, inputs
        larger than it are predicted in overlapping tiles of ``tile_size`` input pixels, blended
        over ``tile_overlap`` pixels (see :func:`cfl_lightning.modules.prediction.predict_tiled`
        for when tiles equal whole-image inference). Runs the generator in eval mode without
        gradients (its mode is restored after).
        """
        generator = self.generator
        was_training = generator.training
        generator.eval()
        try:
            with torch.no_grad():
                raw = predict_native(
                    generator,
                    generator_input,
                    multiple=size_multiple(generator),
                    tile_size=self.tile_size,
                    tile_overlap=self.tile_overlap,
                    pad_mode=self.pad_mode,
                )
                prediction = self.complete_prediction(raw, generator_input.float())
        finally:
            generator.train(was_training)
        return prediction.clamp(-1.0, 1.0)

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        """Returns ``{"prediction": (B, 3, H', W') in [-1, 1], "name": [...] | None, "path":
        [...] | None}``: ``name`` is the input's path relative to the predict folder without
        extension (inputs read with ``predict_root``), ``path`` the input (or target) file."""
        prediction = self.predict_native(self.predict_input(batch))
        names = batch.get("name") if isinstance(batch, Mapping) else None
        paths = batch.get("path") if isinstance(batch, Mapping) else None
        return {"prediction": prediction, "name": names, "path": paths}

    # ----------------------------------------------------------------------- checkpoints
    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Lightning's ``load_from_checkpoint`` with pretrained feature extractors deferred: the
        losses' VGG19/ResNet weights come from the checkpoint, no weights file is read and nothing
        is downloaded (see :mod:`cfl_lightning.networks.deferred_weights`). Checkpoints written by
        ``cfl fit`` rebuild the whole module from their hyperparameters (no config needed)."""
        with deferred_pretrained_weights():
            return super().load_from_checkpoint(checkpoint_path, *args, **kwargs)

    # ---------------------------------------------------------------------------- export
    def export_onnx(
        self,
        file_path: str | Path,
        input_shape: tuple[int, int, int, int],
        dynamic_size: bool = True,
        **kwargs: Any,
    ) -> None:
        """Export the generator (``forward``) to ONNX through Lightning's ``to_onnx`` (needs the
        ``onnx`` extra: ``pip install cfl_lightning[onnx]``).

        ``input_shape``: ``(B, C, H, W)`` of the example input (H, W multiples of the generator's
        divisor). ``dynamic_size``: let batch, height and width vary in the exported graph (the
        U-Net, pix2pixHD and super-resolution generators export so); ``False`` fixes them to
        ``input_shape`` (needed for ``SPADEGenerator``, whose resizing of the label map to every
        layer's size does not export with symbolic sizes). ``kwargs`` go to
        ``torch.onnx.export``. The graph is the bare generator in eval mode, input ``"input"``,
        output ``"prediction"``: pad inputs to its multiple (and composite inpainting results)
        yourself, or use :meth:`predict_native` around an ONNX runtime session. Needs torch >= 2.8
        (``RuntimeError`` otherwise: earlier exporters write wrong graphs or fail).
        """
        check_onnx_exporter()
        example = torch.zeros(input_shape, device=self.device)
        was_training = self.training
        self.eval()
        settings: dict[str, Any] = {
            "input_names": ["input"],
            "output_names": ["prediction"],
            "dynamo": True,
            "verbose": False,
        }
        if dynamic_size:
            batch, height, width = (torch.export.Dim(n) for n in ("batch", "height", "width"))
            settings["dynamic_shapes"] = {"generator_input": {0: batch, 2: height, 3: width}}
        settings.update(kwargs)
        try:
            self.to_onnx(str(file_path), example, **settings)
        except Exception as error:
            if not dynamic_size:
                raise
            raise ValueError(
                f"dynamic_size: {type(self.generator).__name__} could not be exported with a "
                f"variable input size ({type(error).__name__}); pass dynamic_size=False to export "
                f"it for inputs of shape {tuple(input_shape)}"
            ) from error
        finally:
            self.train(was_training)
