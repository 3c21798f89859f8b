"""Lightning's "Found N module(s) in eval mode at the start of training" warning, kept for the
modules a user did not expect in eval mode.

Every fit with CFL or the VGG loss would print it: their feature extractors are frozen and pinned in
eval mode on purpose (batch-norm statistics, dropout), and so are the networks inside metrics (FID's
Inception, LPIPS). :class:`IntendedEvalModules` hides the warning only when the modules it counts
are exactly those; any other module in eval mode changes the count, and the warning is shown.
"""

from __future__ import annotations

import re
import warnings

from torch import nn
from torchmetrics import Metric

from cfl_lightning.networks.frozen import FrozenFeatureExtractor

_MESSAGE = "Found {} module(s) in eval mode at the start of training."


def intended_eval_modules(model: nn.Module) -> int:
    """How many of ``model``'s modules (each counted once, as ``named_modules`` does) are in eval
    mode by design: inside a frozen feature extractor or inside a torchmetrics ``Metric``."""
    owners = [
        m
        for m in model.modules()
        if (isinstance(m, FrozenFeatureExtractor) and m.frozen) or isinstance(m, Metric)
    ]
    intended = {id(sub) for owner in owners for sub in owner.modules()}
    return sum(1 for _, m in model.named_modules() if not m.training and id(m) in intended)


class IntendedEvalModules:
    """``hide(model)`` before Lightning's check (``on_fit_start``), ``restore()`` after it
    (``on_train_start``): between them, the warning with exactly the intended count is ignored."""

    def __init__(self) -> None:
        self._filter: tuple | None = None

    def hide(self, model: nn.Module) -> None:
        self.restore()
        count = intended_eval_modules(model)
        if count == 0:
            return
        warnings.filterwarnings("ignore", message=re.escape(_MESSAGE.format(count)))
        self._filter = warnings.filters[0]

    def restore(self) -> None:
        # An "ignore" filter leaves nothing in the warning registries: removing it is enough.
        if self._filter is not None and self._filter in warnings.filters:
            warnings.filters.remove(self._filter)
        self._filter = None
