"""The ``cfl`` command: LightningCLI over the project's modules and DataModules.

cfl fit --config configs/quickstart.yaml
cfl fit --config configs/data/cityscapes.yaml --config configs/model/spade.yaml ...
cfl validate --config <same configs> --ckpt_path <checkpoint>
cfl predict --config <same configs> --ckpt_path <checkpoint>

A config states each fact once. What the data decides is linked into the model when both are
built (``DATA_LINKS``): a model argument that is a link target is left out of the config, and
giving it anyway is an error. Channel counts of generators and discriminators are derived by the
task module (see ``cfl_lightning.modules.TaskModule``).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from jsonargparse import Namespace
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI

from cfl_lightning.data.base import ImageDataModule
from cfl_lightning.modules.image_prediction import ImagePredictionModule


def super_resolution_factor(data: Any) -> int | None:
    """The downscaling factor of a DataModule's degradation (``SuperResolution.factor``), or
    None when it has none."""
    return getattr(getattr(data, "degradation", None), "factor", None)


# (source on the built DataModule, target argument of the model, function of the source or None,
# the source in words). A link applies only where the DataModule has the source attribute and the
# model's class has the argument; elsewhere jsonargparse skips it.
DATA_LINKS: tuple[tuple[str, str, Any, str], ...] = (
    ("data.num_classes", "num_classes", None, "data.num_classes"),
    ("data.dontcare_label", "dontcare_label", None, "data.dontcare_label"),
    ("data.has_instances", "use_instances", None, "data.has_instances"),
    ("data.input_channels", "input_channels", None, "data.input_channels"),
    ("data", "scale", super_resolution_factor, "data.degradation.factor"),
)


def linked_model_arguments() -> tuple[str, ...]:
    """Names of the model arguments that the ``cfl`` command takes from the data."""
    return tuple(link[1] for link in DATA_LINKS)


def check_links_not_given(model_config: Namespace | None) -> None:
    """Raise ``ValueError`` when a parsed model config sets an argument that is linked from the
    data to anything but its default: the config would state that fact twice."""
    if not isinstance(model_config, Namespace) or "class_path" not in model_config:
        return
    init_args = model_config.get("init_args") or Namespace()
    model_class = _import(model_config.class_path)
    if model_class is None:
        return
    for name in linked_model_arguments():
        if name not in init_args:
            continue
        value = init_args[name]
        if value != _link_default(model_class, name):
            source = next(link[3] for link in DATA_LINKS if link[1] == name)
            raise ValueError(
                f"model.init_args.{name}: got {value!r}, but the cfl command takes it from the "
                f"data ({source}); state it once, in the data's config, and leave it out of the "
                "model's"
            )


def drop_unapplied_links(model: Any, model_config: Namespace | None) -> None:
    """Remove from ``model.hparams`` the linked arguments that its class does not take.

    jsonargparse skips a link whose target argument the chosen model class lacks (the scale of a
    label -> image model), but still reports it as applied, and LightningCLI then writes the
    data's value into the model's hyperparameters; a checkpoint holding it could not rebuild
    the model. The arguments the class takes are those of its parsed config.
    """
    init_args = model_config.get("init_args") if isinstance(model_config, Namespace) else None
    for name in linked_model_arguments():
        if isinstance(init_args, Namespace) and name in init_args:
            continue
        for hparams in (getattr(model, "_hparams", None), getattr(model, "_hparams_initial", None)):
            if hparams is not None:
                hparams.pop(name, None)


def check_data_fits_model(model: Any, data: Any) -> None:
    """Raise ``ValueError`` when the data's inputs have another channel count than the model's
    generator reads (e.g. a colorization model on denoising data)."""
    given = getattr(data, "input_channels", None)
    expected = getattr(model, "input_channels", None)
    if isinstance(given, int) and isinstance(expected, int) and given != expected:
        raise ValueError(
            f"data: {type(data).__name__} gives {given}-channel inputs, but "
            f"{type(model).__name__} reads {expected}; choose a model for this task, or the "
            "data's degradation for this model"
        )


def _import(class_path: str) -> type | None:
    module_name, _, name = class_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError):
        return None


def _link_default(model_class: type, name: str) -> Any:
    """What jsonargparse puts in a config for an argument that nobody gave: its default, and
    None for a required argument that is a link target."""
    for cls in inspect.getmro(model_class):
        init = cls.__dict__.get("__init__")
        if init is None:
            continue
        parameter = inspect.signature(init).parameters.get(name)
        if parameter is not None:
            return None if parameter.default is inspect.Parameter.empty else parameter.default
    return None


class CFLCLI(LightningCLI):
    """LightningCLI in subclass mode: ``--model`` takes any ``ImagePredictionModule`` subclass and
    ``--data`` any ``ImageDataModule`` subclass, by ``class_path``; ``DATA_LINKS`` carry the
    data's facts (classes, don't-care id, instance maps, input channels, super-resolution
    factor) into the model."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        for source, target, compute, _ in DATA_LINKS:
            parser.link_arguments(
                source, f"model.init_args.{target}", compute_fn=compute, apply_on="instantiate"
            )

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        super().parse_arguments(parser, args)
        # Before LightningCLI merges a checkpoint's hyperparameters, which hold the linked values.
        subcommand = self.config.get("subcommand")
        config = self.config[subcommand] if subcommand else self.config
        check_links_not_given(config.get("model"))

    def after_instantiate_classes(self) -> None:
        drop_unapplied_links(self.model, self._get(self.config, "model"))
        check_data_fits_model(self.model, self.datamodule)


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
