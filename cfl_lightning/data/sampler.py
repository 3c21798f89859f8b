"""The training sampler: a shuffle that is a pure function of (seed, epoch), split across ranks."""

from __future__ import annotations

from collections.abc import Iterator, Sized

import torch
from torch.utils.data import DistributedSampler

from cfl_lightning.data.augment_random import EpochAugmentedDataset, ItemKey


class EpochShuffleSampler(DistributedSampler):
    """Visit each index at most once per epoch, in an order drawn from ``(seed, epoch)`` alone,
    rank ``rank`` of ``num_replicas`` taking every ``num_replicas``-th index of that order.

    The order is the same on every rank, so the ranks' shares are disjoint and together cover the
    epoch; the ``len % num_replicas`` last indices of the order are left out (a different few each
    epoch) so that every rank gets the same number. With one replica the order is the whole
    permutation. Datasets derived from
    :class:`~cfl_lightning.data.augment_random.EpochAugmentedDataset` receive
    ``ItemKey(index, epoch)`` so that their augmentations are keyed by the epoch too; other
    datasets receive plain indices.

    Lightning calls ``set_epoch`` at the start of every epoch and, as this is a
    ``DistributedSampler``, keeps it under DDP instead of substituting its own. ``start`` (set by
    :class:`~cfl_lightning.data.resumable_loader.ResumableDataLoader` when a run resumes) skips
    that many indices of this rank's share at the next iteration only. Without Lightning the epoch
    advances after each full pass.

    Args:
        data_source: the dataset.
        seed: seed of the order; default 0.
        num_replicas, rank: the number of processes and this one's rank; default 1 and 0.
    """

    def __init__(
        self, data_source: Sized, seed: int = 0, num_replicas: int = 1, rank: int = 0
    ) -> None:
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(
                f"rank, num_replicas: expected 0 <= rank < num_replicas, got rank={rank}, "
                f"num_replicas={num_replicas}"
            )
        super().__init__(
            data_source,  # type: ignore[arg-type]
            num_replicas=num_replicas,
            rank=rank,
            shuffle=True,
            seed=int(seed),
            drop_last=True,
        )
        self.data_source = data_source
        self.start = 0
        self.item_keys = isinstance(data_source, EpochAugmentedDataset)

    def order(self, epoch: int) -> list[int]:
        """The whole epoch's order (every rank's share interleaved)."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.data_source), generator=generator).tolist()

    def __len__(self) -> int:
        return len(self.data_source) // self.num_replicas

    def __iter__(self) -> Iterator[int | ItemKey]:
        epoch, start = self.epoch, self.start
        self.start = 0
        share = self.order(epoch)[self.rank :: self.num_replicas][start : len(self)]
        if self.item_keys:
            yield from (ItemKey(index, epoch) for index in share)
        else:
            yield from share
        self.epoch = epoch + 1


class EvalShardSampler(DistributedSampler):
    """Validation/test/predict order, split across ranks without padding: rank ``r`` takes
    indices ``r, r + n, r + 2n, ...`` in file order, so every item is evaluated exactly once
    (Lightning's default distributed sampler pads with repeats, which would count some images
    twice in the metrics). Ranks may get one item fewer than others.

    Args:
        data_source: the dataset.
        num_replicas, rank: the number of processes and this one's rank.
    """

    def __init__(self, data_source: Sized, num_replicas: int, rank: int) -> None:
        super().__init__(
            data_source,  # type: ignore[arg-type]
            num_replicas=num_replicas,
            rank=rank,
            shuffle=False,
        )
        self.data_source = data_source

    def __len__(self) -> int:
        return len(range(self.rank, len(self.data_source), self.num_replicas))

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, len(self.data_source), self.num_replicas))
