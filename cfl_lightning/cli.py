"""The ``cfl`` command: LightningCLI over the project's modules and DataModules.

cfl fit --config configs/quickstart.yaml
cfl fit --config configs/cityscapes_spade_cfl.yaml --data.root /path/to/cityscapes
cfl validate --config <same configs> --ckpt_path <checkpoint>
cfl predict --config <same configs> --ckpt_path <checkpoint> [--data.predict_root DIR]

A config states each fact once. What the data decides is linked into the model when both are
built (``DATA_LINKS``): the model's config leaves those arguments out, and a value given there
that disagrees with the data's is an error. Where a DataModule does not say (a DataModule of your
own without the attribute), the model's value stands. Channel counts of generators and
discriminators are derived by the task module (see ``cfl_lightning.modules.TaskModule``).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jsonargparse import Namespace
from pytorch_lightning.callbacks import BasePredictionWriter
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI

from cfl_lightning.callbacks.prediction_writer import PredictionWriter
from cfl_lightning.data.base import ImageDataModule
from cfl_lightning.modules.image_prediction import ImagePredictionModule
from cfl_lightning.networks.deferred_weights import deferred_pretrained_weights

_SILENT = object()  # a DataModule that does not state a fact


def degradation_factor(degradation: Any) -> int | None:
    """The downscaling factor of a degradation (``SuperResolution.factor``), else None."""
    return getattr(degradation, "factor", None)


@dataclass(frozen=True)
class DataLink:
    """A model argument that the ``cfl`` command takes from the built DataModule.

    ``compute`` maps the DataModule's ``attribute`` to the argument's value (None: as it is).
    jsonargparse applies the link only where the DataModule has the attribute and the model's
    class has the argument.
    """

    attribute: str
    argument: str
    compute: Callable[[Any], Any] | None = None
    source: str = ""

    def value(self, data: Any) -> Any:
        """The DataModule's value for the argument, or ``_SILENT`` when it does not say."""
        if not hasattr(data, self.attribute):
            return _SILENT
        value = getattr(data, self.attribute)
        if self.compute is None:
            return value
        value = self.compute(value)
        return _SILENT if value is None else value


DATA_LINKS = (
    DataLink("num_classes", "num_classes", source="data.num_classes"),
    DataLink("dontcare_label", "dontcare_label", source="data.dontcare_label"),
    DataLink("has_instances", "use_instances", source="data.has_instances"),
    DataLink("input_channels", "input_channels", source="data.input_channels"),
    DataLink("degradation", "scale", degradation_factor, source="data.degradation.factor"),
)


def stated_link_arguments(model_config: Namespace | None) -> dict[str, Any]:
    """The linked arguments that a parsed model config sets to something else than nobody's
    value (the class default, or None for a required argument)."""
    if not isinstance(model_config, Namespace) or "class_path" not in model_config:
        return {}
    init_args = model_config.get("init_args") or Namespace()
    model_class = _import(model_config.class_path)
    stated = {}
    for link in DATA_LINKS:
        if link.argument in init_args and model_class is not None:
            value = init_args[link.argument]
            if value != _unset_value(model_class, link.argument):
                stated[link.argument] = value
    return stated


def check_links_agree(stated: dict[str, Any], data: Any) -> None:
    """Raise ``ValueError`` when the model's config states a linked fact that the data states
    otherwise: the config would disagree with itself."""
    for link in DATA_LINKS:
        if link.argument not in stated:
            continue
        value = link.value(data)
        if value is not _SILENT and value != stated[link.argument]:
            raise ValueError(
                f"model.init_args.{link.argument}: got {stated[link.argument]!r}, but the data "
                f"gives {value!r} ({link.source}); the cfl command takes it from the data: state "
                "it once, in the data's config, and leave it out of the model's"
            )


def drop_unapplied_links(model: Any, model_config: Namespace | None) -> None:
    """Remove from ``model.hparams`` the linked arguments that its class does not take.

    jsonargparse skips a link whose target argument the chosen model class lacks (the scale of a
    label -> image model), but still reports it as applied, and LightningCLI then writes the
    data's value into the model's hyperparameters; a checkpoint holding it could not rebuild
    the model. The arguments the class takes are those of its parsed config.
    """
    init_args = model_config.get("init_args") if isinstance(model_config, Namespace) else None
    for link in DATA_LINKS:
        if isinstance(init_args, Namespace) and link.argument in init_args:
            continue
        for hparams in (getattr(model, "_hparams", None), getattr(model, "_hparams_initial", None)):
            if hparams is not None:
                hparams.pop(link.argument, None)


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


def _unset_value(model_class: type, name: str) -> Any:
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
    factor) into the model.

    ``predict``/``validate``/``test`` with ``--ckpt_path`` build the losses' feature extractors
    without reading their pretrained weights (the checkpoint holds them), and ``predict`` writes
    images by default (see :meth:`predict`).
    """

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        for link in DATA_LINKS:
            parser.link_arguments(
                f"data.{link.attribute}",
                f"model.init_args.{link.argument}",
                compute_fn=link.compute,
                apply_on="instantiate",
            )

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        super().parse_arguments(parser, args)
        # Read before LightningCLI merges a checkpoint's hyperparameters (they hold the linked
        # values) and before the links overwrite them.
        subcommand = self.config.get("subcommand")
        config = self.config[subcommand] if subcommand else self.config
        self.stated_by_model = stated_link_arguments(config.get("model"))

    def after_instantiate_classes(self) -> None:
        check_links_agree(getattr(self, "stated_by_model", {}), self.datamodule)
        drop_unapplied_links(self.model, self._get(self.config, "model"))
        check_data_fits_model(self.model, self.datamodule)

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
