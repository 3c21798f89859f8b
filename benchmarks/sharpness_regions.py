"""Where a sharpness ratio comes from: the ratio split by region of the image.

    python benchmarks/sharpness_regions.py OUT_DIR [OUT_DIR ...]
        [--tasks textures textures_unet photo_inpaint] [--out FILE]

``OUT_DIR`` is a ``quality.py --out-dir``: every saved run of the chosen tasks in
``OUT_DIR/runs/main`` (its record and generator weights) is predicted again on its held-out set,
and each image's gradient magnitude (:func:`gradient_magnitude_map`, the sharpness metric's own)
is summed separately over regions.

Textures tasks (the regions of the label map):

- ``edges``: pixels within 1 px of a change of label (object outlines);
- ``background``: the flat class 0 away from edges;
- one region per textured class away from edges, named by its texture family (stripes, checks,
  dots, noise, gradient).

``photo_inpaint`` (the regions of the mask): ``hole``, every gradient-grid pixel whose forward
differences read a missing pixel (the fill and its seam), and ``known``, the rest (kept exactly,
so its ratio is 1). The hole's ratio is the sharpness of the fill alone, which the whole tile's
ratio dilutes with the known pixels. The photo tiles are written again from the record's
``test_photos``.

For each region it reports the prediction's gradient sum over the target's (the region's own
sharpness ratio) and the region's share of the excess, ``(P_r - T_r) / T``, where ``T`` is the
targets' total: the shares add up to ``sharpness - 1``, the benchmark's figure minus one (checked
against the run's record). No training; a few seconds per run on a CPU.
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from quality_report import script_command, write_report
from quality_run import RunSettings, restore_run, saved_runs
from quality_tasks import NUM_CLASSES, TASK_KIND, TEST_PHOTOS, main_recipes, write_photo_tiles

from cfl_lightning.data.textures import class_style
from cfl_lightning.metrics import gradient_magnitude_map
from cfl_lightning.metrics.inputs import to_unit_interval

EDGES = "edges"
BACKGROUND = "background"
HOLE = "hole"
KNOWN = "known"
INPAINTING_TASKS = tuple(task for task, kind in TASK_KIND.items() if kind == "photo_inpaint")
TEXTURES_TASKS = tuple(task for task, kind in TASK_KIND.items() if kind == "textures")


def region_names(num_classes: int) -> list[str]:
    """``edges``, ``background``, then the family of every textured class ``1..num_classes-1``
    (with the class index when a family repeats)."""
    families = [class_style(k).family for k in range(1, num_classes)]
    names = [f if families.count(f) == 1 else f"{f} {k + 1}" for k, f in enumerate(families)]
    return [EDGES, BACKGROUND, *names]


def region_masks(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(R, B, H-1, W-1)`` bool masks on the gradient grid for int ``labels`` ``(B, H, W)``, one
    per :func:`region_names` entry; every grid pixel is in exactly one region."""
    change = torch.zeros_like(labels, dtype=torch.bool)
    right = labels[:, :, 1:] != labels[:, :, :-1]
    down = labels[:, 1:, :] != labels[:, :-1, :]
    change[:, :, 1:] |= right
    change[:, :, :-1] |= right
    change[:, 1:, :] |= down
    change[:, :-1, :] |= down
    near = F.max_pool2d(change[:, None].float(), 3, stride=1, padding=1)[:, 0] > 0
    near, grid = near[:, :-1, :-1], labels[:, :-1, :-1]
    masks = [near] + [~near & (grid == k) for k in range(num_classes)]
    return torch.stack(masks)


def hole_masks(mask: torch.Tensor) -> torch.Tensor:
    """``(2, B, H-1, W-1)`` bool masks ``hole``, ``known`` on the gradient grid for an inpainting
    ``mask`` ``(B, 1, H, W)`` (1 = missing): grid pixel ``(i, j)`` is in the hole when one of the
    three pixels its forward differences read, ``(i, j)``, ``(i, j+1)``, ``(i+1, j)``, is
    missing."""
    missing = mask[:, 0] > 0
    hole = missing[:, :-1, :-1] | missing[:, :-1, 1:] | missing[:, 1:, :-1]
    return torch.stack([hole, ~hole])


def task_region_names(task: str) -> list[str]:
    """The regions :func:`batch_region_masks` gives for ``task``."""
    return [HOLE, KNOWN] if task in INPAINTING_TASKS else region_names(NUM_CLASSES)


def batch_region_masks(task: str, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """A held-out batch's region masks: by its inpainting ``mask`` or its ``label`` map."""
    if task in INPAINTING_TASKS:
        return hole_masks(batch["mask"])
    return region_masks(batch["label"], NUM_CLASSES)


@torch.no_grad()
def region_sums(
    prediction: torch.Tensor, target: torch.Tensor, masks: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per region of ``masks`` ``(R, B, H-1, W-1)`` (``(R,)`` each): the prediction's and the
    target's summed gradient magnitude (images in ``[-1, 1]``, measured in ``[0, 1]`` units as
    ``SharpnessRatio`` does) and the number of grid pixels."""
    pred_map = gradient_magnitude_map(to_unit_interval(prediction, (-1.0, 1.0)))
    target_map = gradient_magnitude_map(to_unit_interval(target, (-1.0, 1.0)))
    masks = masks.float()
    return (
        (masks * pred_map).flatten(1).sum(1),
        (masks * target_map).flatten(1).sum(1),
        masks.flatten(1).sum(1),
    )


def decompose(pred: torch.Tensor, target: torch.Tensor, pixels: torch.Tensor) -> dict[str, Any]:
    """Sums per region -> the overall ratio, each region's ratio, its share of the excess over
    the targets' total, its share of the area and of the targets' gradient."""
    total = float(target.sum())
    return {
        "sharpness": float(pred.sum()) / total,
        "ratio": torch.where(target > 0, pred / target.clamp_min(1e-12), torch.inf).tolist(),
        "excess": ((pred - target) / total).tolist(),
        "area": (pixels / pixels.sum()).tolist(),
        "target_share": (target / total).tolist(),
    }


def score_run(module: Any, loader: torch.utils.data.DataLoader, task: str) -> dict[str, Any]:
    """The decomposition of one trained module's held-out predictions on ``task``."""
    module = module.eval()
    sums = None
    with torch.no_grad():
        for batch in loader:
            generator_input, target = module.prepare_batch(batch)
            prediction = module.generate(generator_input, target).float().clamp(-1, 1)
            masks = batch_region_masks(task, batch)
            parts = region_sums(prediction, target.float(), masks)
            sums = parts if sums is None else tuple(a + b for a, b in zip(sums, parts))
    assert sums is not None
    return decompose(*sums)


def cell(values: list[float], signed: bool = False) -> str:
    """``mean (min to max)`` of ``values`` (the mean alone for one), with a sign if ``signed``;
    ``flat target`` for a ratio over a region where the target has no gradient."""
    if any(v == float("inf") for v in values):
        return "flat target"  # a ratio over zero: the region's share of the excess says more
    mean = sum(values) / len(values)
    form = "+.2f" if signed else ".2f"
    if len(values) == 1:
        return f"{mean:{form}}"
    return f"{mean:{form}} ({min(values):{form}} to {max(values):{form}})"


def table(
    recipes: dict[str, list[dict[str, Any]]],
    names: list[str],
    key: str,
    overall: str,
    offset: float,
) -> list[str]:
    """Markdown rows: per recipe its seeds, ``sharpness - offset`` and ``run[key]`` per region
    (signed when ``offset`` is not 0)."""
    signed = offset != 0
    lines = [
        f"| recipe | seeds | {overall} | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for recipe, runs in recipes.items():
        seeds = ", ".join(str(r["seed"]) for r in runs)
        total = cell([r["sharpness"] - offset for r in runs], signed)
        cells = [cell([r[key][i] for r in runs], signed) for i in range(len(names))]
        lines.append(f"| {recipe} | {seeds} | {total} | " + " | ".join(cells) + " |")
    return lines


def report(rows: list[dict[str, Any]], command: str) -> str:
    """Markdown: per task two tables (each region's ratio; its share of the excess), one row per
    recipe, mean (min-max over seeds)."""
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        grouped[row["task"]][row["recipe"]].append(row)

    tasks = {row["task"] for row in rows}
    regions = []
    if tasks - set(INPAINTING_TASKS):
        regions.append(
            "- Label maps: `edges` = within 1 px of a label change; `background` = the flat "
            "class 0; the others = each textured class's interior, by texture family."
        )
    if tasks & set(INPAINTING_TASKS):
        regions.append(
            "- Inpainting: `hole` = grid pixels whose forward differences read a missing pixel "
            "(the fill and its seam); `known` = the rest, kept exactly."
        )
    lines = [
        "# Sharpness by region",
        "",
        f"- Command: `{command}`",
        f"- Date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='minutes')}",
        "- Held-out inputs of each task, predicted again from the saved generators; cells "
        "are mean (min to max) over the seeds listed. Sharpness = the prediction's mean gradient "
        "magnitude over the target's (1 is ideal), as the benchmark's `sharpness`.",
        *regions,
    ]
    for task, recipes in grouped.items():
        names = task_region_names(task)
        first = next(iter(recipes.values()))[0]
        area = ", ".join(f"{n} {a:.0%}" for n, a in zip(names, first["area"]))
        share = ", ".join(f"{n} {a:.0%}" for n, a in zip(names, first["target_share"]))
        lines += [
            "",
            f"## {task}",
            "",
            f"Area: {area}. Share of the targets' gradient: {share}.",
            "",
            "Sharpness ratio per region:",
            "",
            *table(recipes, names, "ratio", "sharpness", 0.0),
            "",
            "Each region's share of the excess, (P_r - T_r) / T (the row sums to sharpness - 1):",
            "",
            *table(recipes, names, "excess", "sharpness - 1", 1.0),
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dirs", nargs="+", type=Path, help="quality.py --out-dir folders")
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=list(TEXTURES_TASKS),
        choices=TEXTURES_TASKS + INPAINTING_TASKS,
        help=f"default {' '.join(TEXTURES_TASKS)}",
    )
    parser.add_argument("--out", type=Path, help="also write the Markdown report here")
    args = parser.parse_args(argv)
    runs = saved_runs(args.out_dirs, args.tasks)
    if not runs:
        raise SystemExit(
            f"out_dirs: no saved runs of {args.tasks} under {[str(d) for d in args.out_dirs]}"
        )
    recipes = {r.name: r for r in main_recipes(False) + main_recipes(True)}
    rows = []
    with tempfile.TemporaryDirectory(prefix="sharpness_regions_") as folder:
        photo_roots: dict[tuple[str, ...], Path] = {}
        for record, weights in runs:
            photo_root = Path(".")  # unused by the textures tasks
            if record["task"] in INPAINTING_TASKS:
                photos = tuple(record.get("test_photos", TEST_PHOTOS))
                if photos not in photo_roots:
                    photo_roots[photos] = Path(folder) / str(len(photo_roots))
                    write_photo_tiles(photo_roots[photos], test_photos=photos)
                photo_root = photo_roots[photos]
            rows.append(score_saved_run(record, weights, recipes, photo_root))
    write_report(report(rows, script_command("sharpness_regions.py", argv)), args.out)
    return 0


def score_saved_run(
    record: dict[str, Any], weights: Path, recipes: dict[str, Any], photo_root: Path
) -> dict[str, Any]:
    """One saved run's row: restored, predicted again, checked against its record."""
    task, seed = record["task"], record["seed"]
    settings = RunSettings(
        steps=record["steps"],
        batch_size=4,
        accelerator="cpu",
        precision="32-true",
        photo_root=photo_root,
    )
    module, loader = restore_run(record, recipes[record["recipe"]], settings, weights)
    scores = score_run(module, loader, task)
    if "sharpness" in record and abs(scores["sharpness"] - record["sharpness"]) > 1e-3:
        raise SystemExit(
            f"{weights}: sharpness {scores['sharpness']:.4f} predicted again, "
            f"{record['sharpness']:.4f} in the record: not the run's generator or data"
        )
    print(task, record["recipe"], seed, round(scores["sharpness"], 3), flush=True)
    return {"task": task, "recipe": record["recipe"], "seed": seed, **scores}


if __name__ == "__main__":
    raise SystemExit(main())
