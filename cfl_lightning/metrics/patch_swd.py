"""Multi-scale sliced Wasserstein distance between patch distributions (Karras et al. 2018)."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from cfl_lightning.metrics.inputs import check_image_batches, check_input_range, to_unit_interval
from cfl_lightning.metrics.pyramid import laplacian_pyramid

NORMALIZATIONS = ("reference", "per_set", "joint")
CALIBRATIONS = ("none", "split_half")


def sliced_wasserstein_distance(
    a: torch.Tensor, b: torch.Tensor, directions: torch.Tensor
) -> torch.Tensor:
    """Sliced 1-Wasserstein distance between two equal-sized point sets.

    ``a``, ``b``: ``(N, D)``; ``directions``: ``(D, P)`` unit columns. Each set is projected on
    each direction; with equally many points the 1-D distance is the mean absolute difference of
    the sorted projections. Returns the mean over points and directions (a scalar).
    """
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(
            f"a, b: expected equal (N, D) shapes, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    # Sorting each direction's values along a contiguous last dimension: about twice as fast on
    # the CPU as sorting the (N, P) product along dim 0, with the same result.
    projected_a = torch.sort((directions.T @ a.T).contiguous(), dim=1).values
    projected_b = torch.sort((directions.T @ b.T).contiguous(), dim=1).values
    return (projected_a - projected_b).abs().mean()


def channel_statistics(
    descriptors: torch.Tensor, channels: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and population std per colour channel over all patches and pixels.

    ``descriptors``: ``(N, channels * k * k)`` flattened in ``(channel, row, column)`` order.
    Returns two ``(1, channels, 1)`` tensors; the std is clamped to at least 1e-8.
    """
    grouped = descriptors.reshape(descriptors.shape[0], channels, -1)
    mean = grouped.mean(dim=(0, 2), keepdim=True)
    std = grouped.std(dim=(0, 2), keepdim=True, correction=0).clamp_min(1e-8)
    return mean, std


def normalize_descriptors(
    descriptors: torch.Tensor, channels: int, statistics_of: torch.Tensor | None = None
) -> torch.Tensor:
    """Subtract the per-channel mean and divide by the per-channel std of ``statistics_of``
    (default: ``descriptors`` itself, which then get zero mean and unit std per channel).

    ``descriptors``, ``statistics_of``: ``(N, channels * k * k)`` and ``(M, channels * k * k)``
    flattened in ``(channel, row, column)`` order.
    """
    source = descriptors if statistics_of is None else statistics_of
    mean, std = channel_statistics(source, channels)
    grouped = descriptors.reshape(descriptors.shape[0], channels, -1)
    return ((grouped - mean) / std).reshape(descriptors.shape)


def normalize_pair(
    a: torch.Tensor, b: torch.Tensor, normalization: str, channels: int = 3
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalise descriptors ``a`` (compared) and ``b`` (reference), both ``(N, channels * k *
    k)``, as :class:`PatchSWD`'s ``normalization`` says."""
    if normalization == "reference":
        return normalize_descriptors(a, channels, statistics_of=b), normalize_descriptors(
            b, channels
        )
    if normalization == "per_set":
        return normalize_descriptors(a, channels), normalize_descriptors(b, channels)
    joint = normalize_descriptors(torch.cat([a, b]), channels)
    return joint[: a.shape[0]], joint[a.shape[0] :]


def auto_num_levels(height: int, width: int, min_level_size: int = 16) -> int:
    """Karras' level count: halve the shorter side while >= ``min_level_size`` (at least 1)."""
    size, levels = min(height, width), 0
    while size >= min_level_size:
        levels += 1
        size //= 2
    return max(levels, 1)


class PatchSWD(Metric):
    """Sliced Wasserstein distance between the patch distributions of predictions and targets.

    The "MS-SWD" of Karras et al. 2018 (Progressive GAN): per level of a Laplacian pyramid of the
    images (finest first), ``patches_per_image`` random ``patch_size``-square patches per image
    give ``3 * patch_size**2``-dimensional descriptors; at compute, each level's descriptors are
    normalised per colour channel (see ``normalization``), projected on random unit directions
    and compared by the mean absolute difference of the sorted projections. ``compute()`` returns
    the mean over levels (root mean square of calibrated levels, see ``calibration``),
    ``compute_levels()`` the per-level values. The package's primary realism metric,
    ``patch_swd`` of :func:`quality_metrics`, is this class with ``calibration="split_half"``.
    Lower is better; identical sets give 0. Karras report these values times 1000 (with
    ``normalization="per_set"``).

    Determinism: the patch positions of the k-th image this instance sees (counted since the last
    ``reset``) come from ``torch.Generator().manual_seed((seed << 32) + k)``, so they do not depend
    on how images are batched; prediction and target share positions. Directions: a generator
    seeded ``seed`` draws, for each level then each repeat, ``torch.randn(D, num_projections)``,
    columns normalised to unit length. Under DDP each process counts its own images; all
    descriptors are gathered before normalisation, so the statistics are global.

    Memory: all descriptors are kept (``2 * levels * patches_per_image * 3 * patch_size**2``
    floats per image, ~0.45 MB per image with the defaults at 3 levels); pass
    ``compute_on_cpu=True`` to keep them on the CPU.

    Args:
        patch_size: side of the square patches (default 7).
        num_levels: pyramid levels; ``None`` (default): halve the shorter side down to 16 pixels.
        patches_per_image: patches drawn (with replacement) per image and level (default 128).
        num_projections: random directions per repeat (default 512).
        num_repeats: repeats of ``num_projections`` directions, averaged (default 4).
        seed: seed of the patch positions and directions (default 0).
        input_range: value range of the inputs (default ``(-1, 1)``), mapped to ``[0, 1]``.
        normalization: which set's per-channel mean and std (per level) both sets are scaled by.
            ``"reference"`` (default): the targets' only, so every prediction set is measured in
            the same units and a loss of contrast, colour or sharpness (less band energy) counts;
            not symmetric in ``preds`` and ``target``. ``"per_set"`` (Karras et al.): each set by
            its own statistics, so per-channel offsets and gains are ignored and blur, greyness
            and colour casts move it far less (``benchmarks/results/metric_check.md``).
            ``"joint"``: statistics of both sets together (symmetric, but the units depend on
            the predictions).
        calibration: ``"none"`` (default): ``compute()`` is the mean of the per-level distances
            (Karras' MS-SWD). ``"split_half"``: each level's distance is divided by that level's
            distance between two random halves of the targets (by image, normalised the same way,
            the same directions; mean over ``calibration_splits`` splits), i.e. it is measured in
            units of the reference set's own sampling spread at that scale, and ``compute()`` is
            the root mean square over levels, so a difference confined to one band (noise, a
            colour cast) is not averaged away by bands that are at their noise level. A second
            sample of the targets' distribution scores below 1 (the halves are half as large;
            0.62-0.65 in ``benchmarks/results/metric_check.md``); needs at least 2 target
            images (NaN otherwise). Under DDP the halves are drawn from the gathered images (in
            rank order): every rank gets the same value; like the patch positions, they change
            with the number of processes.
        calibration_splits: random halvings averaged for ``"split_half"`` (default 4).
        kwargs: torchmetrics ``Metric`` options (e.g. ``compute_on_cpu``).
    """

    higher_is_better = False
    is_differentiable = False
    full_state_update = False

    def __init__(
        self,
        patch_size: int = 7,
        num_levels: int | None = None,
        patches_per_image: int = 128,
        num_projections: int = 512,
        num_repeats: int = 4,
        seed: int = 0,
        input_range: tuple[float, float] = (-1.0, 1.0),
        normalization: Literal["reference", "per_set", "joint"] = "reference",
        calibration: Literal["none", "split_half"] = "none",
        calibration_splits: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for name, value in (
            ("patch_size", patch_size),
            ("patches_per_image", patches_per_image),
            ("num_projections", num_projections),
            ("num_repeats", num_repeats),
            ("calibration_splits", calibration_splits),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        if num_levels is not None and (not isinstance(num_levels, int) or num_levels < 1):
            raise ValueError(f"num_levels: expected None or a positive int, got {num_levels!r}")
        if not isinstance(seed, int) or not 0 <= seed < 2**31:
            raise ValueError(f"seed: expected an int in [0, 2**31), got {seed!r}")
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"normalization: expected one of {NORMALIZATIONS}, got {normalization!r}"
            )
        self.patch_size = patch_size
        self.num_levels = num_levels
        self.patches_per_image = patches_per_image
        self.num_projections = num_projections
        self.num_repeats = num_repeats
        self.seed = seed
        self.input_range = check_input_range(input_range)
        if calibration not in CALIBRATIONS:
            raise ValueError(f"calibration: expected one of {CALIBRATIONS}, got {calibration!r}")
        self.normalization = normalization
        self.calibration = calibration
        self.calibration_splits = calibration_splits
        # (patches, levels, 3 * patch_size**2) per update
        self.add_state("pred_descriptors", default=[], dist_reduce_fx="cat")
        self.add_state("target_descriptors", default=[], dist_reduce_fx="cat")
        self._images_seen = 0  # images given to update since the last reset (patch positions)

    def levels_for(self, height: int, width: int) -> int:
        """Number of pyramid levels used for ``height x width`` images (``ValueError`` if too
        small for ``patch_size`` at the coarsest level)."""
        levels = self.num_levels or auto_num_levels(height, width)
        coarsest = (height, width)
        for _ in range(levels - 1):
            coarsest = ((coarsest[0] + 1) // 2, (coarsest[1] + 1) // 2)
        if min(coarsest) < self.patch_size:
            raise ValueError(
                f"preds: {height}x{width} images give a {coarsest[0]}x{coarsest[1]} coarsest level "
                f"with num_levels={levels}, smaller than patch_size={self.patch_size}; use larger "
                "images, fewer levels or a smaller patch_size"
            )
        return levels

    def _patch_positions(self, first_index: int, count: int, levels: int) -> torch.Tensor:
        """Uniform numbers ``(count, levels, patches_per_image, 2)`` for images ``first_index ..
        first_index + count - 1`` (one generator seeding per image: batching-independent)."""
        generator = torch.Generator()
        draws = []
        for index in range(first_index, first_index + count):
            generator.manual_seed((self.seed << 32) + index)
            draws.append(torch.rand(levels, self.patches_per_image, 2, generator=generator))
        return torch.stack(draws)

    def _descriptors(self, level: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
        """Patches of ``level`` ``(B, C, h, w)`` at positions from ``uniform`` ``(B, P, 2)`` in
        [0, 1): ``(B, P, C * k * k)`` in (channel, row, column) order."""
        batch, _, height, width = level.shape
        k = self.patch_size
        uniform = uniform.to(level.device)
        top = (uniform[..., 0] * (height - k + 1)).long().clamp(max=height - k)
        left = (uniform[..., 1] * (width - k + 1)).long().clamp(max=width - k)
        offsets = torch.arange(k, device=level.device)
        rows = (top[..., None] + offsets)[..., :, None]  # (B, P, k, 1)
        cols = (left[..., None] + offsets)[..., None, :]  # (B, P, 1, k)
        image = torch.arange(batch, device=level.device)[:, None, None, None]
        patches = level.permute(0, 2, 3, 1)[image, rows, cols]  # (B, P, k, k, C)
        return patches.permute(0, 1, 4, 2, 3).reshape(batch, uniform.shape[1], -1)

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        """``preds``, ``target``: ``(B, 3, H, W)`` float in ``input_range``."""
        check_image_batches(preds, target)
        batch, _, height, width = preds.shape
        levels = self.levels_for(height, width)
        if self.pred_descriptors and self.pred_descriptors[0].shape[1] != levels:
            raise ValueError(
                f"preds: {height}x{width} images give {levels} pyramid level(s), but earlier "
                f"images gave {self.pred_descriptors[0].shape[1]}; set num_levels to compare "
                "images of different sizes"
            )
        images = torch.cat(
            [to_unit_interval(preds, self.input_range), to_unit_interval(target, self.input_range)]
        )
        uniform = self._patch_positions(self._images_seen, batch, levels)
        uniform = torch.cat([uniform, uniform])  # the same positions for preds and targets
        pyramid = laplacian_pyramid(images, levels)
        descriptors = torch.stack(
            [self._descriptors(level, uniform[:, i]) for i, level in enumerate(pyramid)], dim=2
        )  # (2B, P, L, D)
        size = descriptors.shape[-1]
        self.pred_descriptors.append(descriptors[:batch].reshape(-1, levels, size))
        self.target_descriptors.append(descriptors[batch:].reshape(-1, levels, size))
        self._images_seen += batch

    def _distance(
        self, a: torch.Tensor, b: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        """Normalised sliced distance of one level's descriptors ``a`` (compared) and ``b``
        (reference), averaged over ``num_repeats`` direction sets drawn from ``generator``."""
        a, b = normalize_pair(a, b, self.normalization)
        repeats = []
        for _ in range(self.num_repeats):
            directions = torch.randn(a.shape[1], self.num_projections, generator=generator)
            directions = directions / directions.norm(dim=0, keepdim=True)
            repeats.append(sliced_wasserstein_distance(a, b, directions.to(a)))
        return torch.stack(repeats).mean()

    def _split_half_distances(self, targets: torch.Tensor) -> torch.Tensor:
        """Per-level distances ``(L,)`` between two random halves (by image) of the targets'
        descriptors ``(N * patches_per_image, L, D)``, mean over ``calibration_splits`` splits."""
        images = targets.shape[0] // self.patches_per_image
        levels = targets.shape[1]
        if images < 2:
            return torch.full((levels,), float("nan"), device=targets.device)
        per_image = targets.reshape(images, self.patches_per_image, levels, -1)
        half = images // 2
        order_generator = torch.Generator().manual_seed(self.seed + 1)
        totals = torch.zeros(levels, device=targets.device, dtype=targets.dtype)
        for _ in range(self.calibration_splits):
            order = torch.randperm(images, generator=order_generator).to(targets.device)
            first = per_image[order[:half]].flatten(0, 1)
            second = per_image[order[half : 2 * half]].flatten(0, 1)
            generator = torch.Generator().manual_seed(self.seed)  # the comparison's directions
            totals += torch.stack(
                [self._distance(first[:, i], second[:, i], generator) for i in range(levels)]
            )
        return totals / self.calibration_splits

    def _level_distances(
        self, preds: list | torch.Tensor, targets: list | torch.Tensor
    ) -> torch.Tensor:
        """Per-level distances from descriptor states ``(N, L, D)`` (or lists of them), divided
        by the targets' split-half distances with ``calibration="split_half"``."""
        if isinstance(preds, list) and not preds:
            return torch.full((1,), float("nan"), device=self.device)
        preds, targets = dim_zero_cat(preds), dim_zero_cat(targets)
        generator = torch.Generator().manual_seed(self.seed)
        distances = torch.stack(
            [
                self._distance(preds[:, level], targets[:, level], generator)
                for level in range(preds.shape[1])
            ]
        )
        if self.calibration == "split_half":
            distances = distances / self._split_half_distances(targets)
        return distances

    def _combine(self, levels: torch.Tensor) -> torch.Tensor:
        """Mean over levels, or their root mean square with ``calibration="split_half"``."""
        if self.calibration == "split_half":
            return levels.square().mean().sqrt()
        return levels.mean()

    def compute(self) -> torch.Tensor:
        """Mean over pyramid levels (root mean square with ``calibration="split_half"``; NaN
        before any update)."""
        return self._combine(self._level_distances(self.pred_descriptors, self.target_descriptors))

    def compute_levels(self) -> torch.Tensor:
        """Per-level distances ``(levels,)``, finest first (synchronised across processes; in
        split-half units with ``calibration="split_half"``)."""
        with self.sync_context(dist_sync_fn=self.dist_sync_fn, should_sync=self.sync_on_compute):
            return self._level_distances(self.pred_descriptors, self.target_descriptors)

    def forward(self, preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Accumulate like ``update`` and return the distance of this batch alone (patch positions
        continue the count of images, as in ``update``)."""
        self.update(preds, target)
        value = self._level_distances(self.pred_descriptors[-1], self.target_descriptors[-1])
        self._forward_cache = self._combine(value)
        return self._forward_cache

    def reset(self) -> None:
        """Clear the descriptors; patch positions restart from the first image's."""
        super().reset()
        self._images_seen = 0
