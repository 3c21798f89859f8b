"""Deferred pretrained weights: build a feature extractor for a checkpoint without reading its file.

Only training needs the ImageNet weights of a loss's feature extractor (VGG19, ResNet): a
checkpoint carries them in its state dict. Inside :func:`deferred_pretrained_weights` (entered by
``ImagePredictionModule.load_from_checkpoint`` and by ``cfl predict|validate|test --ckpt_path``) an
extractor asked for pretrained weights builds its layers without reading or downloading anything
and marks them pending. Loading a state dict that holds all of its tensors clears the mark; a
forward with the weights still pending loads the file then (and fails there, with the usual
message naming the file, if it is missing). Outside the context (training), weights load at
construction as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

_DEFERRED: ContextVar[bool] = ContextVar("cfl_deferred_pretrained_weights", default=False)


@contextmanager
def deferred_pretrained_weights(enabled: bool = True) -> Iterator[None]:
    """Within this context, extractors built with pretrained weights defer reading them (see the
    module's docstring). ``enabled=False`` is a no-op, for conditional use."""
    token = _DEFERRED.set(bool(enabled) or _DEFERRED.get())
    try:
        yield
    finally:
        _DEFERRED.reset(token)


def pretrained_weights_deferred() -> bool:
    """Whether the current code runs inside :func:`deferred_pretrained_weights`."""
    return _DEFERRED.get()


class DeferredWeights:
    """Mixin (before ``nn.Module`` in the bases) for extractors whose pretrained weights can be
    deferred. Subclasses call :meth:`defer_weights` instead of loading in ``__init__``, implement
    ``load_pretrained(weights)`` and call :meth:`ensure_weights` at the start of ``forward``."""

    _pending_weights: str | Path | None = None

    def defer_weights(self, weights: str | Path) -> bool:
        """Mark ``weights`` pending and return True inside :func:`deferred_pretrained_weights`
        (for anything but ``"random"``); return False (the caller loads them now) otherwise."""
        if (isinstance(weights, str) and weights == "random") or not pretrained_weights_deferred():
            return False
        self._pending_weights = weights
        return True

    @property
    def weights_pending(self) -> bool:
        """True while the pretrained weights are neither loaded from their file nor from a state
        dict."""
        return self._pending_weights is not None

    def load_pretrained(self, weights: str | Path) -> None:
        raise NotImplementedError

    def ensure_weights(self) -> None:
        """Load pending weights from their file (first forward without a checkpoint's state)."""
        if self._pending_weights is None:
            return
        weights = self._pending_weights
        try:
            self.load_pretrained(weights)
        except (RuntimeError, ValueError) as error:
            raise type(error)(
                f"{type(self).__name__}: its pretrained weights ({weights!r}) were deferred "
                "because it was built to load a checkpoint, and no checkpoint provided them; "
                f"running it needs the file: {error}"
            ) from error
        self._pending_weights = None

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)  # type: ignore[misc]
        if self._pending_weights is None:
            return
        own = self.state_dict(keep_vars=True)  # type: ignore[attr-defined]
        if all(prefix + key in state_dict for key in own):
            self._pending_weights = None
