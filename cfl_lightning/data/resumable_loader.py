"""The training DataLoader, resumable in the middle of an epoch on any number of processes and
workers: its whole state is its position, ``(epoch, batches yielded in that epoch)``.

The order of an epoch is a pure function of ``(seed, epoch)``
(:class:`~cfl_lightning.data.sampler.EpochShuffleSampler`) and each item's augmentation a pure
function of ``(seed, epoch, item)``, so no worker or dataset state has to be saved: restoring the
position makes the sampler skip the batches already trained on, without loading them, and every
following batch is the one an uninterrupted run would have produced.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch.utils.data import DataLoader, Dataset

from cfl_lightning.data.sampler import EpochShuffleSampler


class ResumableDataLoader(DataLoader):
    """A ``DataLoader`` over an :class:`EpochShuffleSampler` with ``state_dict`` /
    ``load_state_dict`` (Lightning saves them in checkpoints and restores them on resume).

    Args:
        dataset: the dataset.
        sampler: its epoch-seeded sampler (the last partial batch is always dropped).
        **kwargs: other ``DataLoader`` arguments (``batch_size``, ``num_workers``, ...).
    """

    def __init__(self, dataset: Dataset, sampler: EpochShuffleSampler, **kwargs: Any) -> None:
        if not isinstance(sampler, EpochShuffleSampler):
            raise ValueError(
                f"sampler: expected an EpochShuffleSampler, got {type(sampler).__name__}"
            )
        super().__init__(dataset, sampler=sampler, drop_last=True, **kwargs)
        self._epoch = sampler.epoch
        self._batches = 0

    def __iter__(self) -> Iterator[Any]:
        sampler: EpochShuffleSampler = self.sampler  # type: ignore[assignment]
        self._epoch = sampler.epoch
        self._batches = sampler.start // int(self.batch_size or 1)
        for batch in super().__iter__():
            self._batches += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        """``{"epoch", "batches"}``: the current epoch and the batches yielded in it."""
        return {"epoch": self._epoch, "batches": self._batches}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Make the next iteration continue after ``state``'s position (the next epoch's start
        when that epoch was complete)."""
        sampler: EpochShuffleSampler = self.sampler  # type: ignore[assignment]
        epoch, batches = int(state["epoch"]), int(state["batches"])
        if batches >= len(self):
            epoch, batches = epoch + 1, 0
        sampler.set_epoch(epoch)
        sampler.start = batches * int(self.batch_size or 1)
        self._epoch, self._batches = epoch, batches
