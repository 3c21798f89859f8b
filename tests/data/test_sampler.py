import pytest
import torch

from cfl_lightning.data import SyntheticTexturesDataModule
from cfl_lightning.data.augment_random import ItemKey
from cfl_lightning.data.resumable_loader import ResumableDataLoader
from cfl_lightning.data.sampler import EpochShuffleSampler, EvalShardSampler
from tests.modules.tiny import AugmentedPairs


def test_order_is_a_function_of_seed_and_epoch():
    data = list(range(50))
    a, b, other = (
        EpochShuffleSampler(data, 3),
        EpochShuffleSampler(data, 3),
        EpochShuffleSampler(data, 4),
    )
    first = list(a)
    assert sorted(first) == data and first == list(b)
    assert first != list(other)  # the seed changes the order
    a.set_epoch(1)
    assert sorted(list(a)) == data and list(EpochShuffleSampler(data, 3)) == first
    a.set_epoch(1)
    assert list(a) != first  # and so does the epoch


@pytest.mark.parametrize("replicas", [2, 3])
def test_ranks_take_disjoint_equal_shares_of_one_order(replicas):
    data = list(range(20))
    for epoch in range(3):
        shares = []
        for rank in range(replicas):
            sampler = EpochShuffleSampler(data, 5, num_replicas=replicas, rank=rank)
            sampler.set_epoch(epoch)
            shares.append(list(sampler))
            assert len(shares[-1]) == len(sampler) == 20 // replicas
        seen = [i for share in shares for i in share]
        assert len(set(seen)) == len(seen) == (20 // replicas) * replicas
        whole = EpochShuffleSampler(data, 5).order(epoch)
        assert [shares[r][k] for k in range(20 // replicas) for r in range(replicas)] == whole[
            : len(seen)
        ]


def test_augmented_datasets_get_epoch_keys_others_plain_indices():
    sampler = EpochShuffleSampler(AugmentedPairs(6), 0)
    sampler.set_epoch(2)
    keys = list(sampler)
    assert all(isinstance(k, ItemKey) and k.epoch == 2 for k in keys)
    assert sorted(k.index for k in keys) == list(range(6))
    assert all(isinstance(k, int) for k in EpochShuffleSampler(list(range(6)), 0))


def test_bad_rank():
    with pytest.raises(ValueError, match=r"rank, num_replicas: expected 0 <= rank < num_replicas"):
        EpochShuffleSampler(list(range(4)), num_replicas=2, rank=2)


def _loader(workers: int) -> ResumableDataLoader:
    dataset = AugmentedPairs(12, seed=1)
    return ResumableDataLoader(
        dataset, EpochShuffleSampler(dataset, 7), batch_size=2, num_workers=workers
    )


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_resumes_mid_epoch_from_its_position_with_any_workers(workers):
    straight = _loader(0)
    straight.sampler.set_epoch(1)
    expected = list(straight)  # epoch 1, 6 batches
    interrupted = _loader(0)
    interrupted.sampler.set_epoch(1)
    iterator = iter(interrupted)
    for _ in range(4):
        next(iterator)
    state = interrupted.state_dict()
    assert state == {"epoch": 1, "batches": 4}
    resumed = _loader(workers)  # a new loader, another number of workers, epoch not set
    resumed.load_state_dict(state)
    rest = list(resumed)
    assert len(rest) == 2
    for batch, want in zip(rest, expected[4:]):
        assert batch["path"] == want["path"] and torch.equal(batch["input"], want["input"])
    assert resumed.state_dict() == {"epoch": 1, "batches": 6}


def test_loader_state_at_the_end_of_an_epoch_resumes_at_the_next():
    loader = _loader(0)
    loader.load_state_dict({"epoch": 0, "batches": 6})
    following = _loader(0)
    following.sampler.set_epoch(1)
    assert [b["path"] for b in loader] == [b["path"] for b in following]


def test_eval_shards_cover_every_item_once_in_file_order():
    data = list(range(7))
    shards = [list(EvalShardSampler(data, 3, rank)) for rank in range(3)]
    assert shards == [[0, 3, 6], [1, 4], [2, 5]]
    assert [len(EvalShardSampler(data, 3, rank)) for rank in range(3)] == [3, 2, 2]


class FakeTrainer:
    def __init__(self, world_size: int, global_rank: int) -> None:
        self.world_size, self.global_rank = world_size, global_rank


@pytest.mark.parametrize(("val_size", "world_size"), [(1, 2), (3, 4)])
def test_a_validation_set_smaller_than_the_process_count_is_refused(val_size, world_size):
    data = SyntheticTexturesDataModule(train_size=8, val_size=val_size, image_size=16)
    data.trainer = FakeTrainer(world_size, 0)
    data.setup("fit")
    with pytest.raises(ValueError, match=rf"val: {val_size} item\(s\) cannot be shared by "):
        data.val_dataloader()


def test_every_rank_evaluates_when_there_are_as_many_items_as_processes():
    data = SyntheticTexturesDataModule(train_size=8, val_size=2, image_size=16, batch_size=4)
    for rank in (0, 1):
        data.trainer = FakeTrainer(2, rank)
        data.setup("fit")
        assert len(data.val_dataloader()) == 1
