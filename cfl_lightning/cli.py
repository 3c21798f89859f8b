"""The ``cfl`` command: LightningCLI over the project's modules and DataModules.

cfl fit --config configs/quickstart.yaml
cfl fit --config configs/data/cityscapes.yaml --config configs/model/spade.yaml ...
cfl validate --config <same configs> --ckpt_path <checkpoint>
cfl predict --config <same configs> --ckpt_path <checkpoint> [--data.predict_root DIR]
"""

from __future__ import annotations

from typing import Any

from pytorch_lightning.callbacks import BasePredictionWriter
from pytorch_lightning.cli import LightningCLI

from cfl_lightning.callbacks.prediction_writer import PredictionWriter
from cfl_lightning.data.base import ImageDataModule
from cfl_lightning.modules.image_prediction import ImagePredictionModule
from cfl_lightning.networks.deferred_weights import deferred_pretrained_weights


class CFLCLI(LightningCLI):
    """LightningCLI in subclass mode: ``--model`` takes any ``ImagePredictionModule`` subclass and
    ``--data`` any ``ImageDataModule`` subclass, by ``class_path``.

    ``predict``/``validate``/``test`` with ``--ckpt_path`` build the losses' feature extractors
    without reading their pretrained weights (the checkpoint holds them), and ``predict`` writes
    images by default (see :meth:`predict`).
    """

    def instantiate_classes(self) -> None:
        loads_checkpoint = self.subcommand in ("predict", "validate", "test") and bool(
            self.config[self.subcommand].get("ckpt_path")
        )
        with deferred_pretrained_weights(loads_checkpoint):
            super().instantiate_classes()

    def predict(self, **kwargs: Any) -> Any:
        """``trainer.predict`` with a ``PredictionWriter`` (to ``<log_dir>/predictions``) added
        when no prediction writer is configured, and predictions not kept in memory unless
        ``--return_predictions true``."""
        if not any(isinstance(c, BasePredictionWriter) for c in self.trainer.callbacks):
            self.trainer.callbacks.append(PredictionWriter())
        if kwargs.get("return_predictions") is None:
            kwargs["return_predictions"] = False
        return self.trainer.predict(**kwargs)


def build_cli(args: list[str] | None = None, run: bool = True) -> CFLCLI:
    """Parse ``args`` (default: ``sys.argv``), build model, data and trainer, and run the
    subcommand unless ``run=False``. Returns the CLI (``.model``, ``.datamodule``, ``.trainer``)."""
    return CFLCLI(
        ImagePredictionModule,
        ImageDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        seed_everything_default=0,
        save_config_kwargs={"overwrite": True},
        args=args,
        run=run,
        auto_configure_optimizers=False,
    )


def main() -> None:
    """Entry point of the ``cfl`` console command."""
    build_cli()


if __name__ == "__main__":
    main()
