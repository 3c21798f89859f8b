"""How DataLoader workers start: fork, except under DDP where a fork can deadlock."""

from types import SimpleNamespace

import pytest
import torch
from pytorch_lightning.accelerators import CPUAccelerator

import cfl_lightning.data.base as base
import cfl_lightning.data.worker_start as worker_start
from cfl_lightning.data.worker_start import (
    check_start_method,
    fork_can_deadlock,
    worker_start_method,
)
from tests.modules.tiny import AugmentedPairsDataModule


@pytest.mark.parametrize(
    ("version", "implementation", "deadlocks"),
    [
        ((3, 10, 13), "CPython", True),  # this machine's pyenv 3.10
        ((3, 10, 14), "CPython", True),
        ((3, 10, 15), "CPython", False),  # gh-112275 fixed
        ((3, 11, 0), "CPython", True),
        ((3, 11, 7), "CPython", True),  # this machine's .venv
        ((3, 11, 9), "CPython", True),
        ((3, 11, 10), "CPython", False),  # fixed
        ((3, 12, 0), "CPython", False),  # fixed before its release
        ((3, 13, 0), "CPython", False),
        ((3, 11, 7), "PyPy", False),
    ],
)
def test_fork_can_deadlock_on_the_cpython_releases_without_the_fix(
    version, implementation, deadlocks
):
    assert fork_can_deadlock(version, implementation) is deadlocks


def test_a_start_method_is_kept_when_asked_and_dropped_without_workers():
    for method in ("fork", "forkserver", "spawn"):
        assert worker_start_method(method, num_workers=2, world_size=2) == method
        assert worker_start_method(method, num_workers=0, world_size=2) is None
    assert worker_start_method(None, num_workers=0, world_size=2) is None


def test_an_unknown_start_method_is_refused_with_the_value():
    with pytest.raises(ValueError, match=r"multiprocessing_context: .*got 'threads'"):
        check_start_method("threads")
    with pytest.raises(ValueError, match=r"multiprocessing_context: .*'forkserver'.*got 'thread'"):
        AugmentedPairsDataModule(multiprocessing_context="thread")


def attached(data: AugmentedPairsDataModule, world_size: int) -> AugmentedPairsDataModule:
    """``data`` under a stand-in Trainer of ``world_size`` processes (this one rank 0)."""
    data.trainer = SimpleNamespace(
        world_size=world_size, global_rank=0, accelerator=CPUAccelerator()
    )
    return data


def start_methods(data: AugmentedPairsDataModule) -> list:
    loaders = [data.train_dataloader(), data.val_dataloader(), data.test_dataloader()]
    return [
        None
        if loader.multiprocessing_context is None
        else loader.multiprocessing_context.get_start_method()
        for loader in loaders
    ]


@pytest.mark.parametrize("deadlocks", [True, False])
def test_ddp_workers_start_by_forkserver_only_where_a_fork_can_deadlock(monkeypatch, deadlocks):
    monkeypatch.setattr(worker_start, "fork_can_deadlock", lambda: deadlocks)
    monkeypatch.setattr(base, "fork_can_deadlock", lambda: deadlocks)
    monkeypatch.setattr(worker_start.multiprocessing, "get_start_method", lambda allow_none: None)
    ddp = attached(AugmentedPairsDataModule(size=8, num_workers=2, batch_size=2), world_size=2)
    expected = "forkserver" if deadlocks else None
    assert start_methods(ddp) == [expected] * 3
    # one process, or no workers: the platform's default, whatever the Python
    single = attached(AugmentedPairsDataModule(size=8, num_workers=2, batch_size=2), 1)
    assert start_methods(single) == [None] * 3
    no_workers = attached(AugmentedPairsDataModule(size=8, batch_size=2), world_size=2)
    assert start_methods(no_workers) == [None] * 3
    # a start method set for the whole program is not overridden
    monkeypatch.setattr(
        worker_start.multiprocessing, "get_start_method", lambda allow_none: "spawn"
    )
    assert start_methods(ddp) == [None] * 3
    # asked for: kept, with a warning where it can deadlock
    asked = attached(
        AugmentedPairsDataModule(
            size=8, num_workers=2, batch_size=2, multiprocessing_context="fork"
        ),
        world_size=2,
    )
    if deadlocks:
        with pytest.warns(UserWarning, match=r"'fork' on Python .* gh-112275"):
            assert start_methods(asked) == ["fork"] * 3
    else:
        assert start_methods(asked) == ["fork"] * 3


def epoch(data: AugmentedPairsDataModule) -> list:
    batches = []
    for loader in (data.train_dataloader(), data.val_dataloader()):
        batches += [(b["path"], b["input"], b["image"]) for b in loader]
    return batches


@pytest.mark.slow
def test_forkserver_workers_yield_exactly_the_batches_of_forked_workers():
    # Items draw their augmentations from (seed, epoch, item) alone, so the start method
    # cannot change what a run trains on (the DDP tests run with forkserver on affected Pythons).
    runs = {
        method: epoch(
            AugmentedPairsDataModule(
                size=8, num_workers=2, batch_size=2, multiprocessing_context=method
            )
        )
        for method in ("fork", "forkserver")
    }
    fork, forkserver = runs["fork"], runs["forkserver"]
    assert len(fork) == len(forkserver) == 4 + 2
    for (paths_a, input_a, image_a), (paths_b, input_b, image_b) in zip(fork, forkserver):
        assert paths_a == paths_b
        torch.testing.assert_close(input_a, input_b, rtol=0, atol=0)
        torch.testing.assert_close(image_a, image_b, rtol=0, atol=0)
    # and the training crops are random (not the same crop for every item)
    assert len({tuple(b[1].flatten()[:4].tolist()) for b in fork[:4]}) == 4
