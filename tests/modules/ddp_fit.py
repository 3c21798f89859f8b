"""2-process CPU (gloo) fits of the tiny module for tests/modules/test_ddp.py, run as jobs of
tests/ddp_session.py (or alone, one after the other in the same pair of processes). Each rank
saves its weights after each fit.

python tests/modules/ddp_fit.py OUT_DIR STRATEGY:TERMS[:K[:every]] [...]   (TERMS e.g. cfl+gan;
K: the module's accumulate_grad_batches, default 1; STRATEGY "counted": DDP with unused
parameters found, and a communication hook that counts the all-reduced gradient buckets; "every":
gradients all-reduced after every batch, as before the modules skipped it inside a step)

Writes OUT_DIR/<STRATEGY>-<TERMS>[-acc<K>][-every]/rank<r>.pt, and for "counted" also
syncs<r>.json: the buckets all-reduced during each training batch, as [batch_idx, count] pairs.
A fit that fails ends the script with its error.
"""

import json
import sys
from contextlib import nullcontext
from pathlib import Path
from unittest import mock

import pytorch_lightning as pl
import torch
from pytorch_lightning.strategies import DDPStrategy
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.modules.tiny import RandomPairsDataModule, make_module, make_trainer

BUCKETS = [0]  # gradient buckets all-reduced by this process so far


def counting_allreduce(state, bucket):
    BUCKETS[0] += 1
    return default_hooks.allreduce_hook(state, bucket)


class SyncCounts(pl.Callback):
    """Registers the counting hook on the DDP-wrapped module (Lightning registers a strategy's
    ``ddp_comm_hook`` on CUDA only) and records the buckets all-reduced during each training
    batch (its forward and backward passes)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.counts: list[list[int]] = []
        self.before = 0

    def on_train_start(self, trainer, pl_module):
        trainer.strategy.model.register_comm_hook(None, counting_allreduce)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.before = BUCKETS[0]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.counts.append([batch_idx, BUCKETS[0] - self.before])

    def on_train_end(self, trainer, pl_module):
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"syncs{trainer.global_rank}.json"
        path.write_text(json.dumps(self.counts))


class SaveWeights(pl.Callback):
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def on_train_end(self, trainer, pl_module):
        state = {k: v.detach().cpu() for k, v in pl_module.state_dict().items()}
        self.folder.mkdir(parents=True, exist_ok=True)
        torch.save(state, self.folder / f"rank{trainer.global_rank}.pt")


def run_folder(
    out: Path, strategy: str, terms: str, accumulate: int = 1, every: bool = False
) -> Path:
    """Where the fit of ``strategy`` with loss ``terms`` saves each rank's weights."""
    name = f"{strategy}-{terms}" + (f"-acc{accumulate}" if accumulate > 1 else "")
    return out / (name + ("-every" if every else ""))


def fit(out: Path, run: str) -> pl.Trainer:
    """The fit ``run`` (``STRATEGY:TERMS[:K[:every]]``), saving under ``out``."""
    strategy, terms, *rest = run.split(":")
    accumulate = int(rest[0]) if rest else 1
    every = rest[1:] == ["every"]
    folder = run_folder(out, strategy, terms, accumulate, every)
    callbacks = [SaveWeights(folder)]
    if strategy == "counted":
        callbacks.append(SyncCounts(folder))
    pl.seed_everything(0, workers=True)
    module = make_module(
        {name: 1.0 for name in terms.split("+")}, accumulate_grad_batches=accumulate
    )
    trainer = make_trainer(
        max_steps=3,
        devices=2,
        strategy=DDPStrategy(find_unused_parameters=True) if strategy == "counted" else strategy,
        callbacks=callbacks,
    )
    sync = mock.patch(
        "cfl_lightning.modules.image_prediction.backward_sync",
        lambda strategy, sync: nullcontext(),
    )
    with sync if every else nullcontext():
        trainer.fit(module, RandomPairsDataModule(size=8, batch_size=2))
    return trainer


def main() -> None:
    out = Path(sys.argv[1])
    for run in sys.argv[2:]:
        fit(out, run)


if __name__ == "__main__":
    main()
