"""Investigation sweeps: many (task, recipe, seed) runs of the quality benchmark, in parallel
worker processes, each run's numbers appended to ``OUT/results.jsonl`` and its first eight held-out
predictions to a contact sheet.

    python benchmarks/quality_sweep.py CONFIGS.json --out DIR [--steps 800] [--workers 4]
        [--device cuda] [--deadline 420]

``CONFIGS.json`` is a list of objects: ``{"task": "textures", "seed": 0, "recipe": {Recipe
fields}, "generator": one of GENERATORS ("default": the task's), "extra_losses": {"l1": 10}}`` (only
``task`` and ``recipe`` are required). Workers take configs in order and start no new run after
``--deadline`` seconds, so the most important configs go first. This is a tool for exploring the
knobs; ``quality.py`` is the benchmark.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_eval import HeldOutEvaluator
from quality_report import comparison_figure
from quality_run import RunSettings, train_and_evaluate
from quality_tasks import NUM_CLASSES, Recipe, write_photo_tiles

from cfl_lightning.networks import ResidualSRGenerator, SPADEGenerator, UNetGenerator


def transposed_convolution_unet() -> nn.Module:
    """pix2pix U-Net for the textures task (ngf 32, 6 downsamplings, 4x4 stride-2 transposed
    convolutions in the decoder)."""
    return UNetGenerator(NUM_CLASSES, num_downs=6, ngf=32)


GENERATORS = {
    "sr_resize": lambda: ResidualSRGenerator(4, nf=32, n_blocks=4, upsampler="resize"),
    "default": None,
    "unet": transposed_convolution_unet,
    "unet_resize": lambda: UNetGenerator(NUM_CLASSES, num_downs=6, ngf=32, upsample="resize"),
    "spade": lambda: SPADEGenerator(NUM_CLASSES, ngf=16, spectral_norm=True),
    "spade16_h32": lambda: SPADEGenerator(NUM_CLASSES, ngf=16, hidden=32),
    "spade8_h32": lambda: SPADEGenerator(NUM_CLASSES, ngf=8, hidden=32),
}


def config_name(config: dict[str, Any]) -> str:
    recipe = config["recipe"]
    parts = [config["task"], recipe["name"], config.get("generator", "default")]
    if config.get("extra_losses"):
        parts.append("+" + "+".join(f"{k}{v:g}" for k, v in config["extra_losses"].items()))
    return " | ".join(parts) + f" | seed {config.get('seed', 0)}"


def _recipe(fields: dict[str, Any]) -> Recipe:
    fields = dict(fields)
    options = dict(fields.pop("cfl_options", {}))
    for key in ("layers", "layer_weights"):
        if key in options:
            options[key] = tuple(options[key])
    return Recipe(cfl_options=options, **fields)


def worker(
    rank: int, configs: list[dict[str, Any]], args: argparse.Namespace, start: float, counter: Any
) -> None:
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device in ("cuda", "gpu") else "cpu")
    evaluator = HeldOutEvaluator(device, args.swd_repeats)
    accelerator = "gpu" if args.device == "cuda" else args.device
    settings = RunSettings(
        args.steps, args.batch_size, accelerator, args.precision, args.photo_root
    )
    panels = []
    while time.time() - start < args.deadline:
        with counter.get_lock():
            index = counter.value
            counter.value += 1
        if index >= len(configs):
            break
        config = configs[index]
        factory = GENERATORS[config.get("generator", "default")]
        record, kept = train_and_evaluate(
            config["task"],
            _recipe(config["recipe"]),
            int(config.get("seed", 0)),
            settings,
            evaluator,
            generator_factory=factory,
            extra_losses=config.get("extra_losses"),
        )
        record.update(
            name=config_name(config),
            index=index,
            generator=config.get("generator", "default"),
            extra_losses=config.get("extra_losses"),
            batch_size=args.batch_size,
            device=str(device),
        )
        with open(args.out / "results.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        print(
            f"[{time.time() - start:.0f}s] {record['name']}: swd={record['patch_swd']:.1f} "
            f"sharp={record['sharpness']:.2f} colour={record['colorfulness']:.2f}",
            flush=True,
        )
        if not panels:
            panels.append(("input", kept["input"]))
            panels.append(("target", kept["target"]))
        panels.append((str(index), kept["prediction"]))
        comparison_figure([(f"worker {rank}", panels)], args.out / f"sheet_{rank}.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--swd-repeats", type=int, default=None, help="PatchSWD num_repeats")
    parser.add_argument("--deadline", type=float, default=float("inf"), help="seconds")
    args = parser.parse_args(argv)
    configs = json.loads(args.configs.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="quality_photos_") as root:
        args.photo_root = Path(root)
        if any(c["task"] == "photo_sr" for c in configs):
            write_photo_tiles(args.photo_root)
        context = multiprocessing.get_context("spawn")
        counter = context.Value("i", 0)
        if args.workers == 1:
            worker(0, configs, args, start, counter)
        else:
            processes = [
                context.Process(target=worker, args=(rank, configs, args, start, counter))
                for rank in range(args.workers)
            ]
            for process in processes:
                process.start()
            for process in processes:
                process.join()
    print(f"done in {time.time() - start:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
