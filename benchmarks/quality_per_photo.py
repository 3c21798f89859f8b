"""Per-photograph scores of saved photo runs: which test photograph a gap between losses comes from.

    python benchmarks/quality_per_photo.py OUT_DIR [OUT_DIR ...] [--tasks photo_sr_unet]
        [--recipes vgg cfl-fn-aq] [--reference vgg] [--out FILE] [--figure PNG --figure-photo NAME]

``OUT_DIR`` is a ``quality.py --out-dir``: every saved run of the photo tasks in
``OUT_DIR/runs/main`` (its record and generator weights) is restored and predicts again the test
tiles of the photographs it was scored on (the record's ``test_photos``; all runs must share
them). The predictions are grouped by photograph and each group is scored through
``cfl_lightning.metrics.quality_metrics``, as the benchmark scores the whole set. The row ``all``
scores every tile: it must repeat the run's recorded scores (checked), so the rows are the
benchmark's own figures split by photograph. Default metrics: PSNR (dB, mean over tiles),
sharpness and colourfulness ratios (1 is ideal). ``--metrics patch_swd`` works too, but one
photograph has only 28-54 tiles, so its floor is high. Two more say how much of the error is a
change of tone: ``tone_share``, the share of the squared error held by each tile's mean colour
offset (prediction - target, per channel), and ``tone_rms``, the root mean square of those offsets
in 8-bit levels (0-255).

Writes one markdown table per task and metric (rows: photographs; columns: recipes, each cell the
seeds' values in seed order) and, with ``--reference R``, for each other recipe the seeds'
differences ``R - recipe``. ``--figure`` draws tiles of ``--figure-photo`` (input, each recipe's
prediction at the first seed, ground truth), enlarged ``--figure-scale`` times. No training; a few
seconds per run on a CPU.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from quality_report import comparison_figure, script_command, write_report
from quality_run import RunSettings, restore_run, saved_runs
from quality_tasks import (
    PHOTO_TASKS,
    main_recipes,
    photo_label,
    tile_photo,
    write_photo_tiles,
)

from cfl_lightning.metrics import QUALITY_METRICS, quality_metrics

DEFAULT_TASKS = ("photo_sr", "photo_sr_unet")
DEFAULT_METRICS = ("psnr", "sharpness", "colorfulness")
TONE_METRICS = ("tone_share", "tone_rms")
ALL = "all"
FIGURE_TILES = 8


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dirs", nargs="+", type=Path, help="quality.py --out-dir folders")
    parser.add_argument("--tasks", nargs="+", choices=PHOTO_TASKS, default=list(DEFAULT_TASKS))
    parser.add_argument("--recipes", nargs="+", default=None, help="default: every saved one")
    parser.add_argument("--seeds", nargs="+", type=int, default=None, help="default: every one")
    parser.add_argument(
        "--metrics",
        nargs="+",
        choices=QUALITY_METRICS + TONE_METRICS,
        default=list(DEFAULT_METRICS),
    )
    parser.add_argument("--reference", default=None, help="recipe the others are compared with")
    parser.add_argument("--out", type=Path, default=None, help="also write the report here")
    parser.add_argument("--json", type=Path, default=None, help="also write every score here")
    parser.add_argument("--figure", type=Path, default=None, help="PNG of one photograph's tiles")
    parser.add_argument("--figure-photo", default=None, help="the photograph of --figure")
    parser.add_argument("--figure-scale", type=int, default=2, help="enlargement of --figure")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    if (args.figure is None) != (args.figure_photo is None):
        parser.error("--figure and --figure-photo: give both or neither")
    if args.figure_scale < 1:
        parser.error(f"--figure-scale: expected an integer >= 1, got {args.figure_scale}")
    return args


def saved_photo_runs(
    out_dirs: Sequence[Path],
    tasks: Sequence[str],
    recipes: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """The records of ``quality_run.saved_runs`` (optionally of ``recipes`` and ``seeds`` only),
    each with ``"weights"`` (its generator's path); they must share one set of test photographs."""
    found = [
        {**record, "weights": str(weights)}
        for record, weights in saved_runs(out_dirs, tasks)
        if (recipes is None or record["recipe"] in recipes)
        and (seeds is None or record["seed"] in seeds)
    ]
    photo_sets = sorted({tuple(record["test_photos"]) for record in found})
    if len(photo_sets) > 1:
        raise ValueError(
            f"out_dirs: runs scored on different test photographs {photo_sets}; give runs scored "
            "on one set (quality.py --resume --test-photos ... scores a copy again)"
        )
    return found


def tone_parts(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per image of ``(B, C, H, W)`` predictions and targets in ``[-1, 1]``: ``(B, 2)`` float64,
    the summed squared error and the part of it that each channel's mean offset holds (the
    offset squared times ``H * W``), both in ``[0, 1]`` units. The second is at most the first."""
    error = (prediction - target).double() / 2
    offset = error.mean(dim=(2, 3))
    pixels = error.shape[2] * error.shape[3]
    return torch.stack([error.pow(2).sum(dim=(1, 2, 3)), offset.pow(2).sum(1) * pixels], dim=1)


@torch.no_grad()
def score_per_photo(
    record: dict[str, Any], settings: RunSettings, metrics: Sequence[str], figure_photo: str | None
) -> tuple[dict[str, dict[str, float]], dict[str, torch.Tensor]]:
    """One saved run, predicted again: ``({photograph: {metric: value, "tiles": count}}, tiles)``
    with the row ``"all"`` over every tile; ``tiles`` holds ``"input"``, ``"prediction"`` and
    ``"target"`` of up to ``FIGURE_TILES`` tiles of ``figure_photo``, evenly spaced (empty if
    None)."""
    recipes = {recipe.name: recipe for recipe in main_recipes(False) + main_recipes(True)}
    module, loader = restore_run(
        record, recipes[record["recipe"]], settings, Path(record["weights"])
    )
    module = module.eval()
    labels = [tile_photo(path) for path in loader.dataset.paths]  # type: ignore[attr-defined]
    names = [name for name in metrics if name not in TONE_METRICS] or ["psnr"]
    collections = {label: quality_metrics(names) for label in [*dict.fromkeys(labels), ALL]}
    counts = dict.fromkeys(collections, 0)
    # Squared error and squared tile-mean offsets, summed per photograph, in [0, 1] units.
    squared = {label: torch.zeros(2, dtype=torch.float64) for label in collections}
    shown = [i for i, label in enumerate(labels) if label == figure_photo]
    shown = {shown[i * len(shown) // FIGURE_TILES] for i in range(min(FIGURE_TILES, len(shown)))}
    tiles: dict[str, list[torch.Tensor]] = {"input": [], "prediction": [], "target": []}
    seen = 0
    for batch in loader:
        generator_input, target = module.prepare_batch(batch)
        prediction = module.generate(generator_input, target).float().clamp(-1, 1)
        target = target.float()
        batch_labels = labels[seen : seen + target.shape[0]]
        parts = tone_parts(prediction, target)
        for label in dict.fromkeys(batch_labels):
            chosen = torch.tensor([name == label for name in batch_labels])
            collections[label].update(prediction[chosen], target[chosen])
            counts[label] += int(chosen.sum())
            squared[label] += parts[chosen].sum(0)
        collections[ALL].update(prediction, target)
        counts[ALL] += target.shape[0]
        squared[ALL] += parts.sum(0)
        picked = [i - seen for i in sorted(shown) if seen <= i < seen + target.shape[0]]
        if picked:
            tiles["input"].append(module.visualize_input(generator_input, target)[picked])
            tiles["prediction"].append(prediction[picked])
            tiles["target"].append(target[picked])
        seen += target.shape[0]
    values = prediction[0].numel()  # per tile: channels x height x width
    scores = {
        label: {
            **{name: float(value) for name, value in collection.compute().items()},
            "tone_share": float(squared[label][1] / squared[label][0]),
            "tone_rms": 255 * math.sqrt(float(squared[label][1]) / (counts[label] * values)),
            "tiles": counts[label],
        }
        for label, collection in collections.items()
    }
    return scores, {name: torch.cat(parts) for name, parts in tiles.items() if parts}


def check_against_record(record: dict[str, Any], scores: dict[str, float]) -> None:
    """The whole set predicted again must repeat the run's recorded scores."""
    for name, value in scores.items():
        if name in record and name != "tiles" and abs(value - record[name]) > 1e-3 * abs(value):
            raise SystemExit(
                f"{record['weights']}: {name} {value:.4f} predicted again, {record[name]:.4f} in "
                "the record: not the run's generator or test photographs"
            )


def _cell(values: Sequence[float | None]) -> str:
    return "/".join("-" if value is None else f"{value:.2f}" for value in values)


def markdown_tables(
    records: Sequence[dict[str, Any]], metrics: Sequence[str], reference: str | None
) -> list[str]:
    """One table per task and metric; cells list the seeds' values in seed order."""
    lines = []
    for task in dict.fromkeys(record["task"] for record in records):
        runs = [record for record in records if record["task"] == task]
        recipes = list(dict.fromkeys(record["recipe"] for record in runs))
        seeds = sorted({record["seed"] for record in runs})
        by_key = {(record["recipe"], record["seed"]): record for record in runs}
        photos = list(runs[0]["per_photo"])
        compared = [r for r in recipes if r != reference] if reference in recipes else []
        for metric in metrics:
            lines += [f"### {task}: {metric}, seeds {'/'.join(map(str, seeds))}", ""]
            header = ["photograph", "tiles", *recipes]
            header += [f"{reference} - {recipe}" for recipe in compared]
            lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            for photo in photos:
                values = {
                    recipe: [
                        by_key[recipe, seed]["per_photo"][photo][metric]
                        if (recipe, seed) in by_key
                        else None
                        for seed in seeds
                    ]
                    for recipe in recipes
                }
                tiles = str(runs[0]["per_photo"][photo]["tiles"])
                row = [photo, tiles, *(_cell(values[recipe]) for recipe in recipes)]
                for recipe in compared:
                    differences = [
                        None if a is None or b is None else a - b
                        for a, b in zip(values[reference], values[recipe], strict=True)
                    ]
                    row.append(_cell(differences))
                lines.append("| " + " | ".join(row) + " |")
            lines.append("")
    return lines


def write_tiles_figure(
    records: Sequence[dict[str, Any]],
    tiles: dict[int, dict[str, torch.Tensor]],
    photo: str,
    path: Path,
    scale: int,
) -> None:
    """Per task: input, each recipe's prediction at the task's first seed, ground truth."""

    def enlarged(images: torch.Tensor) -> torch.Tensor:
        return F.interpolate(images, scale_factor=scale, mode="nearest")

    panels = []
    for task in dict.fromkeys(record["task"] for record in records):
        runs = [(i, r) for i, r in enumerate(records) if r["task"] == task]
        seed = min(record["seed"] for _, record in runs)
        first = [(i, r) for i, r in runs if r["seed"] == seed]
        if not tiles.get(first[0][0]):
            raise SystemExit(f"--figure-photo: no test tile of {photo!r} in the runs of {task}")
        rows = [("input", enlarged(tiles[first[0][0]]["input"]))]
        rows += [(r["recipe"], enlarged(tiles[i]["prediction"])) for i, r in first]
        rows.append(("ground truth", enlarged(tiles[first[0][0]]["target"])))
        panels.append((f"{task}, {photo}, seed {seed}", rows))
    comparison_figure(panels, path, columns=FIGURE_TILES)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    records = saved_photo_runs(args.out_dirs, args.tasks, args.recipes, args.seeds)
    if not records:
        raise SystemExit(
            f"out_dirs: no saved runs of {args.tasks} under {[str(d) for d in args.out_dirs]}"
        )
    if args.reference is not None and args.reference not in {r["recipe"] for r in records}:
        raise SystemExit(f"--reference: {args.reference!r} is not the recipe of any saved run")
    photos = records[0]["test_photos"]
    if args.figure_photo is not None and args.figure_photo not in map(photo_label, photos):
        raise SystemExit(
            f"--figure-photo: {args.figure_photo!r} is not one of the runs' test photographs "
            f"{[photo_label(name) for name in photos]}"
        )
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    tiles: dict[int, dict[str, torch.Tensor]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="per_photo_") as folder:
            photo_root = Path(folder)
            write_photo_tiles(photo_root, test_photos=photos)
            settings = RunSettings(
                steps=0, batch_size=4, accelerator="cpu", precision="32-true", photo_root=photo_root
            )
            for index, record in enumerate(records):
                scores, tiles[index] = score_per_photo(
                    record, settings, args.metrics, args.figure_photo
                )
                check_against_record(record, scores[ALL])
                record["per_photo"] = scores
                summary = {photo: round(row[args.metrics[0]], 2) for photo, row in scores.items()}
                print(record["task"], record["recipe"], record["seed"], summary, flush=True)
    finally:
        torch.set_num_threads(threads)
    names = ", ".join(photo_label(name) for name in photos)
    lines = [
        f"# Per-photograph scores ({datetime.date.today().isoformat()})",
        "",
        f"`{script_command('quality_per_photo.py', argv)}`",
        "",
        f"Test photographs: {names}. Cells: the seeds' values in seed order; the row `all` repeats "
        "each run's recorded scores.",
        "",
        *markdown_tables(records, args.metrics, args.reference),
    ]
    write_report("\n".join(lines), args.out)
    if args.json is not None:
        args.json.write_text(json.dumps(records, indent=2))
    if args.figure is not None:
        write_tiles_figure(records, tiles, args.figure_photo, args.figure, args.figure_scale)
        print(f"wrote {args.figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
