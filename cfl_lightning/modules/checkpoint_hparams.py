"""Which ``__init__`` arguments a module keeps out of its checkpoint's hyperparameters.

A module built by ``LightningCLI`` (``cfl fit``) receives its whole config as plain data (the
``class_path``/``init_args`` of its generator, losses, discriminator and optimizers): kept in the
checkpoint, it lets ``load_from_checkpoint`` rebuild every part through jsonargparse, without the
config file and without pickled code. A module built in plain Python receives objects instead
(``nn.Module``s, functions): those stay out of the hyperparameters, so that the checkpoint still
loads with ``torch.load(weights_only=True)``; loading it then needs them passed again
(``load_from_checkpoint(path, generator=...)``) unless the defaults build them.
"""

from __future__ import annotations

from collections.abc import Sequence

try:  # Lightning >= 2.3: the config LightningCLI passes to the module being built
    from pytorch_lightning.core.mixins.hparams_mixin import _given_hyperparameters
except ImportError:  # pragma: no cover - older Lightning: always ignore
    _given_hyperparameters = None


def built_by_cli() -> bool:
    """Whether the module being constructed gets its hyperparameters from LightningCLI's config."""
    return _given_hyperparameters is not None and _given_hyperparameters.get() is not None


def hparams_to_ignore(object_arguments: Sequence[str]) -> list[str]:
    """``object_arguments`` (arguments that take objects) when built in plain Python; nothing when
    built by LightningCLI, whose values are plain config data."""
    return [] if built_by_cli() else list(object_arguments)
