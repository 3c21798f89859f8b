"""Which quality metrics see which distortions: distortion ladders on held-out targets (issue 13).

    OMP_NUM_THREADS=1 python benchmarks/metric_check.py --images 96  # ~16 min on 2 CPU cores
    python benchmarks/metric_check.py --quick --out /tmp/check.md  # tiny data, seconds (tests)
    python benchmarks/sample_photos.py --out /tmp/photos  # three more photographs, then:
    OMP_NUM_THREADS=1 python benchmarks/metric_check.py --tasks photo_sr --images 140 \
        --test-photos chelsea coffee motorcycle_left --photo-files /tmp/photos/*.jpg

For each benchmark task (``quality_tasks``: the synthetic textures test split, and the 64x64 test
tiles of scikit-image's ``chelsea`` and ``coffee`` photographs) a set of clean targets ``A`` is
distorted along six ladders of three levels each (``distortions.LADDERS``: Gaussian blur, additive
Gaussian noise, JPEG, desaturation, a period-2 checkerboard, a red/blue colour cast) and every
level is scored against the clean ``A`` by every weights-free metric of
``cfl_lightning.metrics.QUALITY_METRICS``, computed by ``quality_metrics`` exactly as validation
and the quality benchmark compute them. The floor is a second, independent set of targets ``B`` of
the same task, of the same size, scored against ``A`` the same way: textures, the first items of
the training split against the test split; photos, the odd-numbered test tiles against the
even-numbered ones (``A`` is then the even-numbered half).

Verdict per metric, on its "badness" (0 for a perfect copy, larger is worse): PatchSWD itself;
``1 - SSIM``; the mean squared error that the PSNR stands for, ``10 ** (-PSNR / 10)``; ``|ln r|``
for the sharpness and colourfulness ratios ``r``. A metric passes when its badness rises strictly
along every ladder and each ladder's strongest level is at least 3x the floor's badness. PSNR and
SSIM compare images pixel by pixel: a second sample of the targets is far from them, so they are
not expected to pass (they measure fidelity, not realism).

Writes a Markdown report (``--out``, default ``benchmarks/results/metric_check.md``) and prints it.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import math
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

# This checkout's benchmarks and package first (not an installed copy of cfl_lightning).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from distortions import LADDERS
from quality_eval import SWD_SCALES
from quality_tasks import (
    SPARE_PHOTOS,
    TEST_PHOTOS,
    photo_label,
    textures_datamodule,
    write_photo_tiles,
)

from cfl_lightning.metrics import QUALITY_METRICS, quality_metrics

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "metric_check.md"
OFFLINE_METRICS = ("patch_swd", "patch_swd_per_set", "psnr", "ssim", "sharpness", "colorfulness")
PRETRAINED_METRICS = ("fid", "kid", "lpips")  # need weights this benchmark does not download
assert set(OFFLINE_METRICS + PRETRAINED_METRICS) == set(QUALITY_METRICS), "a metric is unlisted"
FLOOR_FACTOR = 3.0
# (column title, format of the displayed value) per metric.
DISPLAY = {
    "patch_swd": ("PatchSWD (primary: ref.-norm., split-half units)", ".2f"),
    "patch_swd_per_set": ("PatchSWD per-set x1e3", ".1f"),
    "psnr": ("PSNR dB", ".2f"),
    "ssim": ("SSIM", ".4f"),
    "sharpness": ("sharpness ratio", ".3f"),
    "colorfulness": ("colourfulness ratio", ".3f"),
}
BADNESS_NOTE = {
    "patch_swd": "value",
    "patch_swd_per_set": "value",
    "psnr": "10^(-PSNR/10) (MSE)",
    "ssim": "1 - SSIM",
    "sharpness": "abs(ln ratio)",
    "colorfulness": "abs(ln ratio)",
}
TASK_TITLES = {
    "textures": "Synthetic textures (label map -> image targets, 64x64)",
    "photo_sr": "Photo SR targets (64x64 tiles of {photos})",
}


def badness(name: str, value: float) -> float:
    """The metric's distance from a perfect copy (0), larger is worse (see the module doc)."""
    if name == "psnr":
        return 10 ** (-value / 10)
    if name == "ssim":
        return 1 - value
    if name in ("sharpness", "colorfulness"):
        return abs(math.log(value)) if value > 0 else math.inf
    return value


# ------------------------------------------------------------------------------------ data
def texture_targets(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(A, B)``: the first ``count`` test targets of the textures benchmark and, as the
    independent second set, the first ``count`` targets of its training split."""
    datamodule = textures_datamodule(batch_size=1, seed=0, train_size=count, test_size=count)

    def images(split: str) -> torch.Tensor:
        dataset = datamodule.build_dataset(split)
        return torch.stack([dataset[i]["image"] for i in range(count)])

    return images("test"), images("train")


def photo_targets(
    count: int, root: Path | None = None, photos: Sequence[str] = TEST_PHOTOS
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(A, B)``: even- and odd-numbered 64x64 test tiles of the photo SR benchmark (``2 *
    count`` tiles taken evenly over all of them; fewer if there are not as many), in [-1, 1].
    ``photos``: the photographs tiled (default the benchmark's test photographs; scikit-image
    names or image files)."""
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(root or temporary)
        if not (folder / "test").is_dir():
            write_photo_tiles(folder, test_photos=photos)
        paths = sorted((folder / "test").glob("*.png"))
        wanted = min(2 * count, len(paths) - len(paths) % 2)
        paths = [paths[i * len(paths) // wanted] for i in range(wanted)]
        arrays = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])
    images = torch.from_numpy(arrays).permute(0, 3, 1, 2).float() / 127.5 - 1
    return images[0::2].contiguous(), images[1::2].contiguous()


# --------------------------------------------------------------------------------- scoring
def score(
    preds: torch.Tensor,
    target: torch.Tensor,
    options: dict[str, dict] | None = None,
    batch_size: int = 32,
) -> dict[str, Any]:
    """Every offline metric of ``preds`` against ``target`` (per-set PatchSWD x1000), through the
    package's ``quality_metrics`` collection, fed in batches; ``"patch_swd_levels"``: the primary
    PatchSWD's per-level values (split-half units, finest first)."""
    metrics = quality_metrics(list(OFFLINE_METRICS), options=options)
    for start in range(0, len(target), batch_size):
        stop = start + batch_size
        metrics.update(preds[start:stop], target[start:stop])
    values = {name: float(value) for name, value in metrics.compute().items()}
    for name, scale in SWD_SCALES.items():
        values[name] *= scale
    levels = metrics["patch_swd"].compute_levels()
    values["patch_swd_levels"] = [float(v) for v in levels]
    return values


def ladder_scores(
    clean: torch.Tensor,
    other: torch.Tensor,
    options: dict[str, dict] | None = None,
    strongest_only: bool = False,
) -> dict[str, dict[str, Any]]:
    """``{row: {metric: value}}``: ``"floor"`` (``other`` against ``clean``) then one row per
    ladder level (only the strongest if ``strongest_only``), e.g. ``"blur@2"``, each scored
    against ``clean``."""
    rows = {"floor": score(other, clean, options)}
    for name, distort, _, levels in LADDERS:
        for level in levels[-1:] if strongest_only else levels:
            rows[f"{name}@{level:g}"] = score(distort(clean, level), clean, options)
    return rows


def verdicts(rows: dict[str, dict[str, Any]]) -> dict[str, dict]:
    """Per metric: ``monotone`` (badness rises strictly along every ladder; None when only the
    strongest levels were scored), the ladders that do not, ``ratios`` ``{ladder: strongest
    badness / floor badness}`` and ``passed`` (None without the whole ladders)."""
    results = {}
    for metric in OFFLINE_METRICS:
        floor = badness(metric, rows["floor"][metric])
        not_monotone, ratios = [], {}
        for name, _, _, levels in LADDERS:
            keys = [f"{name}@{level:g}" for level in levels if f"{name}@{level:g}" in rows]
            values = [badness(metric, rows[key][metric]) for key in keys]
            if len(values) < len(levels):
                not_monotone = None
            elif not (values[0] > 0 and all(a < b for a, b in itertools.pairwise(values))):
                not_monotone.append(name)  # type: ignore[union-attr]
            ratios[name] = values[-1] / floor if floor > 0 else math.inf
        weak = [name for name, ratio in ratios.items() if not ratio >= FLOOR_FACTOR]
        monotone = None if not_monotone is None else not not_monotone
        results[metric] = {
            "monotone": monotone,
            "not_monotone": not_monotone,
            "ratios": ratios,
            "below_floor_factor": weak,
            "passed": None if monotone is None else monotone and not weak,
        }
    return results


# ---------------------------------------------------------------------------------- report
def values_table(rows: dict[str, dict[str, float]]) -> str:
    head = ["distortion@level", *(DISPLAY[m][0] for m in OFFLINE_METRICS)]
    head += [f"{m} (n/a)" for m in PRETRAINED_METRICS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row, values in rows.items():
        cells = [f"**{row}**" if row == "floor" else row]
        cells += [format(values[m], DISPLAY[m][1]) for m in OFFLINE_METRICS]
        cells += ["n/a"] * len(PRETRAINED_METRICS)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict_table(results: dict[str, dict]) -> str:
    ladders = [name for name, *_ in LADDERS]
    head = ["metric", "badness", "monotone", *(f"{n} strongest / floor" for n in ladders)]
    head.append("verdict")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for metric, result in results.items():
        if result["monotone"] is None:
            monotone = "(strongest levels only)"
        else:
            monotone = "yes" if result["monotone"] else "no: " + ", ".join(result["not_monotone"])
        cells = [metric, BADNESS_NOTE[metric], monotone]
        for name in ladders:
            ratio = result["ratios"][name]
            text = f"{ratio:.1f}x" if ratio < 100 else f"{ratio:.3g}x".replace("infx", "inf")
            cells.append(text if ratio >= FLOOR_FACTOR else f"**{text}**")
        cells.append({True: "**pass**", False: "fail", None: "-"}[result["passed"]])
        lines.append("| " + " | ".join(cells) + " |")
    for metric in PRETRAINED_METRICS:
        lines.append(f"| {metric} | n/a, needs pretrained weights |" + " |" * (len(head) - 2))
    return "\n".join(lines)


def levels_table(rows: dict[str, dict[str, Any]]) -> str:
    """The primary PatchSWD per pyramid level (finest first) for the floor and the strongest
    level of each ladder, with each level's ratio to the floor's same level."""
    floor = rows["floor"]["patch_swd_levels"]
    head = ["row", *(f"level {i} (/ floor)" for i in range(len(floor))), "root mean square"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    strongest = [f"{name}@{levels[-1]:g}" for name, _, _, levels in LADDERS]
    for row in ("floor", *strongest):
        values = rows[row]["patch_swd_levels"]
        cells = [row if row != "floor" else "**floor**"]
        cells += [f"{v:.2f}" if row == "floor" else f"{v:.2f} ({v / f:.1f}x)"
                  for v, f in zip(values, floor)]  # fmt: skip
        cells.append(f"{rows[row]['patch_swd']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(
    tables: dict[str, tuple[dict, dict]],
    sizes: dict[str, int],
    argv: Sequence[str],
    seconds: float,
    photos: Sequence[str] = TEST_PHOTOS,
) -> str:
    command = "OMP_NUM_THREADS=1 python benchmarks/metric_check.py " + shlex.join(argv)
    labels = [photo_label(name) for name in photos]
    photo_names = ", ".join(labels[:-1]) + " and " + labels[-1] if len(labels) > 1 else labels[0]
    lines = [
        "# Realism metric ladders (issue 13)",
        "",
        f"Command: `{command.strip()}`; "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')};"
        f" {seconds / 60:.1f} min.",
        "",
        "Each row scores a distorted copy of the clean targets `A` against `A`; the **floor** row "
        "scores an independent set of targets `B` of the same task and size against `A`. "
        "Ladders: "
        + "; ".join(
            f"{n} ({unit} {', '.join(f'{v:g}' for v in levels)})" for n, _, unit, levels in LADDERS
        )
        + ". Noise, checkerboard and cast in [-1, 1] units. "
        f"A metric passes when its badness rises strictly along every ladder and every strongest "
        f"level is at least {FLOOR_FACTOR:g}x the floor (bold: below). FID, KID and LPIPS: n/a, "
        "they need pretrained weights that this machine does not have.",
    ]
    for task, (rows, results) in tables.items():
        lines += [
            "",
            f"## {TASK_TITLES[task].format(photos=photo_names)}: {sizes[task]} targets",
            "",
            values_table(rows),
            "",
            verdict_table(results),
            "",
            "Primary PatchSWD per pyramid level (finest first), strongest level of each ladder:",
            "",
            levels_table(rows),
        ]
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=tuple(TASK_TITLES), default=list(TASK_TITLES))
    parser.add_argument(
        "--images",
        type=int,
        default=96,
        help="targets A (and B) per task; photos: at most 41 (65 with motorcycle_left, 140 "
        "with the three --photo-files of sample_photos.py as well)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown report path")
    parser.add_argument("--photo-root", type=Path, default=None, help="reuse written photo tiles")
    parser.add_argument(
        "--test-photos",
        nargs="+",
        choices=TEST_PHOTOS + SPARE_PHOTOS,
        default=list(TEST_PHOTOS),
        help="photographs tiled for the photo targets (default the benchmark's test photos)",
    )
    parser.add_argument(
        "--photo-files",
        nargs="+",
        default=[],
        help="RGB image files tiled as well (e.g. written by sample_photos.py)",
    )
    parser.add_argument("--quick", action="store_true", help="4 targets, cheap PatchSWD (tests)")
    parser.add_argument("--patch-size", type=int, default=None, help="both PatchSWDs (default 7)")
    parser.add_argument(
        "--num-levels", type=int, default=None, help="both PatchSWDs (default auto)"
    )
    parser.add_argument(
        "--strongest-only", action="store_true", help="floor and strongest levels only (cheaper)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, tuple[dict, dict]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    torch.manual_seed(0)
    count = 4 if args.quick else args.images
    swd: dict[str, Any] = {}
    if args.quick:
        swd.update(num_projections=32, num_repeats=1, patches_per_image=32)
    if args.patch_size is not None:
        swd["patch_size"] = args.patch_size
    if args.num_levels is not None:
        swd["num_levels"] = args.num_levels
    options = {"patch_swd": swd, "patch_swd_per_set": swd}
    photos = [*args.test_photos, *args.photo_files]
    start = time.perf_counter()
    tables, sizes = {}, {}
    for task in args.tasks:
        if task == "textures":
            clean, other = texture_targets(count)
        else:
            clean, other = photo_targets(count, args.photo_root, photos)
        sizes[task] = len(clean)
        rows = ladder_scores(clean, other, options, args.strongest_only)
        tables[task] = (rows, verdicts(rows))
        print(f"[{time.perf_counter() - start:.0f}s] {task}: {len(clean)} targets", flush=True)
    text = report(tables, sizes, argv, time.perf_counter() - start, photos)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return tables


if __name__ == "__main__":
    main()
