"""``make demo``: CFL against L1 on the synthetic textures task, on this machine's CPU.

Trains ``configs/quickstart.yaml`` (CFL) and ``configs/quickstart_l1.yaml`` (the same model with
L1) for the same number of steps, evaluates both on the held-out test split, prints a table and
writes ``demo/comparison.png`` (rows: label | L1 | CFL | ground truth) and ``demo/results.md``.

    python -m cfl_lightning.demo [--steps N] [--output demo]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.utils import make_grid, save_image

from cfl_lightning.cli import build_cli
from cfl_lightning.metrics import quality_metrics
from cfl_lightning.modules import ImagePredictionModule

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
RUNS = {"L1": "quickstart_l1.yaml", "CFL": "quickstart.yaml"}
# Table column -> metric of ``quality_metrics`` (the functions validation and the benchmark use).
METRICS = {
    "PSNR": "psnr",
    "PatchSWD": "patch_swd",
    "Sharpness": "sharpness",
    "Colourfulness": "colorfulness",
}


def train(config: Path, root: Path, overrides: list[str]) -> tuple[ImagePredictionModule, object]:
    """Fit ``config`` with its defaults plus ``overrides``; returns the model and datamodule."""
    cli = build_cli(
        ["fit", "--config", str(config), f"--trainer.default_root_dir={root}", *overrides]
    )
    return cli.model, cli.datamodule


@torch.no_grad()
def evaluate(model: ImagePredictionModule, datamodule: object) -> tuple[dict, dict]:
    """Test-split metrics and the first batch of (input view, prediction, target).

    Metrics: mean per-image L1, and :data:`METRICS` through :func:`quality_metrics` (PSNR is the
    mean of per-image values, as ``val/psnr``; PatchSWD is the reference-normalised one).
    """
    model.eval()
    metrics = quality_metrics(list(METRICS.values()))
    l1: list[torch.Tensor] = []
    shown: dict[str, torch.Tensor] = {}
    for batch in datamodule.test_dataloader():  # type: ignore[attr-defined]
        generator_input, target = model.prepare_batch(batch)
        prediction = model.generate(generator_input, target).float().clamp(-1, 1)
        l1.append(F.l1_loss(prediction, target.float(), reduction="none").mean((1, 2, 3)))
        metrics.update(prediction, target.float())
        if not shown:
            shown = {
                "input": model.visualize_input(generator_input, target),
                "prediction": prediction,
                "target": target,
            }
    computed = metrics.compute()
    values = {"L1": float(torch.cat(l1).mean())}
    values.update({column: float(computed[name]) for column, name in METRICS.items()})
    return values, shown


def write_figure(shown: dict[str, dict[str, torch.Tensor]], path: Path, rows: int = 6) -> None:
    """Rows of label | L1 | CFL | ground truth."""
    columns = [shown["CFL"]["input"], shown["L1"]["prediction"], shown["CFL"]["prediction"]]
    columns.append(shown["CFL"]["target"])
    rows = min(rows, columns[0].shape[0])
    tiles = torch.stack([c[:rows].cpu() for c in columns], dim=1).flatten(0, 1)
    grid = make_grid((tiles + 1) / 2, nrow=4, padding=2, pad_value=1.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(F.interpolate(grid[None], scale_factor=2, mode="nearest")[0], path)


def format_table(results: dict[str, dict[str, float]]) -> str:
    names = list(next(iter(results.values())))
    better = {"L1": "lower", "PSNR": "higher", "PatchSWD": "lower"}
    better.update({"Sharpness": "1 is ideal", "Colourfulness": "1 is ideal"})
    lines = ["| loss | " + " | ".join(f"{n} ({better[n]})" for n in names) + " |"]
    lines.append("|---" * (len(names) + 1) + "|")
    for run, values in results.items():
        lines.append(f"| {run} | " + " | ".join(f"{values[n]:.3f}" for n in names) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="training steps (config: 800)")
    parser.add_argument("--output", default="demo", help="folder for the figure and the table")
    parser.add_argument("--quick", action="store_true", help="a few steps on tiny data (tests)")
    args = parser.parse_args(argv)

    output = Path(args.output)
    overrides = [] if args.steps is None else [f"--trainer.max_steps={args.steps}"]
    if args.quick:
        overrides += [
            "--trainer.max_steps=2",
            "--trainer.val_check_interval=2",
            "--trainer.limit_val_batches=2",  # "1" would read as 1.0: every batch
            "--trainer.enable_progress_bar=false",
            "--data.init_args.train_size=8",
            "--data.init_args.val_size=4",
            "--data.init_args.test_size=4",
            "--data.init_args.batch_size=2",
            "--model.init_args.generator.init_args.ngf=8",
            "--model.init_args.metrics=[psnr]",
        ]
    results, shown = {}, {}
    start = time.perf_counter()
    for name, config in RUNS.items():
        print(f"\n== Training the quickstart model with {name} ({config}) ==", flush=True)
        model, datamodule = train(CONFIGS / config, output / "runs" / name.lower(), overrides)
        results[name], shown[name] = evaluate(model, datamodule)
    write_figure(shown, output / "comparison.png")
    table = format_table(results)
    minutes = (time.perf_counter() - start) / 60
    (output / "results.md").write_text(
        "# make demo: L1 vs CFL on the synthetic textures test split\n\n"
        f"{table}\n\nWall time: {minutes:.1f} min. Figure: comparison.png "
        "(rows: label | L1 | CFL | ground truth).\n"
    )
    print(f"\n{table}\n")
    print(
        f"Done in {minutes:.1f} min. Figure: {output / 'comparison.png'} "
        f"(label | L1 | CFL | ground truth); table: {output / 'results.md'}; "
        f"logs and checkpoints: {output / 'runs'}"
    )
    return results


if __name__ == "__main__":
    main()
