"""Resuming a fit from a checkpoint written with a weight-averaging callback (Lightning's
``WeightAveraging``, ``EMAWeightAveraging``) when the resumed fit has no such callback."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytorch_lightning.callbacks import WeightAveraging
from pytorch_lightning.utilities import rank_zero_warn


def resume_current_weights(checkpoint: dict[str, Any], callbacks: Sequence[Any]) -> None:
    """Such a checkpoint's ``state_dict`` holds the averaged weights and ``current_model_state``
    the weights training had reached, which its optimizer states belong to. With the callback
    given again, the callback restores both. Without it, the fit would go on from the average
    with the optimizer states of the other weights: the current weights are put in
    ``state_dict`` instead (before Lightning loads it) and a warning says that the average is
    not carried on."""
    if "current_model_state" not in checkpoint:
        return
    if any(isinstance(callback, WeightAveraging) for callback in callbacks):
        return
    checkpoint["state_dict"] = checkpoint["current_model_state"]
    rank_zero_warn(
        "ckpt_path: the checkpoint was written with a weight-averaging callback (e.g. "
        "EMAWeightAveraging) and this fit has none: training resumes from the weights it had "
        "reached (not from their average, which is not carried on). Give the same callback "
        "again to keep averaging."
    )
