"""Speed and peak memory of a full training iteration: SPADE generator + multi-scale discriminator
with L1, VGG or CFL (each with GAN and feature matching), through the project's LightningModule.
``cfl+gan`` uses the paper's CFL, ``cfl_random_weights+gan`` the loss of
``configs/loss/cfl_random_weights.yaml`` (critic trained on views of the target).

    python benchmarks/train_speed.py                          # CPU: 128x128, ngf 16, batch 1
    python benchmarks/train_speed.py --device cuda --size 256 --ngf 64 --batch 4 \\
        --precision bf16-mixed --channels-last --compile --json out.json

Each recipe runs in its own subprocess: ``--warmup`` untimed iterations, then ``--steps`` timed
ones (each timed from batch start to batch end, synchronised on CUDA). Reports the median
iteration time with its interquartile range, iterations per second, and the peak memory (CUDA:
``max_memory_allocated``; CPU: peak resident set size above the level before training). Ratios
are to VGG+GAN in the same run. Feature extractors use random weights (same cost as ImageNet's).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

RECIPES = {
    "l1+gan": {"l1": 1.0, "gan": 1.0, "feature_matching": 10.0},
    "vgg+gan": {"perceptual": 10.0, "gan": 1.0, "feature_matching": 10.0},
    "cfl+gan": {"cfl": 1.6, "gan": 1.0, "feature_matching": 10.0},
    "cfl_random_weights+gan": {"cfl": 1.6, "gan": 1.0, "feature_matching": 10.0},
}
NUM_CLASSES = 35  # Cityscapes-like label maps, with an instance-edge channel


def cfl_options(recipe: str) -> dict:
    """CFL's arguments in ``recipe``: the paper's loss on random VGG19, or for
    ``cfl_random_weights+gan`` those of ``configs/loss/cfl_random_weights.yaml``."""
    if recipe == "cfl_random_weights+gan":
        from loss_speed import random_weights_options

        return random_weights_options()
    return {"weights": "random"}


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def measure(recipe: str, args: argparse.Namespace) -> dict[str, float]:
    import pytorch_lightning as pl
    import torch
    from torch.utils.data import DataLoader, Dataset

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from cfl_lightning.losses import ContrastiveFeatureLoss, PerceptualLoss
    from cfl_lightning.modules import SemanticSynthesisModule
    from cfl_lightning.networks import MultiscaleDiscriminator, SPADEGenerator

    class RandomLabels(Dataset):
        def __len__(self) -> int:
            return 10_000

        def __getitem__(self, index: int) -> dict:
            g = torch.Generator().manual_seed(index)
            height, width = args.size, args.size * args.aspect
            label = torch.randint(0, NUM_CLASSES, (height // 16, width // 16), generator=g)
            label = label.repeat_interleave(16, 0).repeat_interleave(16, 1)
            instance = torch.randint(0, 4, (height // 32, width // 32), generator=g)
            instance = instance.repeat_interleave(32, 0).repeat_interleave(32, 1)
            image = torch.rand(3, height, width, generator=g) * 2 - 1
            return {"label": label, "instance": instance, "image": image}

    class Timer(pl.Callback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.base = 0

        def _sync(self) -> None:
            if torch.cuda.is_available():
                torch.cuda.synchronize()

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if batch_idx == args.warmup:
                self._sync()
                if torch.cuda.is_available():
                    torch.cuda.reset_peak_memory_stats()
            self._sync()
            self.start = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            self._sync()
            if batch_idx >= args.warmup:
                self.times.append(time.perf_counter() - self.start)

    torch.manual_seed(0)
    terms = RECIPES[recipe]
    label_channels = NUM_CLASSES + 1
    parts: dict = {}
    if "cfl" in terms:
        parts["cfl"] = ContrastiveFeatureLoss(**cfl_options(recipe))
    if "perceptual" in terms:
        parts["perceptual"] = PerceptualLoss(weights="random")
    if args.compile_losses:
        for part in parts.values():
            part.compile()  # in place: same parameter names
    module = SemanticSynthesisModule(
        SPADEGenerator(label_channels, args.ngf, norm="batch" if args.batch > 1 else "instance"),
        num_classes=NUM_CLASSES,
        use_instances=True,
        losses=terms,
        discriminator=MultiscaleDiscriminator(label_channels + 3, ndf=args.ngf),
        metrics=(),
        compile_generator=args.compile,
        **parts,
    )
    if args.channels_last:
        module = module.to(memory_format=torch.channels_last)
    timer = Timer()
    trainer = pl.Trainer(
        accelerator="gpu" if args.device == "cuda" else "cpu",
        devices=1,
        precision=args.precision,
        max_steps=args.warmup + args.steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        callbacks=[timer],
    )
    loader = DataLoader(RandomLabels(), batch_size=args.batch, num_workers=args.workers)
    before = _rss_bytes()
    trainer.fit(module, loader)
    if args.device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before) / 2**20
    quartiles = statistics.quantiles(timer.times, n=4)
    median = statistics.median(timer.times)
    return {
        "median_ms": 1000 * median,
        "iqr_ms": 1000 * (quartiles[2] - quartiles[0]),
        "it_per_s": 1.0 / median,
        "peak_mib": peak,
        "times_ms": [1000 * t for t in timer.times],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--size", type=int, default=128, help="image height (width x --aspect)")
    parser.add_argument("--aspect", type=int, default=1, help="width / height (Cityscapes: 2)")
    parser.add_argument("--ngf", type=int, default=16, help="generator/discriminator width")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile the generator")
    parser.add_argument(
        "--compile-losses", action="store_true", help="torch.compile the VGG / CFL loss modules"
    )
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--json", default=None)
    parser.add_argument("--only", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.only:
        print(json.dumps(measure(args.only, args)))
        return
    results = {}
    for recipe in args.recipes.split(","):
        command = [sys.executable, __file__, "--only", recipe, *sys.argv[1:]]
        run = subprocess.run(command, capture_output=True, text=True)
        if run.returncode != 0:
            print(run.stderr[-4000:], file=sys.stderr)
            raise SystemExit(f"{recipe}: the measurement failed")
        results[recipe] = json.loads(run.stdout.strip().splitlines()[-1])
    base = results.get("vgg+gan")
    print(
        f"device={args.device} size={args.size}x{args.size * args.aspect} ngf={args.ngf} "
        f"batch={args.batch} precision={args.precision} channels_last={args.channels_last} "
        f"compile={args.compile} steps={args.steps}"
    )
    header = f"{'recipe':<24}{'median ms':>11}{'IQR ms':>9}{'it/s':>8}{'peak MiB':>10}"
    print(header + f"{'time x VGG':>12}{'mem x VGG':>11}")
    for name, r in results.items():
        r["time_ratio"] = r["median_ms"] / base["median_ms"] if base else float("nan")
        r["memory_ratio"] = r["peak_mib"] / base["peak_mib"] if base else float("nan")
        print(
            f"{name:<24}{r['median_ms']:>11.1f}{r['iqr_ms']:>9.1f}{r['it_per_s']:>8.2f}"
            f"{r['peak_mib']:>10.0f}{r['time_ratio']:>12.3f}{r['memory_ratio']:>11.3f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    main()
