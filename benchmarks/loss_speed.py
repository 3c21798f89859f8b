"""Time and peak memory of one forward + backward of L1, PerceptualLoss and ContrastiveFeatureLoss.

    python benchmarks/loss_speed.py                      # CPU, batch 4, 3x128x128, random VGG19
    python benchmarks/loss_speed.py --device cuda --size 256 --batch 8 --json out.json

Each loss runs in its own subprocess (CPU peak memory is the process's peak resident set size
above what it held before the first step; on CUDA, ``torch.cuda.max_memory_allocated``). The
reported time is the median over ``--repeats`` timed steps after ``--warmup`` untimed ones, with
the interquartile range as the spread; ratios are to ``PerceptualLoss`` measured in the same run.
Weights are random (same cost as ImageNet weights).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

LOSSES = ("l1", "perceptual", "cfl")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def measure_one(name: str, args: argparse.Namespace) -> dict[str, float]:
    import torch

    from cfl_lightning.losses import ContrastiveFeatureLoss, L1Loss, PerceptualLoss

    torch.manual_seed(0)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if name == "l1":
        loss = L1Loss()
    elif name == "perceptual":
        loss = PerceptualLoss(weights="random")
    else:
        loss = ContrastiveFeatureLoss(weights="random")
    loss = loss.to(device)
    shape = (args.batch, 3, args.size, args.size)
    target = (torch.rand(shape, device=device) * 2 - 1).clamp(-1, 1)
    # A trainable leaf standing in for the generator's output.
    pred = torch.nn.Parameter((torch.rand(shape, device=device) * 2 - 1).clamp(-1, 1))
    params = [pred, *[p for p in loss.parameters() if p.requires_grad]]
    dtype = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}[args.precision]

    def step() -> None:
        for p in params:
            p.grad = None
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            value = loss(pred, target)
        value.backward()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _rss_bytes()
    for _ in range(args.warmup):
        step()
    sync()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    quartiles = statistics.quantiles(times, n=4)
    return {
        "median_ms": 1000 * statistics.median(times),
        "iqr_ms": 1000 * (quartiles[2] - quartiles[0]),
        "peak_mib": peak / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--precision", choices=("32", "bf16", "16"), default="32")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--only", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.only:
        print(json.dumps(measure_one(args.only, args)))
        return
    results = {}
    for name in LOSSES:
        command = [sys.executable, __file__, "--only", name, *sys.argv[1:]]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[name] = json.loads(output.strip().splitlines()[-1])
    base = results["perceptual"]
    print(
        f"device={args.device} batch={args.batch} size={args.size} precision={args.precision} "
        f"repeats={args.repeats}"
    )
    print(f"{'loss':<12}{'median ms':>11}{'IQR ms':>9}{'peak MiB':>10}", end="")
    print(f"{'time x VGG':>12}{'mem x VGG':>11}")
    for name, r in results.items():
        r["time_ratio"] = r["median_ms"] / base["median_ms"]
        r["memory_ratio"] = r["peak_mib"] / base["peak_mib"]
        print(
            f"{name:<12}{r['median_ms']:>11.1f}{r['iqr_ms']:>9.1f}{r['peak_mib']:>10.1f}"
            f"{r['time_ratio']:>12.3f}{r['memory_ratio']:>11.3f}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
