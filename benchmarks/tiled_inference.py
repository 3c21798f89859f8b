"""Peak memory and time of tiled against whole-image (untiled) inference of a generator.

    python benchmarks/tiled_inference.py                  # 4x SR of a 512x512 photo on the CPU
    python benchmarks/tiled_inference.py --size 256 --tile 128 --overlap 32 --json out.json

The generator is the default of ``SuperResolutionModule`` (``ResidualSRGenerator``, width 64,
8 residual blocks; random weights: the same cost as trained ones, with the last convolution's
initial 0.01 scale undone by ``--residual-gain`` so that the residual branch, whose receptive field
tiles cut, shapes the output as a trained one does), run without gradients through
:func:`cfl_lightning.modules.prediction.predict_native`, once whole and once in ``--tile`` tiles
overlapping by ``--overlap`` input pixels. Both run in one process, interleaved (each repetition
times one run of each), so a change in the machine's load affects both alike. Reported: median
time and IQR, the median of the per-repetition time ratio, the peak of tensor memory allocated
during one run (the running sum of ``torch.profiler``'s allocation and free events, as in
``loss_speed.py``: deterministic, unlike the resident set size), and the largest difference
between the two outputs.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loss_speed import cpu_peak_bytes

from cfl_lightning.modules.prediction import predict_native
from cfl_lightning.networks import ResidualSRGenerator


def make_runs(args: argparse.Namespace) -> dict[str, Callable[[], torch.Tensor]]:
    torch.manual_seed(0)
    generator = ResidualSRGenerator(args.scale, nf=args.nf, n_blocks=args.blocks).eval()
    with torch.no_grad():
        generator.tail.weight.mul_(args.residual_gain)
    x = torch.rand(1, 3, args.size, args.size) * 2 - 1

    def whole() -> torch.Tensor:
        with torch.no_grad():
            return predict_native(generator, x)

    def tiled() -> torch.Tensor:
        with torch.no_grad():
            return predict_native(generator, x, tile_size=args.tile, tile_overlap=args.overlap)

    return {"untiled": whole, "tiled": tiled}


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="input side (pixels)")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--nf", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--tile", type=int, default=128, help="tile side (input pixels)")
    parser.add_argument("--overlap", type=int, default=32, help="tile overlap (input pixels)")
    parser.add_argument("--residual-gain", type=float, default=100.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    runs = make_runs(args)
    outputs = {name: run() for name, run in runs.items()}  # warm-up, and the outputs compared
    difference = float((outputs["tiled"] - outputs["untiled"]).abs().max())
    output_shape = tuple(outputs["untiled"].shape)
    del outputs
    memory = {name: cpu_peak_bytes(run) / 2**20 for name, run in runs.items()}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)

    results = {}
    for name in runs:
        quartiles = statistics.quantiles(times[name], n=4) if args.repeats > 1 else [0, 0, 0]
        ratios = [t / u for t, u in zip(times[name], times["untiled"])]
        results[name] = {
            "median_s": statistics.median(times[name]),
            "iqr_s": quartiles[2] - quartiles[0],
            "peak_mib": memory[name],
            "time_ratio": statistics.median(ratios),
            "memory_ratio": memory[name] / memory["untiled"],
        }
    summary = {
        "args": vars(args),
        "output_shape": output_shape,
        "max_abs_difference": difference,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.platform(),
        "results": results,
    }
    print(
        f"input {args.size}x{args.size} -> output {output_shape[-2]}x{output_shape[-1]}, "
        f"ResidualSRGenerator(scale={args.scale}, nf={args.nf}, n_blocks={args.blocks}), "
        f"tile {args.tile} overlap {args.overlap}, repeats {args.repeats}, "
        f"threads {torch.get_num_threads()}"
    )
    print(f"{'run':<10}{'median s':>10}{'IQR s':>9}{'peak MiB':>10}{'time x':>9}{'mem x':>8}")
    for name, r in results.items():
        print(
            f"{name:<10}{r['median_s']:>10.2f}{r['iqr_s']:>9.2f}{r['peak_mib']:>10.1f}"
            f"{r['time_ratio']:>9.2f}{r['memory_ratio']:>8.3f}"
        )
    print(f"max |tiled - untiled| = {difference:.2e} (outputs in [-1, 1])")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
