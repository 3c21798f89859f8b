"""Image-quality metrics (torchmetrics ``Metric``s, DDP-safe): weights-free ones (PatchSWD,
SharpnessRatio, ColorfulnessRatio, FixedHeadsCFL) and offline-tolerant wrappers of FID, KID and
LPIPS."""

from cfl_lightning.metrics.collection import (
    QUALITY_METRICS,
    build_quality_metric,
    quality_metrics,
)
from cfl_lightning.metrics.colorfulness import ColorfulnessRatio, colorfulness
from cfl_lightning.metrics.fixed_heads_cfl import FixedHeadsCFL
from cfl_lightning.metrics.inception import (
    FID,
    INCEPTION_WEIGHTS_URL,
    KID,
    inception_weights_cache_path,
    load_inception,
)
from cfl_lightning.metrics.inputs import UnitRangeInput, to_unit_interval
from cfl_lightning.metrics.lpips import LPIPS, lpips_backbone_cache_path
from cfl_lightning.metrics.patch_swd import PatchSWD, sliced_wasserstein_distance
from cfl_lightning.metrics.pretrained import PretrainedNetworkMetric, WeightsUnavailableError
from cfl_lightning.metrics.pyramid import laplacian_pyramid
from cfl_lightning.metrics.sharpness import (
    SharpnessRatio,
    gradient_magnitude_map,
    mean_gradient_magnitude,
)

__all__ = [
    "FID",
    "INCEPTION_WEIGHTS_URL",
    "KID",
    "LPIPS",
    "QUALITY_METRICS",
    "ColorfulnessRatio",
    "FixedHeadsCFL",
    "PatchSWD",
    "PretrainedNetworkMetric",
    "SharpnessRatio",
    "UnitRangeInput",
    "WeightsUnavailableError",
    "build_quality_metric",
    "colorfulness",
    "gradient_magnitude_map",
    "inception_weights_cache_path",
    "laplacian_pyramid",
    "load_inception",
    "lpips_backbone_cache_path",
    "mean_gradient_magnitude",
    "quality_metrics",
    "sliced_wasserstein_distance",
    "to_unit_interval",
]
