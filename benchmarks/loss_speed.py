"""Time and peak memory of one forward + backward of L1, PerceptualLoss and ContrastiveFeatureLoss.

    python benchmarks/loss_speed.py                      # CPU, batch 4, 3x128x128, random VGG19
    python benchmarks/loss_speed.py --device cuda --size 256 --batch 8 --json out.json
    python benchmarks/loss_speed.py --device cuda --losses perceptual,cfl --repeats 100 --compile
    python benchmarks/loss_speed.py --losses perceptual,cfl,cfl_random_weights --threads 1 \
        --clock process                                  # the recipe without pretrained weights

``cfl`` is the paper's loss (its defaults); ``cfl_random_weights`` is the loss of
``configs/loss/cfl_random_weights.yaml`` (the quickstart's, read from that file), which also runs
VGG19 on a shifted copy of the target to train its heads.

The losses run in one process on the same inputs, interleaved: each repetition times one step of
every loss in turn, so a change in the machine's load affects all of them alike. Reported: the
median step time with its interquartile range (IQR), and the median over repetitions of the
per-repetition time ratio to ``PerceptualLoss`` with its 95% bootstrap interval (repetitions
resampled with replacement). ``--compile`` compiles each loss module in place
(``module.compile()``; CFL draws its locations from the global RNG inside the graph).
``--clock process`` times the process's CPU time instead of wall time: on a CPU shared with other
jobs, with ``--threads 1``, it counts the work done rather than the waiting. Peak memory
is the peak of tensor memory
allocated during one step above what was held before it: on CUDA ``max_memory_allocated``; on the
CPU the running sum of the allocation and free events that ``torch.profiler`` records
(deterministic, unlike the resident set size, which the C allocator's caching blurs). Weights are
random (the same cost as ImageNet weights).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

LOSSES = ("l1", "perceptual", "cfl", "cfl_random_weights")
RANDOM_WEIGHTS_CONFIG = Path(__file__).resolve().parents[1] / "configs/loss/cfl_random_weights.yaml"


def random_weights_options() -> dict:
    """The init arguments of ``configs/loss/cfl_random_weights.yaml``."""
    import yaml

    config = yaml.safe_load(RANDOM_WEIGHTS_CONFIG.read_text())
    assert config["class_path"].endswith("ContrastiveFeatureLoss"), config["class_path"]
    return dict(config["init_args"])


def median_ratio_interval(
    times: list[float],
    reference: list[float],
    paired: bool = True,
    resamples: int = 4000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(ratio, low, high)``: the median of the per-repetition ratios ``times[i] / reference[i]``
    (``paired``: interleaved runs) or the ratio of the two medians (independent runs), with its
    95% percentile-bootstrap interval (repetitions resampled with replacement, seeded)."""
    generator = torch.Generator().manual_seed(seed)

    def resampled_medians(values: list[float]) -> torch.Tensor:
        data = torch.tensor(values, dtype=torch.float64)
        picks = torch.randint(len(values), (resamples, len(values)), generator=generator)
        return data[picks].quantile(0.5, dim=1)

    if paired:
        ratios = [t / r for t, r in zip(times, reference)]
        ratio, draws = statistics.median(ratios), resampled_medians(ratios)
    else:
        ratio = statistics.median(times) / statistics.median(reference)
        draws = resampled_medians(times) / resampled_medians(reference)
    low, high = torch.quantile(draws, torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    return ratio, low, high


def cpu_peak_bytes(step: Callable[[], None]) -> int:
    """Peak of tensor memory allocated by ``step()`` on the CPU, from profiler memory events."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    current = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        # Operator events carry what they allocated themselves; "[memory]" events are frees.
        if event.name == "[memory]":
            current += event.cpu_memory_usage
        else:
            current += event.self_cpu_memory_usage
        peak = max(peak, current)
    return peak


def make_step(name: str, args: argparse.Namespace, device: torch.device) -> Callable[[], None]:
    """One forward + backward of loss ``name`` on a trainable prediction and a fixed target."""
    from cfl_lightning.losses import ContrastiveFeatureLoss, L1Loss, PerceptualLoss

    torch.manual_seed(0)
    loss: torch.nn.Module
    if name == "l1":
        loss = L1Loss()
    elif name == "perceptual":
        loss = PerceptualLoss(weights="random")
    elif name == "cfl":
        loss = ContrastiveFeatureLoss(weights="random")
    else:
        loss = ContrastiveFeatureLoss(**random_weights_options())
    loss = loss.to(device)
    if args.compile:
        loss.compile()
    shape = (args.batch, 3, args.size, args.size)
    target = (torch.rand(shape, device=device) * 2 - 1).clamp(-1, 1)
    pred = torch.nn.Parameter((torch.rand(shape, device=device) * 2 - 1).clamp(-1, 1))
    params = [pred, *[p for p in loss.parameters() if p.requires_grad]]
    dtype = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}[args.precision]

    def step() -> None:
        for p in params:
            p.grad = None
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            value = loss(pred, target)
        value.backward()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return step


def peak_mib(step: Callable[[], None], device: torch.device) -> float:
    if device.type != "cuda":
        return cpu_peak_bytes(step) / 2**20
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    step()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--precision", choices=("32", "bf16", "16"), default="32")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--losses", default=",".join(LOSSES), help="subset of " + ",".join(LOSSES))
    parser.add_argument("--compile", action="store_true", help="torch.compile each loss module")
    parser.add_argument(
        "--clock",
        choices=("wall", "process"),
        default="wall",
        help="wall time, or this process's CPU time (CPU only; use with --threads 1)",
    )
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()

    losses = args.losses.split(",")
    if "perceptual" not in losses or set(losses) - set(LOSSES):
        parser.error(
            f"--losses: expected names from {LOSSES}, including perceptual (the reference)"
        )
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    steps = {name: make_step(name, args, device) for name in losses}
    for step in steps.values():
        for _ in range(args.warmup):
            step()
    memory = {name: peak_mib(step, device) for name, step in steps.items()}
    if args.clock == "process" and device.type != "cpu":
        parser.error("--clock process: only for --device cpu")
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    times: dict[str, list[float]] = {name: [] for name in losses}
    for _ in range(args.repeats):
        for name, step in steps.items():
            start = clock()
            step()
            times[name].append(clock() - start)

    results = {}
    for name in losses:
        quartiles = statistics.quantiles(times[name], n=4)
        ratio, low, high = median_ratio_interval(times[name], times["perceptual"])
        results[name] = {
            "median_ms": 1000 * statistics.median(times[name]),
            "iqr_ms": 1000 * (quartiles[2] - quartiles[0]),
            "peak_mib": memory[name],
            "time_ratio": ratio,
            "time_ratio_ci95": [low, high],
            "memory_ratio": memory[name] / memory["perceptual"],
            "times_ms": [1000 * t for t in times[name]],
        }
    print(
        f"device={args.device} batch={args.batch} size={args.size} precision={args.precision} "
        f"repeats={args.repeats} compile={args.compile} threads={torch.get_num_threads()} "
        f"clock={args.clock}"
    )
    print(f"{'loss':<12}{'median ms':>11}{'IQR ms':>9}{'peak MiB':>10}", end="")
    print(f"{'time x VGG':>12}{'95% interval':>17}{'mem x VGG':>11}")
    for name, r in results.items():
        interval = "[{:.3f}, {:.3f}]".format(*r["time_ratio_ci95"])
        print(
            f"{name:<12}{r['median_ms']:>11.2f}{r['iqr_ms']:>9.2f}{r['peak_mib']:>10.1f}"
            f"{r['time_ratio']:>12.3f}{interval:>17}{r['memory_ratio']:>11.3f}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
