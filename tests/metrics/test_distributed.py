"""Two real processes (gloo, CPU): the states' reductions give the same values as one process
merging both shards, on every rank."""

from __future__ import annotations

import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cfl_lightning.metrics import ColorfulnessRatio, PatchSWD, SharpnessRatio
from tests.metrics.images import make_textures


def build_metrics() -> dict:
    return {
        "patch_swd": PatchSWD(num_projections=32, num_repeats=2, patches_per_image=32),
        # the targets' halves are drawn from the gathered images: the same on every rank
        "patch_swd_split_half": PatchSWD(
            num_projections=32, num_repeats=2, patches_per_image=32, calibration="split_half"
        ),
        "sharpness": SharpnessRatio(),
        "colorfulness": ColorfulnessRatio(),
    }


def shards(rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    preds, target = make_textures(6, seed=0), make_textures(6, seed=1)
    sizes = (2, 4)  # uneven on purpose
    start = sum(sizes[:rank])
    return preds[start : start + sizes[rank]], target[start : start + sizes[rank]]


def worker(rank: int, store: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        metrics = build_metrics()
        preds, target = shards(rank)
        for metric in metrics.values():
            metric.update(preds, target)
        values = {name: metric.compute() for name, metric in metrics.items()}
        values["levels"] = metrics["patch_swd"].compute_levels()
        torch.save(values, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_process_gloo_matches_local_merge(tmp_path):
    context = mp.start_processes(
        worker,
        args=(str(tmp_path / "store"), str(tmp_path / "values")),
        nprocs=2,
        join=False,
        start_method="spawn",  # fork after OpenMP has run in this process can hang
    )
    deadline = time.monotonic() + 120
    while not context.join(timeout=5):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("the two gloo processes did not finish within 120 s")
    first, second = build_metrics(), build_metrics()
    for metrics, rank in ((first, 0), (second, 1)):
        for metric in metrics.values():
            metric.update(*shards(rank))
    for name in first:  # torchmetrics puts the incoming state first: rank 0's images, then 1's
        second[name].merge_state(first[name])
    for rank in (0, 1):
        values = torch.load(tmp_path / f"values.{rank}")
        for name, metric in second.items():
            torch.testing.assert_close(values[name], metric.compute(), msg=name)
        torch.testing.assert_close(values["levels"], second["patch_swd"].compute_levels())
