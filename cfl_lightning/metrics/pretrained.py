"""Base of the metrics that need a pretrained network (FID, KID, LPIPS): warn once and report NaN
when its weights cannot be had (offline, no file), so validation goes on with the other metrics."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Literal

import torch
from torchmetrics import Metric
from torchmetrics.utilities import rank_zero_warn
from torchmetrics.wrappers.abstract import WrapperMetric

from cfl_lightning.metrics.inputs import check_image_batches, check_input_range

ON_MISSING = ("warn", "raise")


class WeightsUnavailableError(RuntimeError):
    """The pretrained weights of a metric's network are neither on disk nor downloadable. The
    message names the file and where to put it."""


class PretrainedNetworkMetric(WrapperMetric):
    """Wraps a torchmetrics metric built by :meth:`build`; ``update(preds, target)`` for all.

    If :meth:`build` raises :class:`WeightsUnavailableError`, ``on_missing="warn"`` (default)
    warns once (on rank 0) with the message naming the file and where it goes; the metric is then
    unavailable (``available`` is False): ``update`` does nothing and ``compute`` returns NaN.
    ``on_missing="raise"`` raises instead.

    The wrapped metric and its network are deliberately not registered as a submodule: they stay
    out of ``state_dict`` (checkpoints neither carry ~100 MB of frozen weights nor depend on
    whether the weights were available), out of ``parameters()`` and out of DDP's broadcast;
    ``.to(device)`` still moves them. The wrapped metric synchronises its own states.
    """

    higher_is_better = False
    is_differentiable = False
    full_state_update = False

    def __init__(
        self,
        input_range: tuple[float, float] = (-1.0, 1.0),
        on_missing: Literal["warn", "raise"] = "warn",
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if on_missing not in ON_MISSING:
            raise ValueError(f"on_missing: expected one of {ON_MISSING}, got {on_missing!r}")
        self.input_range = check_input_range(input_range)
        try:
            wrapped = self.build(**kwargs)
        except WeightsUnavailableError as error:
            if on_missing == "raise":
                raise
            rank_zero_warn(str(error), UserWarning)
            wrapped = None
        object.__setattr__(self, "_wrapped", wrapped)  # bypasses submodule registration

    def build(self, **kwargs: Any) -> Metric:
        """Return the wrapped metric; raise :class:`WeightsUnavailableError` without weights."""
        raise NotImplementedError

    @property
    def available(self) -> bool:
        """Whether the network's weights were loaded (else ``compute`` returns NaN)."""
        return self._wrapped is not None

    @property
    def wrapped(self) -> Metric | None:
        """The wrapped torchmetrics metric, or None when unavailable."""
        return self._wrapped

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        """``preds``, ``target``: ``(B, 3, H, W)`` float in ``input_range``; ``preds`` are the
        generated images, ``target`` the real ones."""
        check_image_batches(preds, target)
        if self._wrapped is not None:
            self.update_wrapped(preds, target)

    def update_wrapped(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        raise NotImplementedError

    def compute(self) -> torch.Tensor:
        """The wrapped metric's value; NaN when unavailable."""
        if self._wrapped is None:
            return self.nan()
        return self.compute_wrapped()

    def compute_wrapped(self) -> torch.Tensor:
        return self._wrapped.compute()

    def forward(self, preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Accumulate like ``update``; returns NaN (set-level metrics have no per-batch value;
        subclasses with one override this)."""
        self.update(preds, target)
        return self.nan()

    def synced(self) -> AbstractContextManager[None]:
        """Context in which the wrapped metric's states are gathered from all processes (as in
        its own ``compute``), for subclasses that inspect them before computing."""
        wrapped = self._wrapped
        return wrapped.sync_context(
            dist_sync_fn=wrapped.dist_sync_fn, should_sync=wrapped.sync_on_compute
        )

    def nan(self) -> torch.Tensor:
        return torch.tensor(float("nan"), device=self.device)

    def reset(self) -> None:
        if self._wrapped is not None:
            self._wrapped.reset()
        super().reset()

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> PretrainedNetworkMetric:
        this = super()._apply(fn, *args, **kwargs)
        if self._wrapped is not None:
            self._wrapped._apply(fn)
        return this
