"""Build a ``MetricCollection`` of image-quality metrics from a list of names (for configs)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from torchmetrics import Metric, MetricCollection
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from cfl_lightning.metrics.colorfulness import ColorfulnessRatio
from cfl_lightning.metrics.inception import FID, KID
from cfl_lightning.metrics.inputs import UnitRangeInput
from cfl_lightning.metrics.lpips import LPIPS
from cfl_lightning.metrics.patch_swd import PatchSWD
from cfl_lightning.metrics.sharpness import SharpnessRatio

QUALITY_METRICS = (
    "psnr",
    "ssim",
    "patch_swd",
    "patch_swd_per_set",
    "sharpness",
    "colorfulness",
    "fid",
    "kid",
    "lpips",
)
# The PatchSWD settings each name stands for (fixed: the name says what is measured).
PATCH_SWD_SETTINGS = {
    "patch_swd": {"normalization": "reference", "calibration": "split_half"},
    "patch_swd_per_set": {"normalization": "per_set", "calibration": "none"},
}


def build_quality_metric(
    name: str,
    input_range: tuple[float, float] = (-1.0, 1.0),
    inception_weights_path: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Metric:
    """One metric of :data:`QUALITY_METRICS` taking ``update(preds, target)`` with
    ``(B, 3, H, W)`` floats in ``input_range``; ``options`` go to its constructor.

    ``psnr``: mean per-image PSNR (dB) and ``ssim``: SSIM, both of torchmetrics on images mapped
    to ``[0, 1]``. ``patch_swd``: :class:`PatchSWD` with both sets normalised by the targets'
    statistics and each pyramid level in units of the targets' own split-half distance, root mean
    square over levels (``calibration="split_half"``; the primary realism metric: it sees blur,
    noise, JPEG, greyness, checkerboards and colour casts, see ``benchmarks/metric_check.py``;
    dimensionless, 0.6-0.7 for a second sample of the targets' distribution);
    ``patch_swd_per_set``: Karras et al.'s per-set normalisation, mean over levels (blind to
    per-channel gain and offset, so it barely sees blur, desaturation or a colour cast; kept for
    comparison with the literature, which reports it x1000); the settings are fixed by the name.
    ``fid``/``kid`` use ``inception_weights_path`` (see :class:`FID`); they and ``lpips`` warn and
    compute NaN when their weights are unavailable.
    """
    if name == "psnr":
        inner = PeakSignalNoiseRatio(**{"data_range": 1.0, "dim": (1, 2, 3), **options})
        return UnitRangeInput(inner, input_range)
    if name == "ssim":
        inner = StructuralSimilarityIndexMeasure(**{"data_range": 1.0, **options})
        return UnitRangeInput(inner, input_range)
    if name in ("fid", "kid"):
        options = {"weights_path": inception_weights_path, **options}
    if name in PATCH_SWD_SETTINGS:
        for key, expected in PATCH_SWD_SETTINGS[name].items():
            if options.get(key, expected) != expected:
                raise ValueError(
                    f"options: {name!r} is PatchSWD with {key}={expected!r}, got "
                    f"{key}={options[key]!r}; use the metric whose name says it"
                )
        options = {**options, **PATCH_SWD_SETTINGS[name]}
    classes = {
        "patch_swd": PatchSWD,
        "patch_swd_per_set": PatchSWD,
        "sharpness": SharpnessRatio,
        "colorfulness": ColorfulnessRatio,
        "fid": FID,
        "kid": KID,
        "lpips": LPIPS,
    }
    if name not in classes:
        raise ValueError(f"names: unknown metric {name!r}; expected some of {QUALITY_METRICS}")
    return classes[name](input_range=input_range, **options)


def quality_metrics(
    names: Sequence[str],
    input_range: tuple[float, float] = (-1.0, 1.0),
    inception_weights_path: str | os.PathLike[str] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    prefix: str | None = None,
) -> MetricCollection:
    """A ``MetricCollection`` of the named metrics (keys = names, e.g. ``["psnr", "patch_swd"]``).

    ``collection.update(preds, target)`` then ``collection.compute()`` -> ``{prefix + name:
    value}``. ``options`` maps a name to constructor arguments, e.g. ``{"patch_swd":
    {"num_projections": 128}}``. Metrics whose weights are unavailable offline warn once at
    construction and compute NaN, so validation goes on with the others. Compute groups are off
    (each metric keeps its own state).
    """
    names = list(names)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"names: each metric at most once, got {duplicates} repeated in {names}")
    options = dict(options or {})
    unknown = sorted(set(names) - set(QUALITY_METRICS))
    extra = sorted(set(options) - set(names))
    if unknown:
        raise ValueError(f"names: unknown metric(s) {unknown}; expected some of {QUALITY_METRICS}")
    if extra:
        raise ValueError(f"options: given for {extra}, which are not in names={names}")
    metrics = {
        name: build_quality_metric(
            name, input_range, inception_weights_path, **dict(options.get(name, {}))
        )
        for name in names
    }
    return MetricCollection(metrics, prefix=prefix, compute_groups=False)
