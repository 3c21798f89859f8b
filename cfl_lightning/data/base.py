"""Common base of the DataModules: splits and DataLoader settings."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.accelerators import CPUAccelerator
from pytorch_lightning.utilities import rank_zero_info, rank_zero_warn
from torch.utils.data import DataLoader, Dataset

from cfl_lightning.data.resumable_loader import ResumableDataLoader
from cfl_lightning.data.sampler import EpochShuffleSampler, EvalShardSampler
from cfl_lightning.data.worker_start import (
    check_start_method,
    fork_can_deadlock,
    preload_in_forkserver,
    worker_start_method,
)

if TYPE_CHECKING:
    from cfl_lightning.data.predict_inputs import PredictInputs

SPLITS = ("train", "val", "test")


def check_each_rank_evaluates(split: str, items: int, num_replicas: int) -> None:
    """Raise ``ValueError`` when a non-empty ``split`` has fewer items than processes: a rank
    without a batch would skip the epoch-end reductions of the metrics that the others wait in.
    """
    if 0 < items < num_replicas:
        raise ValueError(
            f"{split}: {items} item(s) cannot be shared by {num_replicas} processes (each "
            f"evaluates at least one; items are never repeated, so that no image counts twice); "
            f"hold out at least {num_replicas} items (e.g. a larger val_ratio or more files), or "
            "run this split on fewer devices"
        )


class ImageDataModule(pl.LightningDataModule):
    """Base DataModule: subclasses implement ``build_dataset(split)``.

    Batches are dicts: ``"image"`` float ``(B, 3, H, W)`` in ``[-1, 1]`` (the target), ``"path"``
    (list of str), and per task ``"label"`` long ``(B, H, W)``, ``"instance"`` long ``(B, H, W)``,
    or ``"input"`` float ``(B, C, H, W)``.

    Randomness: every stream is a pure function of seeds, so runs repeat and resume exactly on
    any number of processes and workers. ``seed`` decides training randomness: the order of each
    epoch (``EpochShuffleSampler``, a pure function of ``(seed, epoch)``, split across ranks
    without overlap) and the augmentations of each item (keyed by ``(seed, epoch, item)``).
    ``split_seed`` decides the data: which files are held out for validation where a DataModule
    holds some out, generated items, and the validation/test degradations. Changing ``seed``
    never changes the validation set.

    The train loader is a ``ResumableDataLoader`` (last partial batch dropped) whose state is its
    position in the epoch, so that a run resumed mid-epoch continues with the same batches, with
    any number of workers. Under DDP the sampler is kept (it is a ``DistributedSampler``), each
    rank taking its share of the epoch.

    Args:
        batch_size: images per batch and device; default 1 (SPADE/pix2pix use 1 per GPU or more).
        num_workers: DataLoader worker processes; default 0.
        pin_memory: pin host memory (for GPU training; ignored under a CPU Trainer).
        persistent_workers: keep workers between epochs (only with ``num_workers > 0``).
        multiprocessing_context: how workers start: ``"fork"``, ``"forkserver"`` or ``"spawn"``.
            Default ``None``: the platform's default, except ``"forkserver"`` under DDP on a
            Python whose forks can deadlock there (CPython before 3.10.15, 3.11.0-3.11.9; see
            :mod:`cfl_lightning.data.worker_start`).
        seed: seed of the train shuffle and augmentations; default 0.
        split_seed: seed of the validation hold-out and of generated or degraded evaluation
            data, independent of ``seed``; default 0.
        predict_split: the split ``predict`` runs on; default ``"test"``.
        predict_root: a folder of inputs alone (no targets) for ``predict`` instead of a split:
            each DataModule reads what its task's users have (see
            :mod:`cfl_lightning.data.predict_inputs` for the layouts). All inputs are read and
            checked in ``setup``, before anything is predicted; each is predicted at its own size
            (one input per batch).
    """

    def __init__(
        self,
        batch_size: int = 1,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        multiprocessing_context: str | None = None,
        seed: int = 0,
        split_seed: int = 0,
        predict_split: str = "test",
        predict_root: str | None = None,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size: expected an integer >= 1, got {batch_size}")
        if num_workers < 0:
            raise ValueError(f"num_workers: expected an integer >= 0, got {num_workers}")
        check_start_method(multiprocessing_context)
        if predict_split not in SPLITS:
            raise ValueError(f"predict_split: expected one of {SPLITS}, got {predict_split!r}")
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers and num_workers > 0
        self.multiprocessing_context = multiprocessing_context
        self._start_noted = False  # the note on the workers' start method, given once
        self.seed = seed
        self.split_seed = split_seed
        self.predict_split = predict_split
        self.predict_root = predict_root
        self._datasets: dict[str, Dataset] = {}
        self._predict_inputs: PredictInputs | None = None

    def build_dataset(self, split: str) -> Dataset:
        """The dataset of ``split`` (``"train"``, ``"val"`` or ``"test"``)."""
        raise NotImplementedError

    def dataset(self, split: str) -> Dataset:
        """The (cached) dataset of ``split``; built, and so checked, on first use."""
        if split not in self._datasets:
            self._datasets[split] = self.build_dataset(split)
        return self._datasets[split]

    def build_predict_dataset(self, root: Path) -> PredictInputs:
        """The inputs-only dataset of ``predict_root`` (subclasses implement it)."""
        raise NotImplementedError(
            f"predict_root: {type(self).__name__} cannot read a folder of inputs alone"
        )

    def predict_inputs(self) -> PredictInputs:
        """The (cached) dataset of ``predict_root``; every input is read and checked when it is
        first built."""
        if self._predict_inputs is None:
            assert self.predict_root is not None
            inputs = self.build_predict_dataset(Path(self.predict_root))
            inputs.check_all()
            self._predict_inputs = inputs
        return self._predict_inputs

    def setup(self, stage: str) -> None:
        if stage == "predict" and self.predict_root is not None:
            self.predict_inputs()
            return
        splits = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}.get(
            stage, (self.predict_split,)
        )
        for split in splits:
            self.dataset(split)

    def _loader_kwargs(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "num_workers": self.num_workers,
            "pin_memory": self._pins_memory(),
            "persistent_workers": self.persistent_workers,
            "multiprocessing_context": self._worker_start_method(),
        }

    def _worker_start_method(self) -> str | None:
        """The workers' start method (:func:`worker_start_method`). On rank zero, a note (once)
        when it is not the platform's default, and a warning when ``"fork"`` is asked for where
        it can deadlock."""
        world_size = self._replicas()[0]
        method = worker_start_method(self.multiprocessing_context, self.num_workers, world_size)
        if method == "forkserver":
            # not the DataModule's own module: the server runs without this process's
            # sys.path changes, so a module name can resolve to another package there
            preload_in_forkserver(["torch", "cfl_lightning.data"])
        risky = world_size > 1 and self.num_workers > 0 and fork_can_deadlock()
        python = platform.python_version()
        chosen = method == "forkserver" and self.multiprocessing_context is None
        if chosen and not self._start_noted:
            self._start_noted = True
            rank_zero_info(
                f"DataLoader workers start by forkserver: on Python {python} a worker forked "
                "from a DDP process can deadlock (CPython gh-112275); set "
                "multiprocessing_context to choose"
            )
        if risky and method == "fork":
            rank_zero_warn(
                f"multiprocessing_context: 'fork' on Python {python} can deadlock a worker "
                "forked from a DDP process, and with it every rank (CPython gh-112275, fixed "
                "in 3.10.15 and 3.11.10); use 'forkserver' or a newer Python"
            )
        return method

    def _pins_memory(self) -> bool:
        """``pin_memory``, except under a Trainer that runs on the CPU (pinning there only warns
        that no accelerator is found): the GPU configs then run unchanged on a CPU."""
        trainer = self.trainer
        if not self.pin_memory or trainer is None:
            return self.pin_memory
        return not isinstance(trainer.accelerator, CPUAccelerator)

    def train_dataloader(self) -> ResumableDataLoader:
        dataset = self.dataset("train")
        num_replicas, rank = self._replicas()
        share = len(dataset) // num_replicas  # type: ignore[arg-type]
        if share < self.batch_size:
            per = (
                f" per process ({len(dataset)} shared by {num_replicas})"
                if num_replicas > 1
                else ""
            )  # type: ignore[arg-type]
            raise ValueError(
                f"batch_size: {self.batch_size} is larger than the {share} training images"
                f"{per}; lower it or add images"
            )
        return ResumableDataLoader(
            dataset,
            sampler=EpochShuffleSampler(dataset, self.seed, num_replicas, rank),  # type: ignore[arg-type]
            generator=torch.Generator().manual_seed(self.seed),
            **self._loader_kwargs(),
        )

    def _replicas(self) -> tuple[int, int]:
        """``(world_size, global_rank)`` of the attached Trainer; ``(1, 0)`` without one."""
        trainer = self.trainer
        if trainer is None:
            return 1, 0
        return trainer.world_size, trainer.global_rank

    def _eval_loader(self, split: str) -> DataLoader:
        # Its own generator: creating the iterator must not draw from the global RNG, which
        # training uses (validation in the middle of a run would change what follows). Under
        # DDP each rank evaluates its own items, each item once.
        dataset = self.dataset(split)
        num_replicas, rank = self._replicas()
        check_each_rank_evaluates(split, len(dataset), num_replicas)  # type: ignore[arg-type]
        sampler = EvalShardSampler(dataset, num_replicas, rank) if num_replicas > 1 else None  # type: ignore[arg-type]
        return DataLoader(
            dataset,
            sampler=sampler,
            generator=torch.Generator().manual_seed(self.seed),
            **self._loader_kwargs(),
        )

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

    def predict_dataloader(self) -> DataLoader:
        if self.predict_root is None:
            return self._eval_loader(self.predict_split)
        # One input per batch: inputs keep their own sizes.
        return DataLoader(
            self.predict_inputs(),
            shuffle=False,
            **{**self._loader_kwargs(), "batch_size": 1},
        )
