"""What a critic trained on target views learns to see: CFL's sensitivity to each distortion before
and after the heads are trained, without a generator.

    OMP_NUM_THREADS=1 python benchmarks/critic_sensitivity.py --tasks photo_color_chroma textures
    python benchmarks/critic_sensitivity.py --quick --out /tmp/s.md  # tiny (tests)

With ``critic="target_views"`` the heads never see a prediction: their training depends only on
the targets, so the critic of a benchmark run (same task, seed, recipe, batch and learning rate)
can be trained here alone. For each task the recipe's loss (``quality_tasks.make_module``: the
seeded random VGG19 and heads of the run) is scored on held-out targets ``T`` at fixed patch
locations: ``gap(d) = CFL(d(T), T) - CFL(T, T)``, the loss a generator pays for producing a
distorted copy of the target, for the middle level of each ladder of ``distortions.LADDERS``.
This is measured with the heads at initialisation, then after ``--steps`` critic steps (Adam, the
run's critic learning rate and betas) on the task's training targets, and with identity heads
(the raw features). The table gives each gap and the ratio trained / initial: a critic that
learns to ignore a distortion makes that ratio small.

Writes a Markdown report (``--out``) and prints it.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from distortions import LADDERS
from quality_report import script_command, write_report
from quality_run import RunSettings, make_datamodule
from quality_tasks import PHOTO_TASKS, TASK_KIND, main_recipes, make_module, write_photo_tiles

from cfl_lightning.losses import ContrastiveFeatureLoss

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "critic_sensitivity.md"


def critic_loss(task: str, recipe_name: str, seed: int) -> tuple[ContrastiveFeatureLoss, float]:
    """The CFL module of the benchmark run ``(task, recipe_name, seed)`` and its critic's
    learning rate."""
    recipe = next(r for r in main_recipes(False) if r.name == recipe_name)
    if recipe.cfl_options.get("critic") != "target_views":
        raise ValueError(
            f"recipe: expected one whose critic trains on target views, got {recipe_name!r}"
        )
    module = make_module(task, recipe, seed)
    assert module.cfl is not None
    return module.cfl, recipe.critic_lr


def gaps(
    loss: ContrastiveFeatureLoss, targets: torch.Tensor, locations_seed: int = 0
) -> dict[str, float]:
    """``{distortion@level: CFL(d(T), T) - CFL(T, T)}`` at the middle level of each ladder, every
    call at the same patch locations."""
    locations = loss.draw_locations(targets.shape, torch.Generator().manual_seed(locations_seed))
    with torch.no_grad():
        clean = float(loss(targets, targets, locations=locations))
        result = {}
        for name, distort, _, levels in LADDERS:
            level = levels[len(levels) // 2]
            value = float(loss(distort(targets, level), targets, locations=locations))
            result[f"{name}@{level:g}"] = value - clean
    return result


def train_critic(loss: ContrastiveFeatureLoss, loader: Any, steps: int, lr: float) -> list[float]:
    """``steps`` critic steps on the loader's targets (the prediction is the target itself: the
    heads' gradient comes from the target views only). Returns the first and last loss values."""
    optimizer = torch.optim.Adam(loss.critic_parameters(), lr=lr, betas=(0.5, 0.999))
    done, values = 0, []
    while done < steps:
        for batch in loader:
            image = batch["image"]
            optimizer.zero_grad()
            value = loss(image, image)
            value.backward()
            optimizer.step()
            values.append(float(value.detach()))
            done += 1
            if done == steps:
                break
    return [values[0], values[-1]]


def measure(
    task: str, recipe: str, seed: int, steps: int, batch_size: int, images: int, photo_root: Path
) -> dict[str, Any]:
    torch.manual_seed(seed)
    settings = RunSettings(steps, batch_size, "cpu", "32-true", photo_root, 2000, images)
    datamodule = make_datamodule(task, settings, seed)
    datamodule.setup("fit")
    datamodule.setup("test")
    targets = torch.cat([b["image"] for b in datamodule.test_dataloader()])[:images]
    loss, lr = critic_loss(task, recipe, seed)
    identity = ContrastiveFeatureLoss(
        extractor=loss.extractor,
        layers=loss.layers,
        num_patches=loss.num_patches,
        head="identity",
        false_negative_threshold=loss.false_negative_threshold,
    )
    before = gaps(loss, targets)
    raw = gaps(identity, targets)
    trained_values = train_critic(loss, datamodule.train_dataloader(), steps, lr)
    after = gaps(loss, targets)
    return {"init": before, "trained": after, "identity": raw, "critic_loss": trained_values}


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace, wall: float) -> str:
    lines = [
        "# What a target-views critic learns to see",
        "",
        f"Command: `{script_command('critic_sensitivity.py', args.argv)}`; "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"{platform.machine()}, torch {torch.__version__}; {wall / 60:.1f} min.",
        "",
        f"Recipe `{args.recipe}`, seed {args.seed}, {args.steps} critic steps at batch "
        f"{args.batch_size}; gaps `CFL(d(T), T) - CFL(T, T)` on {args.images} held-out targets "
        "(the generator's term only, fixed locations). Ratio: trained / initial heads.",
    ]
    for task, result in results.items():
        first, last = result["critic_loss"]
        lines += [
            "",
            f"## {task}",
            "",
            f"Critic's loss during training: {first:.3f} -> {last:.3f}.",
            "",
            "| distortion | identity heads | initial heads | trained heads | trained / initial |",
            "|---|---|---|---|---|",
        ]
        for row in result["init"]:
            init, trained = result["init"][row], result["trained"][row]
            ratio = trained / init if init > 0 else float("nan")
            lines.append(
                f"| {row} | {result['identity'][row]:.3f} | {init:.3f} | {trained:.3f} | "
                f"{ratio:.2f} |"
            )
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=tuple(TASK_KIND), default=["textures"])
    parser.add_argument("--recipe", default="cfl-fn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--images", type=int, default=32, help="held-out targets scored")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--quick", action="store_true", help="3 steps, 4 targets (tests)")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.images = 3, 4
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    args.argv = argv
    start = time.perf_counter()
    results = {}
    with tempfile.TemporaryDirectory() as temporary:
        photo_root = Path(temporary)
        if set(PHOTO_TASKS) & set(args.tasks):
            write_photo_tiles(photo_root)
        for task in args.tasks:
            results[task] = measure(
                task, args.recipe, args.seed, args.steps, args.batch_size, args.images, photo_root
            )
            print(f"[{time.perf_counter() - start:.0f}s] {task}", flush=True)
    write_report(report(results, args, time.perf_counter() - start), args.out)
    return results


if __name__ == "__main__":
    main()
