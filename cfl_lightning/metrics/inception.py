"""FID and KID (torchmetrics) with offline Inception-v3 weights: ``weights_path`` or the torch hub
cache, and a warning plus NaN instead of a crash when neither has them."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from torchmetrics import Metric
from torchmetrics.image.fid import FrechetInceptionDistance, NoTrainInceptionV3
from torchmetrics.image.kid import KernelInceptionDistance
from torchmetrics.utilities import dim_zero_cat, rank_zero_warn
from torchmetrics.utilities.imports import _TORCH_FIDELITY_AVAILABLE

from cfl_lightning.metrics.inputs import to_unit_interval
from cfl_lightning.metrics.pretrained import PretrainedNetworkMetric, WeightsUnavailableError

# torch-fidelity's Inception-v3 (TF FID weights converted to PyTorch); torchmetrics uses it too.
INCEPTION_WEIGHTS_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
    "weights-inception-2015-12-05-6726825d.pth"
)
INCEPTION_FEATURES = (64, 192, 768, 2048)


def inception_weights_cache_path() -> Path:
    """Where torch-fidelity looks for (and downloads) the Inception weights:
    ``$TORCH_HOME/hub/checkpoints/weights-inception-2015-12-05-6726825d.pth``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(INCEPTION_WEIGHTS_URL)


def _unavailable_message(metric: str, reason: str) -> str:
    cache = inception_weights_cache_path()
    return (
        f"{metric}: the Inception-v3 weights are not available ({reason}). Download "
        f"{INCEPTION_WEIGHTS_URL} on a machine with internet access and put it at {cache} "
        f"(folder {cache.parent}; set TORCH_HOME to move it), or pass weights_path='<file>'. "
        f"Until then {metric} records nothing and computes NaN; the other metrics are unaffected."
    )


def load_inception(
    feature: int, weights_path: str | os.PathLike[str] | None, metric: str
) -> nn.Module:
    """torchmetrics' frozen Inception-v3 giving ``feature``-dim features from uint8 images.

    ``weights_path``: a torch-fidelity Inception state-dict file; ``None``: the torch hub cache
    (downloaded there if missing and online). Raises :class:`WeightsUnavailableError` when the
    file is missing or cannot be downloaded, ``ValueError`` for a bad ``feature``.
    """
    if feature not in INCEPTION_FEATURES:
        raise ValueError(f"feature: expected one of {INCEPTION_FEATURES}, got {feature!r}")
    if not _TORCH_FIDELITY_AVAILABLE:
        raise WeightsUnavailableError(
            f"{metric}: the Inception-v3 network needs torch-fidelity (pip install "
            "torch-fidelity); "
            f"until then {metric} records nothing and computes NaN."
        )
    path = None
    if weights_path is not None:
        path = Path(weights_path)
        if not path.is_file():
            raise WeightsUnavailableError(
                _unavailable_message(metric, f"weights_path={str(weights_path)!r}: no such file")
            )
    try:
        network = NoTrainInceptionV3(
            name="inception-v3-compat",
            features_list=[str(feature)],
            feature_extractor_weights_path=None if path is None else str(path),
        )
    except OSError as error:  # URLError, HTTPError, timeouts: no file and no download
        raise WeightsUnavailableError(
            _unavailable_message(metric, f"not in the cache, download failed: {error}")
        ) from error
    network.num_features = feature  # spares torchmetrics a dummy forward pass
    return network


def to_uint8(images: torch.Tensor, input_range: tuple[float, float]) -> torch.Tensor:
    """``input_range`` floats -> uint8 ``[0, 255]`` (clipped, rounded), as Inception expects."""
    return (to_unit_interval(images, input_range) * 255.0).round().to(torch.uint8)


class FID(PretrainedNetworkMetric):
    """Fréchet Inception Distance between predictions and targets (torchmetrics), lower is better.

    ``update(preds, target)``: ``(B, 3, H, W)`` floats in ``input_range``, converted to uint8 and
    resized to 299x299 by torchmetrics; ``target`` feeds the real statistics, ``preds`` the
    generated ones. NaN with fewer than 2 images per side, or when the weights are unavailable
    (see :class:`PretrainedNetworkMetric`, which also explains why the network is kept out of
    ``state_dict``). ``forward`` accumulates and returns NaN (FID of one batch means little).

    Args:
        feature: Inception feature size, 64, 192, 768 or 2048 (default, the standard FID).
        weights_path: torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth`` (or a state
            dict of the same network); ``None``: the torch hub cache, downloaded if online.
        input_range: value range of the inputs (default ``(-1, 1)``).
        on_missing: ``"warn"`` (default) or ``"raise"`` when the weights are unavailable.
        kwargs: torchmetrics ``Metric`` options for the wrapped metric.
    """

    def __init__(
        self,
        feature: int = 2048,
        weights_path: str | os.PathLike[str] | None = None,
        input_range: tuple[float, float] = (-1.0, 1.0),
        on_missing: Literal["warn", "raise"] = "warn",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            input_range, on_missing, feature=feature, weights_path=weights_path, **kwargs
        )

    def build(self, feature: int, weights_path: Any, **kwargs: Any) -> Metric:
        network = load_inception(feature, weights_path, "FID")
        return FrechetInceptionDistance(feature=network, normalize=False, **kwargs)

    def update_wrapped(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self._wrapped.update(to_uint8(target, self.input_range), real=True)
        self._wrapped.update(to_uint8(preds, self.input_range), real=False)

    def compute_wrapped(self) -> torch.Tensor:
        fid = self._wrapped
        with self.synced():
            count = min(int(fid.real_features_num_samples), int(fid.fake_features_num_samples))
            if count < 2:
                rank_zero_warn(f"FID: needs at least 2 images, got {count}; returning NaN")
                return self.nan()
            return type(fid).compute(fid).float()


class KID(PretrainedNetworkMetric):
    """Kernel Inception Distance (mean over subsets, torchmetrics), lower is better.

    Inputs and unavailability as for :class:`FID`. ``subset_size`` is lowered to the number of
    images when fewer were seen (NaN below 2). Subsets are drawn from a CPU RNG seeded ``seed``
    inside a forked RNG state: the value is reproducible and the global RNG is left untouched.
    All features are kept until ``compute`` (``N x feature`` floats per side).

    Args:
        feature, weights_path, input_range, on_missing, kwargs: as for :class:`FID`.
        subsets, subset_size, degree, gamma, coef: torchmetrics ``KernelInceptionDistance``
            options (defaults 100, 1000, 3, None, 1.0).
        seed: seed of the subset draws (default 0).
    """

    def __init__(
        self,
        feature: int = 2048,
        weights_path: str | os.PathLike[str] | None = None,
        subsets: int = 100,
        subset_size: int = 1000,
        degree: int = 3,
        gamma: float | None = None,
        coef: float = 1.0,
        seed: int = 0,
        input_range: tuple[float, float] = (-1.0, 1.0),
        on_missing: Literal["warn", "raise"] = "warn",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            input_range,
            on_missing,
            feature=feature,
            weights_path=weights_path,
            subsets=subsets,
            subset_size=subset_size,
            degree=degree,
            gamma=gamma,
            coef=coef,
            **kwargs,
        )
        self.subset_size = subset_size
        self.seed = seed

    def build(self, feature: int, weights_path: Any, **kwargs: Any) -> Metric:
        network = load_inception(feature, weights_path, "KID")
        with warnings.catch_warnings():  # "will save all extracted features": documented above
            warnings.filterwarnings("ignore", message=".*save all extracted features.*")
            return KernelInceptionDistance(feature=network, normalize=False, **kwargs)

    def update_wrapped(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self._wrapped.update(to_uint8(target, self.input_range), real=True)
        self._wrapped.update(to_uint8(preds, self.input_range), real=False)

    def compute_wrapped(self) -> torch.Tensor:
        kid = self._wrapped
        with self.synced():
            counts = [
                0 if isinstance(v, list) and not v else dim_zero_cat(v).shape[0]
                for v in (kid.real_features, kid.fake_features)
            ]
            count = min(counts)
            if count < 2:
                rank_zero_warn(f"KID: needs at least 2 images, got {count}; returning NaN")
                return self.nan()
            kid.subset_size = min(self.subset_size, count)
            try:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(self.seed)
                    mean, _ = type(kid).compute(kid)
            finally:
                kid.subset_size = self.subset_size
            return mean.float()
