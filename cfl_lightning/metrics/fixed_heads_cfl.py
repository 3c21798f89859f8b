"""CFL with fixed heads: a contrastive feature score comparable across epochs and runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchmetrics import Metric

from cfl_lightning.losses.contrastive_feature import ContrastiveFeatureLoss
from cfl_lightning.metrics.inputs import check_image_batches
from cfl_lightning.networks.vgg import DEFAULT_CFL_LAYERS, VGG19Features


class FixedHeadsCFL(Metric):
    """Contrastive feature loss of predictions against targets with identity heads (no trained
    critic), a fixed extractor and fixed patch locations, averaged per image over the set
    (lower is better).

    The CFL logged during training uses the co-trained critic heads, so its value moves when the
    heads move and cannot be compared across epochs or runs. This one depends only on the
    extractor, the settings below and the images: for a given image size the locations are drawn
    from ``seed`` alone (the same for every batch, rank and run), so each image's score does not
    depend on its batch, and the mean over the set equals the mean of per-image scores.

    Args:
        extractor: a feature extractor as :class:`ContrastiveFeatureLoss` takes it. A given
            extractor is *borrowed*: it is not part of this metric's ``state_dict`` and ``.to()``
            does not move it (its owner does, e.g. the LightningModule whose CFL term holds it); it
            should stay frozen for the score to be comparable. Default: VGG19 with random weights
            from ``seed`` (``weights``, ``input_range``, ``normalize_input``), owned by the metric.
        weights: VGG19 weights when ``extractor`` is None; default ``"random"``.
        layers, layer_weights, num_patches, temperature, bidirectional, query_negatives,
            input_range, normalize_input: as for :class:`ContrastiveFeatureLoss` (its defaults).
        seed: seed of the patch locations (and of the random VGG19 weights); default 0.
        kwargs: torchmetrics ``Metric`` options.

    ``update(preds, target)``: ``(B, C, H, W)`` float in ``input_range`` (``C`` the extractor's
    ``in_channels``, 3 for VGG19). ``compute()``: scalar
    float32 tensor (NaN before any update). States: the sum of per-image scores and the image
    count, summed across processes.
    """

    higher_is_better = False
    is_differentiable = False
    full_state_update = False

    def __init__(
        self,
        extractor: nn.Module | None = None,
        weights: str | Path = "random",
        layers: Sequence[str] | None = None,
        layer_weights: Sequence[float] | None = None,
        num_patches: int = 256,
        temperature: float = 0.07,
        bidirectional: bool = True,
        query_negatives: bool | str = True,
        input_range: tuple[float, float] = (-1.0, 1.0),
        normalize_input: bool = True,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed: expected an integer, got {seed!r}")
        borrowed = extractor is not None
        if extractor is None:
            extractor = VGG19Features(
                layers=tuple(layers) if layers is not None else DEFAULT_CFL_LAYERS,
                weights=weights,
                input_range=input_range,
                normalize_input=normalize_input,
                seed=seed,
            )
        loss = ContrastiveFeatureLoss(
            extractor=extractor,
            layers=layers,
            layer_weights=layer_weights,
            num_patches=num_patches,
            temperature=temperature,
            head="identity",
            bidirectional=bidirectional,
            query_negatives=query_negatives,
            input_range=input_range,
        )
        if borrowed:  # a tuple: not a registered submodule (no state_dict keys, not moved)
            self._borrowed = (loss,)
        else:
            self.cfl = loss
        self.seed = seed
        self._locations: dict[tuple, torch.Tensor] = {}
        self.add_state("score_sum", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0), dist_reduce_fx="sum")

    @classmethod
    def from_loss(cls, loss: ContrastiveFeatureLoss, seed: int = 0, **kwargs: Any) -> FixedHeadsCFL:
        """The fixed-heads score of ``loss``'s settings (layers, layer weights, patches,
        temperature, directions, input range), borrowing its extractor (no second network)."""
        return cls(
            extractor=loss.extractor,
            layers=loss.layers,
            layer_weights=[loss.layer_weights[name] for name in loss.layers],
            num_patches=loss.num_patches,
            temperature=loss.temperature,
            bidirectional=loss.bidirectional,
            query_negatives=loss.query_negatives,
            input_range=loss.input_range,
            seed=seed,
            **kwargs,
        )

    @property
    def loss(self) -> ContrastiveFeatureLoss:
        """The identity-head :class:`ContrastiveFeatureLoss` that computes the score."""
        return self._borrowed[0] if hasattr(self, "_borrowed") else self.cfl

    def locations(self, image_size: Sequence[int], device: torch.device | str) -> torch.Tensor:
        """The fixed patch locations for images of size ``(H, W)`` (or any shape ending with it):
        ``(L, n)`` int64 on ``device``, drawn from ``seed`` (see
        :meth:`ContrastiveFeatureLoss.draw_locations`)."""
        height, width = (int(v) for v in tuple(image_size)[-2:])
        key = (height, width, torch.device(device))
        if key not in self._locations:
            generator = torch.Generator().manual_seed(self.seed)
            drawn = self.loss.draw_locations((height, width), generator)
            self._locations[key] = drawn.to(device)
        return self._locations[key]

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        """``preds``, ``target``: ``(B, C, H, W)`` float in ``input_range``, ``C`` the
        extractor's ``in_channels`` (3 for VGG19)."""
        check_image_batches(preds, target, channels=self.loss.image_channels)
        locations = self.locations(preds.shape, preds.device)
        with torch.no_grad():
            batch_mean = self.loss(preds, target, locations=locations)
        self.score_sum += batch_mean * preds.shape[0]  # every image has the same number of rows
        self.count += preds.shape[0]

    def compute(self) -> torch.Tensor:
        return self.score_sum / self.count
