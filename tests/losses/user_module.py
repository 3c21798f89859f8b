"""A user's own LightningModule with CFL, in automatic optimization, as the README tells: the loss
where ``F.l1_loss`` was, and one optimizer holding the generator's and the critic's parameters.
For tests/losses/test_in_lightning_module.py, which fits it in one process and, as a job of
tests/ddp_session.py, in two (``fit_two_processes``), and compares both with the README's
plain-PyTorch loop (``plain_loop``).

The loss has the options of ``configs/loss/cfl_random_weights.yaml`` (with 32 patches, for speed).
Its patch locations come from the module's own seeded ``torch.Generator``, so every rank of a DDP
fit draws the same ones, as one process does for the whole batch.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from cfl_lightning.losses import ContrastiveFeatureLoss

LOSS_OPTIONS = {
    "weights": "random",
    "num_patches": 32,
    "critic": "target_views",
    "false_negative_threshold": 0.99,
    "query_negatives": "above_target",
}
STEPS = 3
BATCH = 4  # images per optimizer step: one process, or 2 per rank of 2
ADAM = {"lr": 1e-3, "betas": (0.5, 0.999)}


class UserModel(pl.LightningModule):
    """A tiny generator trained with CFL alone."""

    def __init__(self, patch_seed: int = 0) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.generator = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1), nn.Tanh()
        )
        self.cfl = ContrastiveFeatureLoss(**LOSS_OPTIONS)
        self.patches = torch.Generator().manual_seed(patch_seed)

    def training_step(self, batch, batch_idx):
        inputs, targets = batch
        loss = self.cfl(self.generator(inputs), targets, generator=self.patches)
        self.log("train/cfl", loss)
        return loss

    def configure_optimizers(self):
        groups = [
            {"params": self.generator.parameters()},
            {"params": self.cfl.critic_parameters()},
        ]
        return torch.optim.Adam(groups, **ADAM)


def make_model() -> UserModel:
    torch.manual_seed(0)  # the generator's and the heads' initialisation
    return UserModel()


def pairs() -> TensorDataset:
    """STEPS * BATCH fixed (input, target) pairs, 32x32 in [-1, 1]."""
    g = torch.Generator().manual_seed(1)
    targets = torch.rand(STEPS * BATCH, 3, 32, 32, generator=g) * 2 - 1
    targets = torch.nn.functional.avg_pool2d(targets, 3, 1, 1)  # some local structure
    return TensorDataset(targets.flip(1) * 0.5, targets)


def in_order() -> list[list[int]]:
    """The items of each step of a one-process fit: batches of BATCH in order."""
    return [list(range(step * BATCH, (step + 1) * BATCH)) for step in range(STEPS)]


def plain_loop(model: UserModel, steps: list[list[int]]) -> dict[str, torch.Tensor]:
    """The README's plain-PyTorch loop (two Adams, one backward) on ``model``'s networks and
    loss, one batch of the items ``steps[s]`` per step; returns the resulting state dict."""
    data = pairs()
    opt_g = torch.optim.Adam(model.generator.parameters(), **ADAM)
    opt_c = torch.optim.Adam(model.cfl.critic_parameters(), **ADAM)
    model.train()
    for items in steps:
        inputs, targets = data[items]
        loss = model.cfl(model.generator(inputs), targets, generator=model.patches)
        opt_g.zero_grad()
        opt_c.zero_grad()
        loss.backward()
        opt_g.step()
        opt_c.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def make_trainer(root: Path, devices: int = 1) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        devices=devices,
        strategy="ddp" if devices > 1 else "auto",
        max_steps=STEPS,
        default_root_dir=root,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


class RecordItems(pl.Callback):
    """Which items of ``pairs()`` each training batch holds (Lightning gives every rank a
    shuffled share of the training data under DDP, whatever the DataLoader's own order)."""

    def __init__(self) -> None:
        self.inputs = pairs().tensors[0].flatten(1)
        self.steps: list[list[int]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        found = [(self.inputs == x.flatten()).all(1).nonzero().flatten() for x in batch[0]]
        self.steps.append([int(match) for match in found])


def fit_two_processes(folder: Path) -> pl.Trainer:
    """A 2-process fit, 2 images per rank and step; each rank saves its state dict to
    ``folder / rank<r>.pt`` and the items of each of its steps to ``folder / items<r>.json``."""
    model = make_model()
    items = RecordItems()
    trainer = make_trainer(folder, devices=2)
    trainer.callbacks.append(items)
    trainer.fit(model, DataLoader(pairs(), batch_size=BATCH // 2))
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(state, folder / f"rank{trainer.global_rank}.pt")
    (folder / f"items{trainer.global_rank}.json").write_text(json.dumps(items.steps))
    return trainer
