"""Random augmentation of training items, keyed by (seed, epoch, item).

A training dataset that crops, flips, masks or adds noise at random draws every random number of
item ``index`` in epoch ``epoch`` from ``AugmentationRandom(seed, epoch, index)``, never from
torch's global RNG. So the augmentation of an item is a pure function of (seed, epoch, index):

- ranks and DataLoader workers get different streams, because each item of an epoch goes to one
  rank and one worker (the sampler partitions them);
- the streams do not depend on the number of ranks or workers, nor on what was drawn before, so a
  run resumed in the middle of an epoch (on any number of processes) redraws exactly the same
  augmentations, and no loader or worker state has to be saved for them.

The sampler (:class:`~cfl_lightning.data.sampler.EpochShuffleSampler`) hands an
:class:`ItemKey` ``(index, epoch)`` to datasets derived from :class:`EpochAugmentedDataset`; a
plain integer index means epoch 0.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch.utils.data import Dataset

from cfl_lightning.seeding import derive_seed


class ItemKey(NamedTuple):
    """What the training sampler passes to an :class:`EpochAugmentedDataset`."""

    index: int
    epoch: int


def unpack_key(key: int | ItemKey | tuple[int, int]) -> ItemKey:
    """``ItemKey`` of a sampler key; an integer index means epoch 0."""
    if isinstance(key, tuple):
        return ItemKey(int(key[0]), int(key[1]))
    return ItemKey(int(key), 0)


class AugmentationRandom:
    """The random stream of one training item: a ``torch.Generator`` seeded from
    ``(seed, "augment", epoch, index)``.

    Args:
        seed: the DataModule's ``seed`` (default 0).
        epoch, index: the epoch and the item.
    """

    def __init__(self, seed: int | None = 0, epoch: int = 0, index: int = 0) -> None:
        self.seed = 0 if seed is None else int(seed)
        self.epoch = int(epoch)
        self.index = int(index)
        self.generator = torch.Generator().manual_seed(
            derive_seed(self.seed, "augment", self.epoch, self.index)
        )

    def uniform(self) -> float:
        """One float in ``[0, 1)``."""
        return float(torch.rand((), generator=self.generator))

    def randint(self, high: int) -> int:
        """One integer in ``[0, high)``; 0 when ``high <= 1``."""
        return int(torch.randint(max(high, 1), (), generator=self.generator))

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])


class EpochAugmentedDataset(Dataset):
    """Base of datasets whose training items are randomised per (seed, epoch, item).

    Subclasses implement :meth:`get_item`; ``dataset[key]`` accepts an index or an
    :class:`ItemKey` and passes the item's :class:`AugmentationRandom` (seeded with ``self.seed``).
    """

    seed: int = 0

    def get_item(self, index: int, random: AugmentationRandom) -> dict[str, Any]:
        """Item ``index`` with its random draws taken from ``random``."""
        raise NotImplementedError

    def __getitem__(self, key: int | ItemKey) -> dict[str, Any]:
        index, epoch = unpack_key(key)
        return self.get_item(index, AugmentationRandom(self.seed, epoch, index))
