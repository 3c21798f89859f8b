"""Colorization runs taken apart: how much of each recipe's score is luminance, how much colour.

    python benchmarks/color_luminance.py OUT_DIR [OUT_DIR ...] [--task T] [--out FILE]

``OUT_DIR`` is a ``quality.py --out-dir``: every saved run of ``--task`` (``photo_color``, the
default, or ``photo_color_chroma``) in ``OUT_DIR/runs/main``
(its record and generator weights) is predicted again on the held-out tiles and scored twice with
the benchmark's metrics (``quality_metrics``, as validation computes them):

- *as trained*: the prediction itself (the benchmark's figure);
- *input luminance*: the same prediction with its BT.601 luminance replaced by the input's (the
  generator's colour kept, the grey image passed through exactly): ``p + (Y_in - Y(p))`` per
  channel, clamped to ``[-1, 1]``.

plus the PSNR of the prediction's own luminance against the input (dB; how well the generator
passes the grey image through), and the PatchSWD of each band of its Laplacian pyramid (finest,
middle, low-pass; in split-half units, before they are combined). A recipe whose PatchSWD falls a
lot with the input's luminance loses on the luminance it re-synthesises, not on the colours it
chooses; the bands tell fine colour speckle from wrong colours over large regions.

Writes a Markdown report (``--out``) and prints it. No training; a few seconds per run on a CPU.
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from quality_report import script_command, write_report
from quality_run import RunSettings, restore_run, saved_runs
from quality_tasks import main_recipes, write_photo_tiles

from cfl_lightning.data.degradations import rgb_to_luminance
from cfl_lightning.metrics import quality_metrics
from cfl_lightning.modules import ImagePredictionModule
from cfl_lightning.networks.luminance_passthrough import replace_luminance

TASKS = ("photo_color", "photo_color_chroma")
METRICS = ("patch_swd", "sharpness", "colorfulness", "psnr")
VARIANTS = ("as trained", "input luminance")
BANDS = ("finest", "middle", "low-pass")  # the pyramid levels of 64x64 images
GREY = "grey input (reference)"


def luminance_psnr(prediction: torch.Tensor, luminance: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR (dB, peak-to-peak 2) of ``rgb_to_luminance(prediction)`` against
    ``luminance``; shape ``(B,)``."""
    error = (rgb_to_luminance(prediction) - luminance).pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(4.0 / error.clamp_min(1e-12))


@torch.no_grad()
def score_run(
    module: ImagePredictionModule, loader: torch.utils.data.DataLoader, swd_repeats: int
) -> dict[str, float]:
    """Scores ``{variant/metric: value}`` and ``luma_psnr`` of one trained module on ``loader``."""
    module = module.eval()
    options = {"patch_swd": {"num_repeats": swd_repeats}}
    collections = {v: quality_metrics(list(METRICS), options=options) for v in VARIANTS}
    luma: list[torch.Tensor] = []
    for batch in loader:
        generator_input, target = module.prepare_batch(batch)
        prediction = module.generate(generator_input, target).float().clamp(-1, 1)
        luma.append(luminance_psnr(prediction, generator_input.float()))
        collections["as trained"].update(prediction, target.float())
        kept = replace_luminance(prediction, generator_input.float())
        collections["input luminance"].update(kept, target.float())
    scores = {"luma_psnr": float(torch.cat(luma).mean())}
    for variant, collection in collections.items():
        for name, value in collection_scores(collection).items():
            scores[f"{variant}/{name}"] = value
    return scores


def collection_scores(collection: Any) -> dict[str, float]:
    """``{metric: value}`` of a filled ``quality_metrics`` collection, plus ``patch_swd_band{k}``
    for each pyramid level of its PatchSWD (finest first)."""
    scores = {name: float(value) for name, value in collection.compute().items()}
    for level, value in enumerate(collection["patch_swd"].compute_levels().tolist()):
        scores[f"patch_swd_band{level}"] = value
    return scores


@torch.no_grad()
def score_grey_input(loader: torch.utils.data.DataLoader, swd_repeats: int) -> dict[str, float]:
    """The same scores for the input itself as a grey RGB image (a reference: no colour at all,
    the luminance exact)."""
    options = {"patch_swd": {"num_repeats": swd_repeats}}
    collection = quality_metrics(list(METRICS), options=options)
    for batch in loader:
        luminance, target = batch["input"].float(), batch["image"].float()
        collection.update(luminance.expand(-1, 3, -1, -1), target)
    values = collection_scores(collection)
    return {f"{variant}/{name}": v for variant in VARIANTS for name, v in values.items()}


def report(rows: list[dict[str, Any]], command: str, task: str = "photo_color") -> str:
    """Markdown: one row per recipe, mean (min-max over seeds) of every score."""
    by_recipe: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_recipe[row["recipe"]].append(row)

    def cell(values: list[float], digits: int) -> str:
        mean = sum(values) / len(values)
        if len(values) == 1:
            return f"{mean:.{digits}f}"
        return f"{mean:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"

    columns = [("luma_psnr", "luminance PSNR vs input dB", 2)]
    for variant in VARIANTS:
        columns += [
            (f"{variant}/patch_swd", f"PatchSWD, {variant}", 2),
            (f"{variant}/sharpness", f"sharpness, {variant}", 2),
            (f"{variant}/colorfulness", f"colourfulness, {variant}", 2),
            (f"{variant}/psnr", f"PSNR dB, {variant}", 2),
        ]
        columns += [
            (f"{variant}/patch_swd_band{level}", f"PatchSWD {band} band, {variant}", 2)
            for level, band in enumerate(BANDS)
        ]
    lines = [
        "# Colorization: luminance against colour",
        "",
        f"- Command: `{command}`",
        f"- Date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='minutes')}",
        f"- Runs: {len(rows) - 1} saved `{task}` runs; cells are mean (min-max over seeds "
        + ", ".join(
            f"{recipe}: {sorted(r['seed'] for r in runs)}"
            for recipe, runs in by_recipe.items()
            if recipe != GREY
        )
        + f"). {GREY}: the input luminance as a grey RGB image.",
        "- *as trained*: the benchmark's prediction; *input luminance*: the same prediction with "
        "its BT.601 luminance replaced by the input's (colour kept). PatchSWD: the primary, in "
        "split-half units; sharpness and colourfulness: prediction / target (1 is ideal).",
        "",
        "| recipe | " + " | ".join(title for _, title, _ in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for recipe, runs in by_recipe.items():
        cells = [cell([r[key] for r in runs], digits) for key, _, digits in columns]
        lines.append(f"| {recipe} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dirs", nargs="+", type=Path, help="quality.py --out-dir folders")
    parser.add_argument("--task", choices=TASKS, default=TASKS[0], help="colorization task")
    parser.add_argument("--out", type=Path, help="also write the Markdown report here")
    parser.add_argument("--swd-repeats", type=int, default=4, help="PatchSWD num_repeats (4)")
    parser.add_argument(
        "--max-test-tiles",
        type=int,
        default=None,
        help="score on at most this many held-out tiles, taken evenly (default all; smoke runs)",
    )
    args = parser.parse_args(argv)
    if args.max_test_tiles is not None and args.max_test_tiles < 1:
        parser.error(f"--max-test-tiles: expected a count >= 1, got {args.max_test_tiles}")
    runs = saved_runs(args.out_dirs, [args.task])
    if not runs:
        raise SystemExit(
            f"out_dirs: no saved {args.task} runs under {[str(d) for d in args.out_dirs]}"
        )
    recipes = {r.name: r for r in main_recipes(False) + main_recipes(True)}
    rows = []
    with tempfile.TemporaryDirectory(prefix="color_luminance_") as photo_root:
        write_photo_tiles(Path(photo_root), args.max_test_tiles)
        for record, weights in runs:
            settings = RunSettings(
                steps=record["steps"],
                batch_size=4,
                accelerator="cpu",
                precision="32-true",
                photo_root=Path(photo_root),
            )
            seed = record["seed"]
            module, loader = restore_run(record, recipes[record["recipe"]], settings, weights)
            scores = score_run(module, loader, args.swd_repeats)
            rows.append({"recipe": record["recipe"], "seed": seed, **scores})
            print(record["recipe"], seed, {k: round(v, 3) for k, v in scores.items()}, flush=True)
        grey = score_grey_input(loader, args.swd_repeats)
        rows.append({"recipe": GREY, "seed": None, "luma_psnr": float("inf"), **grey})
    command = script_command("color_luminance.py", argv)
    write_report(report(rows, command, args.task), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
