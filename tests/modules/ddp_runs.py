"""For tests/modules/test_ddp_state.py (alone, or as a job of tests/ddp_session.py): CPU fits
(gloo when --devices > 1) of a tiny CFL + GAN module on randomly augmented pairs, saving what each
rank saw and ended with.

python tests/modules/ddp_runs.py OUT --devices 2 --steps 4 [--every 2] [--resume CKPT]
                                 [--workers 2] [--val-every 1]

Writes OUT/rank<r>.pt: {"weights", "optimizers", "batches": [(epoch, paths, input, image)],
"seed", "rng", "worker_start"}.
"""

import argparse
import sys
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.modules.tiny import AugmentedPairsDataModule, make_module, make_trainer


def start_method(loader) -> str | None:
    """How ``loader``'s workers start (None: the platform's default)."""
    context = loader.multiprocessing_context
    return None if context is None else context.get_start_method()


class RecordRank(pl.Callback):
    """Keeps every training batch this rank saw; at the end saves it with the weights and the
    optimizer states."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.batches: list = []
        self.rng_draws: list = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.rng_draws.append(torch.get_rng_state())
        self.batches.append(
            (
                trainer.current_epoch,
                list(batch["path"]),
                batch["input"].clone(),
                batch["image"].clone(),
            )
        )

    def on_train_end(self, trainer, pl_module):
        state = {
            "weights": {k: v.detach().cpu() for k, v in pl_module.state_dict().items()},
            "optimizers": [opt.state_dict() for opt in trainer.optimizers],
            "batches": self.batches,
            "seed": pl_module.step_random.seed,
            "rng": self.rng_draws,
            "worker_start": start_method(trainer.train_dataloader),
        }
        torch.save(state, self.folder / f"rank{trainer.global_rank}.pt")


def main(argv: list[str] | None = None) -> pl.Trainer:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--every", type=int, default=None)
    parser.add_argument("--resume", default=None)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--val-every", type=int, default=None)
    parser.add_argument("--size", type=int, default=8)
    args = parser.parse_args(argv)

    warnings.filterwarnings("ignore")
    warnings.filterwarnings("always", message="ckpt_path")  # the project's resume warnings
    pl.seed_everything(0, workers=True)
    module = make_module({"cfl": 1.6, "gan": 1.0, "feature_matching": 10.0}, dropout=0.2)
    callbacks: list[pl.Callback] = [RecordRank(args.out)]
    if args.every is not None:
        callbacks.append(
            ModelCheckpoint(
                dirpath=args.out / "checkpoints", every_n_train_steps=args.every, save_top_k=-1
            )
        )
    validation = {}
    if args.val_every is not None:
        validation = {
            "limit_val_batches": 1,
            "val_check_interval": args.val_every,
            "check_val_every_n_epoch": None,
        }
    trainer = make_trainer(
        max_steps=args.steps,
        devices=args.devices,
        strategy="ddp_find_unused_parameters_true" if args.devices > 1 else "auto",
        callbacks=callbacks,
        enable_checkpointing=args.every is not None,
        **validation,
    )
    data = AugmentedPairsDataModule(size=args.size, batch_size=2, num_workers=args.workers)
    trainer.fit(module, data, ckpt_path=args.resume)
    return trainer


if __name__ == "__main__":
    main()
