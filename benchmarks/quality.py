"""Quality benchmark: L1 vs VGG perceptual loss vs contrastive feature loss (CFL), same generator,
same seed, same number of steps, scored on held-out data.

    python benchmarks/quality.py                  # main table: both tasks, 3 seeds (CPU)
    python benchmarks/quality.py --gan            # plus each loss with a multi-scale GAN
    python benchmarks/quality.py --ablation       # CFL knobs on the synthetic task
    python benchmarks/quality.py --quick          # smoke run (seconds), writes to a temp folder
    python benchmarks/quality.py --device cuda --precision bf16-mixed --json quality.json
    python benchmarks/quality.py --resume         # reuse runs saved under results/runs/
    python benchmarks/quality.py --resume --rescore  # score saved runs again (current metrics)
    python benchmarks/quality.py --resume --test-photos chelsea coffee motorcycle_left
        # score saved photo runs on a third held-out photograph too (a copy of the runs folder:
        # their records are rewritten); --photo-files adds image files (sample_photos.py)

Tasks (64x64, see ``quality_tasks``): ``textures`` (label map -> image, synthetic stochastic
textures, small SPADE generator) and ``photo_sr`` (4x super-resolution of crops of
scikit-image's photographs, train and test on different photographs, residual SR network). Held
out, never used to tune a recipe (``--tasks``): ``photo_color`` (colorization, U-Net),
``textures_unet`` and ``photo_sr_unet`` (the two tasks with a U-Net generator), and
``photo_color_chroma`` (colorization that keeps the input's luminance) and ``photo_inpaint``
(inpainting free-form holes, U-Net; added after every recipe was chosen) and
``photo_inpaint_box`` (one large rectangular hole; a diagnostic added after ``photo_inpaint``).
Every run goes through the project's LightningModules and a ``pytorch_lightning.Trainer``. No
pretrained weights: the VGG19 of the perceptual loss and of CFL has seeded random weights (the
same for both within a seed).

Recipes: ``l1``, ``vgg``, ``cfl`` (library defaults: the paper's trained MLP critic), ``cfl-id``
(CFL with identity heads, no critic), ``cfl-tv`` (the MLP critic trained on two views of the
target only, ``critic="target_views"``) and ``cfl-fn`` (``cfl-tv`` in which patches whose target
features are alike, cosine similarity above 0.99, are not each other's negatives,
``false_negative_threshold=0.99``), ``cfl-fn-nq`` (``cfl-fn`` without query negatives, a
diagnostic) and ``cfl-fn-aq`` (``cfl-fn`` with ``query_negatives="above_target"``: the recipe of
``configs/loss/cfl_random_weights.yaml`` and the quickstart); with ``--gan`` each again with a GAN
and feature matching.

Scores (``quality_eval``, through ``cfl_lightning.metrics.quality_metrics``): PatchSWD (primary:
normalised by the targets' statistics, in units of their split-half distance per level, validated
by ``metric_check.py``; secondary: Karras' per-set normalisation, x1000), sharpness and
colourfulness ratios (1 is ideal), PSNR, SSIM, and the value of L1, of the VGG loss and of CFL with
identity heads on the held-out predictions. Each recipe is repeated over ``--seeds``; tables give
mean ± std and the min-max range; a comparison is claimed only when the seeds' ranges do not
overlap.

Writes ``quality.md`` and ``quality.png`` (or ``quality_ablation.md`` and ``.png``) in ``--out-dir``
(default ``benchmarks/results``), and ``--json PATH``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_eval import EVAL_VERSION, HeldOutEvaluator
from quality_report import (
    check_targets,
    comparison_figure,
    markdown_table,
    ranges_table,
    summarize,
    targets_table,
)
from quality_run import RunSettings, rescore, train_and_evaluate
from quality_tasks import (
    ALL_TASKS,
    HELD_OUT_TASKS,
    LOSS_WEIGHTS,
    PHOTO_TASKS,
    SPARE_PHOTOS,
    TASKS,
    TEST_PHOTOS,
    TRAIN_PHOTOS,
    ablation_recipes,
    main_recipes,
    photo_label,
    write_photo_tiles,
)

DEFAULT_OUT_DIR = Path(__file__).resolve().parent / "results"
TASK_TITLES = {
    "textures": "Synthetic textures: label map -> image (64x64)",
    "photo_sr": "Photo 4x super-resolution (16x16 -> 64x64, held-out photographs)",
    "photo_color": "Held out: photo colorization (luminance -> RGB, 64x64, held-out photographs)",
    "textures_unet": "Held out: synthetic textures with a U-Net generator",
    "photo_sr_unet": "Held out: photo 4x super-resolution with a U-Net generator",
    "photo_color_chroma": "Held out: photo colorization keeping the input's luminance (the "
    "generator chooses the colour only)",
    "photo_inpaint": "Held out: photo inpainting (free-form holes over 10-40 % of each 64x64 tile, "
    "held-out photographs)",
    "photo_inpaint_box": "Held out: photo inpainting (one rectangular hole over 25-50 % of each "
    "64x64 tile, held-out photographs)",
}
GENERATOR_NOTES = {
    "textures": "SPADEGenerator(ngf=16, hidden=32), batch norm; SemanticSynthesisModule",
    "photo_color": "UNetGenerator(1, 3, num_downs=5, ngf=32, upsample='resize'), batch norm; "
    "ColorizationModule",
    "textures_unet": "UNetGenerator(6, 3, num_downs=5, ngf=32, upsample='resize') on one-hot "
    "labels, batch norm; SemanticSynthesisModule",
    "photo_sr_unet": "UpsampledUNetSR: bicubic 4x upsampling + UNetGenerator(3, 3, num_downs=5, "
    "ngf=32, upsample='resize') residual; SuperResolutionModule",
    "photo_color_chroma": "LuminancePassthrough(UNetGenerator(1, 3, num_downs=5, ngf=32, "
    "upsample='resize')), batch norm; ColorizationModule(keep_luminance=True)",
    "photo_inpaint": "UNetGenerator(4, 3, num_downs=5, ngf=32, upsample='resize') on the masked "
    "tile and the mask, batch norm; InpaintingModule, scored on the prediction composited with "
    "the known pixels",
    "photo_inpaint_box": "as photo_inpaint",
    "photo_sr": "ResidualSRGenerator(scale=4, nf=32, n_blocks=4), sub-pixel upsampling with ICNR "
    "initialisation; SuperResolutionModule",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tasks",
        nargs="+",
        choices=ALL_TASKS,
        default=list(TASKS),
        help=f"default {' '.join(TASKS)}; held out (never tuned on): {' '.join(HELD_OUT_TASKS)}",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--steps", type=int, default=None, help="iterations per run (800; 400 with --ablation)"
    )
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--gan", action="store_true", help="also train each loss with a GAN")
    parser.add_argument("--ablation", action="store_true", help="CFL ablation on textures")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (seconds)")
    parser.add_argument("--device", default="cpu", help="Lightning accelerator: cpu, cuda, auto")
    parser.add_argument("--precision", default="32-true", help="e.g. 32-true, bf16-mixed")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1 is steadiest on a shared CPU)"
    )
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write all numbers here")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reuse the finished runs saved under <out-dir>/runs/ by an earlier, interrupted "
        "invocation with the same steps and batch size",
    )
    parser.add_argument(
        "--rescore",
        action="store_true",
        help="with --resume: score the saved runs again from their saved generators (after a "
        "metric changed) instead of reusing their saved scores",
    )
    parser.add_argument(
        "--recipes",
        nargs="+",
        default=None,
        help="run only these recipes (by name; default all of the table)",
    )
    parser.add_argument(
        "--test-photos",
        nargs="+",
        choices=TEST_PHOTOS + SPARE_PHOTOS,
        default=list(TEST_PHOTOS),
        help="photographs of the photo tasks' held-out tiles (default the benchmark's); saved runs "
        "scored on others are scored again on these",
    )
    parser.add_argument(
        "--photo-files",
        nargs="+",
        default=[],
        help="RGB image files added to --test-photos (e.g. written by sample_photos.py)",
    )
    args = parser.parse_args(argv)
    args.test_photos = [*args.test_photos, *args.photo_files]
    if args.rescore and not args.resume:
        parser.error("--rescore: needs --resume (it scores runs saved by an earlier invocation)")
    if args.steps is None:
        args.steps = 400 if args.ablation else 800
    if args.quick:
        args.seeds = args.seeds[:1]
        args.steps = min(args.steps, 3)
        args.batch_size = min(args.batch_size, 2)
        if args.out_dir is None:
            args.out_dir = Path(tempfile.mkdtemp(prefix="quality_quick_"))
    if args.ablation:
        args.tasks = ["textures"]
    if args.out_dir is None:
        args.out_dir = DEFAULT_OUT_DIR
    if args.steps < 1 or args.batch_size < 1:
        parser.error(f"--steps and --batch-size must be >= 1, got {args.steps}, {args.batch_size}")
    return args


def machine_description(accelerator: str, threads: int) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__}"
    text += f", {threads} torch thread(s) per run"
    if accelerator != "cpu" and torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name(0)}"
    return text


def run_all(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Train and score every (task, recipe, seed); returns the records and seed-0 samples."""
    recipes = ablation_recipes() if args.ablation else main_recipes(False)
    if args.gan and not args.ablation:
        recipes += main_recipes(True)
    if args.recipes is not None:
        unknown = sorted(set(args.recipes) - {r.name for r in recipes})
        if unknown:
            raise SystemExit(
                f"--recipes: unknown {unknown}; expected some of {[r.name for r in recipes]}"
            )
        recipes = [r for r in recipes if r.name in args.recipes]
    accelerator = "gpu" if args.device == "cuda" else args.device
    device = torch.device("cuda" if accelerator in ("gpu", "cuda") else "cpu")
    if accelerator == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    evaluator = HeldOutEvaluator(device, swd_repeats=1 if args.quick else None)
    runs: list[dict[str, Any]] = []
    samples: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="quality_photos_") as photo_root:
        if set(PHOTO_TASKS) & set(args.tasks):
            counts = write_photo_tiles(
                Path(photo_root), 8 if args.quick else None, test_photos=args.test_photos
            )
            print(f"photo tiles: {counts}", flush=True)
        settings = RunSettings(
            steps=args.steps,
            batch_size=args.batch_size,
            accelerator=accelerator,
            precision=args.precision,
            photo_root=Path(photo_root),
            textures_train_size=64 if args.quick else 2000,
            textures_test_size=4 if args.quick else 128,
        )
        for task in args.tasks:
            for seed in args.seeds:
                for recipe in recipes:
                    saved = _run_path(args, task, recipe.name, seed)
                    weights = saved.with_suffix(".generator.pt")
                    record, scored = None, None  # scored: the prefix of a newly scored run
                    if args.resume and saved.with_suffix(".json").exists():
                        record, kept = _load_run(saved)
                        stale = record.get("eval_version") != EVAL_VERSION or (
                            task in PHOTO_TASKS and scored_on(record) != list(args.test_photos)
                        )
                        if (args.rescore or stale) and weights.exists():
                            record, kept = rescore(record, recipe, settings, evaluator, weights)
                            scored = "(rescored) "
                        elif stale:
                            print(f"(saved with other scores, rerun) {saved.name}", flush=True)
                            record = None
                        else:
                            print("(saved) " + _one_line(record), flush=True)
                    if record is None:
                        record, kept = train_and_evaluate(
                            task, recipe, seed, settings, evaluator, save_generator=weights
                        )
                        scored = ""
                    if scored is not None:
                        if task in PHOTO_TASKS:
                            record["test_photos"] = list(args.test_photos)
                        _save_run(saved, record, kept)
                        print(scored + _one_line(record), flush=True)
                    runs.append(record)
                    if seed == args.seeds[0]:
                        samples.setdefault(task, {})[recipe.name] = kept
    return runs, samples


def scored_on(record: dict[str, Any]) -> list[str]:
    """The test photographs a saved photo run was scored on (records written before
    ``--test-photos`` existed: the benchmark's own)."""
    return list(record.get("test_photos", TEST_PHOTOS))


def _run_path(args: argparse.Namespace, task: str, recipe: str, seed: int) -> Path:
    """Where one finished run is saved (record ``.json``, held-out samples ``.pt``)."""
    slug = "".join(c if c.isalnum() else "_" for c in recipe)
    name = f"{task}__{slug}__seed{seed}__{args.steps}steps_b{args.batch_size}"
    return args.out_dir / "runs" / ("ablation" if args.ablation else "main") / name


def _save_run(path: Path, record: dict[str, Any], kept: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(kept, path.with_suffix(".pt"))
    path.with_suffix(".json").write_text(json.dumps(record, indent=2))


def _load_run(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    record = json.loads(path.with_suffix(".json").read_text())
    return record, torch.load(path.with_suffix(".pt"))


def _one_line(record: dict[str, Any]) -> str:
    keys = ("patch_swd", "patch_swd_per_set", "sharpness", "colorfulness", "psnr", "ssim")
    keys += ("train_seconds",)
    values = " ".join(f"{k}={record[k]:.3g}" for k in keys)
    return f"[{record['task']}] {record['recipe']} seed={record['seed']}: {values}"


def write_figure(samples: dict[str, Any], seed: int, path: Path) -> None:
    """Rows: input (label map or low-res photo), each recipe's prediction, ground truth."""
    panels = []
    for task, by_recipe in samples.items():
        first = next(iter(by_recipe.values()))
        rows = [("input", first["input"])]
        rows += [(name, kept["prediction"]) for name, kept in by_recipe.items()]
        rows.append(("ground truth", first["target"]))
        panels.append((f"{TASK_TITLES[task]}, seed {seed}", rows))
    comparison_figure(panels, path)


def all_targets(runs: list[dict[str, Any]], gan: bool) -> list[dict[str, Any]]:
    """The issue's targets for every CFL recipe of :func:`main_recipes` that ``runs`` hold beside
    L1 and the VGG loss, without and, if ``gan``, with a GAN."""
    cfl_recipes = [recipe.name for recipe in main_recipes(False) if recipe.loss == "cfl"]
    checks: list[dict[str, Any]] = []
    for suffix in ("", "+gan") if gan else ("",):
        for cfl in cfl_recipes:
            checks += check_targets(runs, suffix, cfl)
    return checks


def write_markdown(
    args: argparse.Namespace, runs: list[dict[str, Any]], wall: float, path: Path
) -> str:
    summary = summarize(runs)
    run_minutes = sum(r["train_seconds"] + r["eval_seconds"] for r in runs) / 60
    command = "python benchmarks/quality.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    title = "CFL ablation (synthetic textures)" if args.ablation else "Image-quality benchmark"
    lines = [
        f"# {title}",
        "",
        f"- Command: `{command.strip()}`",
        f"- Machine: {machine_description(args.device, args.threads)}; device `{args.device}`, "
        f"precision `{args.precision}`",
        f"- Date: {datetime.datetime.now().astimezone().isoformat(timespec='minutes')}",
        f"- Time: {run_minutes:.0f} min of training and evaluation over {len(runs)} runs "
        f"({wall / 60:.0f} min wall for this invocation{' with --resume' if args.resume else ''})",
        f"- Budget per run: {args.steps} iterations, batch {args.batch_size}, 64x64 images; "
        f"seeds {args.seeds}",
        "- Loss weights: "
        + ", ".join(f"{k} {v:g}" for k, v in LOSS_WEIGHTS.items())
        + (" (+ GAN 1, feature matching 10 for the +gan rows)" if args.gan else ""),
        "- No pretrained weights: VGG19 with seeded random weights for the VGG loss and CFL.",
        f"- Photos: train on {', '.join(TRAIN_PHOTOS)}; test on "
        f"{', '.join(photo_label(name) for name in args.test_photos)} (scikit-image"
        + (", and image files given by --photo-files)." if args.photo_files else ")."),
        "",
        "Cells: mean ± std over seeds. PatchSWD (lower is better): primary with both sets "
        "normalised by the targets' statistics, each pyramid level in units of the targets' "
        "own split-half distance, root mean square over levels (0.6-0.7 for a second sample "
        "of the targets; validated in metric_check.md); per-set (Karras et al., x1000) ignores "
        "per-channel gain and offset, so it barely sees blur or greyness. Sharpness and "
        "colourfulness are "
        "prediction / ground truth (1 is ideal, < 1 blurrier or greyer, > 1 noisier or more "
        "saturated). L1, VGG loss and CFL (id. heads) are loss values on the held-out "
        "predictions, with extractors fixed across runs. A difference is claimed only when the "
        "seeds' min-max ranges do not overlap.",
        "",
    ]
    for task, by_recipe in summary.items():
        lines += [f"## {TASK_TITLES[task]}", "", f"Generator: {GENERATOR_NOTES[task]}.", ""]
        lines += [markdown_table(by_recipe, args.ablation), ""]
        lines += [
            ranges_table(by_recipe, ("patch_swd", "sharpness", "colorfulness", "psnr")),
            "",
        ]
    checks = [] if args.ablation else all_targets(runs, args.gan)
    if checks:
        lines += [
            "## Targets (issue 13)",
            "",
            "For each CFL recipe on each task with L1 and VGG runs: PatchSWD at most 0.6x L1's "
            "and 0.85x the VGG loss's (per seed), sharpness and colourfulness ratios in "
            "[0.8, 1.25], on SR a PSNR at most 1 dB below the VGG loss's. Margin: distance of the "
            "mean to the limit, negative when missed.",
            "",
            targets_table(checks),
            "",
        ]
    text = "\n".join(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    try:
        runs, samples = run_all(args)
    finally:
        torch.set_num_threads(threads)
    wall = time.perf_counter() - start
    name = "quality_ablation" if args.ablation else "quality"
    markdown_path = args.out_dir / f"{name}.md"
    write_markdown(args, runs, wall, markdown_path)
    print(f"wrote {markdown_path}")
    figure_path = args.out_dir / f"{name}.png"
    write_figure(samples, args.seeds[0], figure_path)
    print(f"wrote {figure_path}")
    if args.json is not None:
        payload = {
            "command": sys.argv,
            "machine": machine_description(args.device, args.threads),
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "wall_seconds": wall,
            "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "runs": runs,
            "summary": summarize(runs),
            "targets": [] if args.ablation else all_targets(runs, args.gan),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
