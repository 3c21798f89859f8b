"""Train one (task, recipe, seed) with a ``pytorch_lightning.Trainer`` and score it on held-out
data."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from quality_eval import EVAL_VERSION, HeldOutEvaluator
from quality_tasks import (
    PHOTO_DEGRADATIONS,
    TASK_KIND,
    Recipe,
    main_recipes,
    make_module,
    photo_datamodule,
    textures_datamodule,
)


@dataclass(frozen=True)
class RunSettings:
    """Settings shared by every run of one benchmark invocation."""

    steps: int
    batch_size: int
    accelerator: str
    precision: str
    photo_root: Path
    textures_train_size: int = 2000
    textures_test_size: int = 128


def make_datamodule(task: str, settings: RunSettings, seed: int) -> pl.LightningDataModule:
    """The task's DataModule for run seed ``seed`` (which seeds the training shuffle)."""
    if TASK_KIND[task] == "textures":
        return textures_datamodule(
            settings.batch_size, seed, settings.textures_train_size, settings.textures_test_size
        )
    degradation = PHOTO_DEGRADATIONS[task]()
    return photo_datamodule(settings.photo_root, degradation, settings.batch_size, seed)


def train_and_evaluate(
    task: str,
    recipe: Recipe,
    seed: int,
    settings: RunSettings,
    evaluator: HeldOutEvaluator,
    keep: int = 8,
    generator_factory: Callable[[], torch.nn.Module] | None = None,
    extra_losses: dict[str, float] | None = None,
    save_generator: Path | None = None,
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Train ``recipe`` on ``task`` from ``seed`` for ``settings.steps`` iterations; return the
    run's record (settings, scores, wall times) and the first ``keep`` held-out samples.

    ``save_generator``: where to write the trained generator's ``state_dict`` (for
    :func:`rescore`). ``generator_factory`` (called after seeding) and ``extra_losses`` are for
    investigations.
    """
    pl.seed_everything(seed, workers=True, verbose=False)
    generator = generator_factory() if generator_factory is not None else None
    module = make_module(task, recipe, seed, generator, extra_losses)
    datamodule = make_datamodule(task, settings, seed)
    trainer = pl.Trainer(
        accelerator=settings.accelerator,
        devices=1,
        precision=settings.precision,
        max_steps=settings.steps,
        max_epochs=-1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*val_dataloader.*")
        trainer.fit(module, datamodule=datamodule)
    train_seconds = time.perf_counter() - start
    final_loss = trainer.callback_metrics.get("train/loss")
    if save_generator is not None:
        save_generator.parent.mkdir(parents=True, exist_ok=True)
        torch.save(module.generator.state_dict(), save_generator)
    datamodule.setup("test")
    start = time.perf_counter()
    scores, samples = evaluator.evaluate(module, datamodule.test_dataloader(), keep)
    record = {
        "task": task,
        "recipe": recipe.name,
        "settings": recipe.describe(),
        "seed": seed,
        "eval_version": EVAL_VERSION,
        "steps": int(trainer.global_step),
        "train_seconds": train_seconds,
        "eval_seconds": time.perf_counter() - start,
        "final_train_loss": None if final_loss is None else float(final_loss),
        **scores,
    }
    return record, samples


def rescore(
    record: dict[str, Any],
    recipe: Recipe,
    settings: RunSettings,
    evaluator: HeldOutEvaluator,
    generator_state: Path,
    keep: int = 8,
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Score a finished run again with ``evaluator`` (e.g. after a metric changed), from the
    generator weights ``train_and_evaluate(save_generator=...)`` wrote: the record keeps its
    training figures and gets the new scores."""
    pl.seed_everything(record["seed"], workers=True, verbose=False)
    module, loader = restore_run(record, recipe, settings, generator_state)
    start = time.perf_counter()
    scores, samples = evaluator.evaluate(module, loader, keep)
    seconds = time.perf_counter() - start
    return {**record, "eval_seconds": seconds, **scores, "eval_version": EVAL_VERSION}, samples


def restore_run(
    record: dict[str, Any], recipe: Recipe, settings: RunSettings, generator_state: Path
) -> tuple[pl.LightningModule, torch.utils.data.DataLoader]:
    """A finished run's module with its trained generator (the weights
    ``train_and_evaluate(save_generator=...)`` wrote) and its task's held-out loader."""
    task, seed = record["task"], record["seed"]
    module = make_module(task, recipe, seed)
    module.generator.load_state_dict(torch.load(generator_state, weights_only=True))
    datamodule = make_datamodule(task, settings, seed)
    datamodule.setup("test")
    return module, datamodule.test_dataloader()


def saved_runs(out_dirs: Sequence[Path], tasks: Sequence[str]) -> list[tuple[dict[str, Any], Path]]:
    """``(record, generator weights)`` of every run of ``tasks`` that ``quality.py`` saved with its
    generator under ``<out_dir>/runs/main``, by task, recipe (the table's order), then seed. A run
    found in two folders is refused: which of the two to score would be a guess."""
    found: dict[tuple[str, str, int], tuple[dict[str, Any], Path]] = {}
    for out_dir in out_dirs:
        for task in tasks:
            for path in sorted((out_dir / "runs" / "main").glob(f"{task}__*.json")):
                record = json.loads(path.read_text())
                weights = path.with_suffix(".generator.pt")
                if record["task"] != task or not weights.exists():
                    continue
                key = (task, record["recipe"], record["seed"])
                if key in found:
                    raise ValueError(
                        f"out_dirs: run {key} saved twice, in {found[key][1]} and {weights}"
                    )
                found[key] = (record, weights)
    order = [recipe.name for recipe in main_recipes(False) + main_recipes(True)]
    keys = sorted(found, key=lambda k: (list(tasks).index(k[0]), order.index(k[1]), k[2]))
    return [found[key] for key in keys]
