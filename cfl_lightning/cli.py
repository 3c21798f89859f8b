"""The ``cfl`` command: LightningCLI over the project's modules and DataModules.

cfl fit --config configs/quickstart.yaml
cfl fit --config configs/data/cityscapes.yaml --config configs/model/spade.yaml ...
cfl validate --config <same configs> --ckpt_path <checkpoint>
cfl predict --config <same configs> --ckpt_path <checkpoint>
"""

from __future__ import annotations

from pytorch_lightning.cli import LightningCLI

from cfl_lightning.data.base import ImageDataModule
from cfl_lightning.modules.image_prediction import ImagePredictionModule


class CFLCLI(LightningCLI):
    """LightningCLI in subclass mode: ``--model`` takes any ``ImagePredictionModule`` subclass and
    ``--data`` any ``ImageDataModule`` subclass, by ``class_path``."""


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
