"""Summaries over seeds, target checks, the Markdown tables and the comparison figure."""

from __future__ import annotations

import math
import operator
import shlex
import statistics
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw

# (key, column title, format) of the table columns.
COLUMNS = (
    ("patch_swd", "PatchSWD (lower; primary, split-half units)", ".2f"),
    ("patch_swd_per_set", "PatchSWD per-set x1e3", ".1f"),
    ("sharpness", "sharpness (1)", ".2f"),
    ("colorfulness", "colourfulness (1)", ".2f"),
    ("psnr", "PSNR dB", ".2f"),
    ("ssim", "SSIM", ".3f"),
    ("loss_l1", "L1", ".3f"),
    ("loss_vgg", "VGG loss", ".4f"),
    ("loss_cfl_id", "CFL (id. heads)", ".3f"),
    ("train_seconds", "train s/run", ".0f"),
)


def script_command(script: str, argv: Sequence[str] | None) -> str:
    """The command line that ran ``benchmarks/<script>`` with ``argv`` (None: this process's
    arguments), as a report's header quotes it."""
    return f"python benchmarks/{script} " + shlex.join(sys.argv[1:] if argv is None else argv)


def write_report(text: str, out: Path | None) -> None:
    """Print a report, and write it to ``out`` when given."""
    if out is not None:
        out.write_text(text)
    print(text)


def spread(values: Sequence[float]) -> dict[str, float]:
    """Mean, sample standard deviation (0 for one value), min and max."""
    values = [float(v) for v in values]
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def summarize(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{task: {recipe: {metric: spread}}}`` over the runs' seeds (recipes in run order)."""
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for run in runs:
        grouped.setdefault(run["task"], {}).setdefault(run["recipe"], []).append(run)
    return {
        task: {
            recipe: {key: spread([r[key] for r in rs]) for key, _, _ in COLUMNS}
            | {"settings": rs[0]["settings"], "seeds": [r["seed"] for r in rs]}
            for recipe, rs in recipes.items()
        }
        for task, recipes in grouped.items()
    }


def paired(
    runs: Sequence[dict[str, Any]],
    task: str,
    metric: str,
    first: str,
    second: str,
    combine: Callable[[float, float], float],
) -> dict[str, float] | None:
    """Spread over seeds of ``combine(metric(first), metric(second))`` for the same seed (e.g. a
    ratio or a difference); None when no seed has both runs."""
    by_seed: dict[int, dict[str, float]] = {}
    for run in runs:
        if run["task"] == task and run["recipe"] in (first, second):
            by_seed.setdefault(run["seed"], {})[run["recipe"]] = run[metric]
    values = [combine(v[first], v[second]) for v in by_seed.values() if len(v) == 2]
    return spread(values) if values else None


def _mean_and_range(value: dict[str, float]) -> str:
    if value["n"] == 1:
        return f"{value['mean']:.2f}"
    return f"{value['mean']:.2f} (seeds {value['min']:.2f}-{value['max']:.2f})"


# Issue 13's targets for a CFL recipe, on every task: PatchSWD (primary) at most these fractions
# of L1's and of the VGG loss's, sharpness and colourfulness ratios in RATIO_RANGE and, on
# super-resolution, a PSNR at most PSNR_DROP_DB below the VGG loss's.
SWD_LIMITS = {"l1": 0.6, "vgg": 0.85}
RATIO_RANGE = (0.8, 1.25)
PSNR_DROP_DB = 1.0
SR_TASKS = ("photo_sr", "photo_sr_unet")


def _check(task: str, target: str, value: dict[str, float], low: float, high: float) -> dict:
    """One target ``low <= value <= high`` over the seeds: ``met`` (None with one seed) and
    ``margin``: how far the mean is inside (+) or outside (-) the nearer limit."""
    margin = min(value["mean"] - low, high - value["mean"])
    met = low <= value["min"] and value["max"] <= high
    return {
        "task": task,
        "target": target,
        "measured": _mean_and_range(value),
        "margin": margin,
        "met": met if value["n"] > 1 else None,
    }


def check_targets(
    runs: Sequence[dict[str, Any]], suffix: str = "", cfl_recipe: str = "cfl"
) -> list[dict[str, Any]]:
    """Issue 13's targets for ``cfl_recipe`` (+ ``suffix``, e.g. ``"+gan"``) on every task that
    has it, L1 and the VGG loss: each with the measured value, its ``margin`` to the limit
    (negative: missed by that much) and whether it is met.

    A target counts as met only when every seed meets it (a ratio is taken per seed, against the
    same seed's L1 or VGG run); with a single seed ``met`` is None (not claimed either way).
    """
    summary = summarize(runs)
    cfl, l1, vgg = f"{cfl_recipe}{suffix}", f"l1{suffix}", f"vgg{suffix}"
    checks: list[dict[str, Any]] = []
    for task, recipes in summary.items():
        if not {cfl, l1, vgg} <= set(recipes):
            continue
        for other, key in ((l1, "l1"), (vgg, "vgg")):
            ratio = paired(runs, task, "patch_swd", cfl, other, operator.truediv)
            assert ratio is not None
            limit = SWD_LIMITS[key]
            target = f"PatchSWD {cfl} / {other} <= {limit}"
            checks.append(_check(task, target, ratio, -math.inf, limit))
        low, high = RATIO_RANGE
        for metric in ("sharpness", "colorfulness"):
            target = f"{cfl} {metric} ratio in [{low}, {high}]"
            checks.append(_check(task, target, recipes[cfl][metric], low, high))
        if task in SR_TASKS:
            drop = paired(runs, task, "psnr", vgg, cfl, operator.sub)
            assert drop is not None
            target = f"PSNR {vgg} - {cfl} <= {PSNR_DROP_DB:g} dB"
            checks.append(_check(task, target, drop, -math.inf, PSNR_DROP_DB))
    return checks


def format_cell(value: dict[str, float], fmt: str) -> str:
    if value["n"] == 1:
        return format(value["mean"], fmt)
    return f"{value['mean']:{fmt}} ± {value['std']:{fmt}}"


def markdown_table(summary: dict[str, dict[str, Any]], with_settings: bool = False) -> str:
    """One task's table: a row per recipe, ``mean ± std`` over seeds in each cell."""
    head = ["recipe", *(["settings"] if with_settings else []), *(t for _, t, _ in COLUMNS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for recipe, values in summary.items():
        cells = [recipe, *([values["settings"]] if with_settings else [])]
        cells += [format_cell(values[key], fmt) for key, _, fmt in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ranges_table(summary: dict[str, dict[str, Any]], keys: Sequence[str]) -> str:
    """Min-max over seeds of a few metrics, one row per recipe."""
    titles = {key: title for key, title, _ in COLUMNS}
    formats = {key: fmt for key, _, fmt in COLUMNS}
    lines = [
        "| recipe | " + " | ".join(f"{titles[k]} min-max" for k in keys) + " |",
        "|" + "---|" * (len(keys) + 1),
    ]
    for recipe, values in summary.items():
        cells = [f"{values[k]['min']:{formats[k]}} - {values[k]['max']:{formats[k]}}" for k in keys]
        lines.append(f"| {recipe} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets_table(checks: Sequence[dict[str, Any]]) -> str:
    """Markdown: one row per target with its measured value, margin and verdict."""
    lines = [
        "| task | target | measured (mean, seed range) | margin (- = missed by) | met |",
        "|---|---|---|---|---|",
    ]
    for check in checks:
        met = {True: "yes", False: "**no**", None: "not claimed (1 seed)"}[check["met"]]
        margin = f"{check['margin']:+.2f}"
        if check["margin"] < 0:
            margin = f"**{margin}**"
        cells = [check["task"], check["target"], check["measured"], margin, met]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _to_pil(images: torch.Tensor) -> list[Image.Image]:
    array = ((images.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    return [Image.fromarray(a) for a in array]


def comparison_figure(
    panels: Sequence[tuple[str, Sequence[tuple[str, torch.Tensor]]]],
    path: Path,
    columns: int = 8,
    label_width: int = 80,
    gap: int = 2,
) -> None:
    """Save a grid: for each ``(title, rows)`` panel, one row per ``(row_label, images)`` where
    images are ``(N, 3, h, w)`` in ``[-1, 1]``; ``columns`` images per row."""
    size = panels[0][1][0][1].shape[-1]
    title_height = 14
    width = label_width + columns * (size + gap)
    height = sum(title_height + len(rows) * (size + gap) for _, rows in panels)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    top = 0
    for title, rows in panels:
        draw.text((2, top + 1), title, fill="black")
        top += title_height
        for label, images in rows:
            lines = textwrap.wrap(label, width=label_width // 6 - 1) or [""]
            for index, line in enumerate(lines):
                y = top + size // 2 - 6 * len(lines) + 12 * index
                draw.text((2, y), line, fill="black")
            for column, image in enumerate(_to_pil(images[:columns])):
                canvas.paste(image, (label_width + column * (size + gap), top))
            top += size + gap
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, optimize=True)
