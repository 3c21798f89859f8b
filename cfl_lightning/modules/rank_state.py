"""Per-process state in checkpoints: every rank's RNG and train-loader state, each rank restoring
its own.

Lightning builds the checkpoint dict on every rank but only rank 0 writes it, so whatever differs
between ranks must be gathered into it while it is built (``on_save_checkpoint`` runs on every
rank, inside the collective ``Trainer.save_checkpoint``) and picked out again by rank on load.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from pytorch_lightning.utilities import rank_zero_warn

from cfl_lightning.seeding import derive_seed

LOADER_STATE_PATH = ("loops", "fit_loop", "state_dict", "combined_loader")


def world_size_and_rank() -> tuple[int, int]:
    """``(world_size, rank)`` of the default process group, ``(1, 0)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def gather_from_ranks(value: Any) -> list[Any]:
    """``[value of rank 0, value of rank 1, ...]``: a collective, every rank must call it."""
    world_size, _ = world_size_and_rank()
    if world_size == 1:
        return [value]
    gathered: list[Any] = [None] * world_size
    dist.all_gather_object(gathered, value)
    return gathered


def local_rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """This process's CPU RNG state and, on a CUDA device, that device's RNG state."""
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_local_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    """Set this process's RNG from :func:`local_rng_state`'s output (a CUDA state only on a CUDA
    device; a checkpoint written on another device type restores the CPU state alone)."""
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def reseed(seed: int, rank: int, step: int) -> None:
    """Seed this process's global RNGs (CPU and every accelerator) from ``(seed, rank, step)``."""
    torch.manual_seed(derive_seed(seed, "resume", rank, step))


def _nested_get(mapping: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(mapping, dict) or key not in mapping:
            return None
        mapping = mapping[key]
    return mapping


def train_loader_state(checkpoint: dict[str, Any]) -> Any:
    """This rank's train-loader states in a checkpoint dict being built (None if absent)."""
    return _nested_get(checkpoint, LOADER_STATE_PATH)


def set_train_loader_state(checkpoint: dict[str, Any], state: Any) -> None:
    """Replace the train-loader states that Lightning will restore from ``checkpoint``."""
    parent = _nested_get(checkpoint, LOADER_STATE_PATH[:-1])
    if isinstance(parent, dict) and state is not None:
        parent[LOADER_STATE_PATH[-1]] = state


def gather_rank_states(checkpoint: dict[str, Any], device: torch.device) -> list[dict[str, Any]]:
    """Every rank's ``{"rng", "train_loaders"}`` for the checkpoint dict being built (a
    collective: call it on every rank)."""
    own = {"rng": local_rng_state(device), "train_loaders": train_loader_state(checkpoint)}
    return gather_from_ranks(own)


def restore_rank_state(
    checkpoint: dict[str, Any], world_size: int, rank: int, device: torch.device, seed: int
) -> None:
    """Restore this rank's RNG and train-loader state from ``checkpoint["cfl_lightning"]``.

    From a checkpoint written by another number of processes, warn, re-seed from ``(seed, rank,
    global_step)`` and leave Lightning's loader state (rank 0's position) in place: the run is
    deterministic but not the uninterrupted one. Checkpoints of one process written before
    per-rank states were kept restore their single RNG state.
    """
    saved = checkpoint.get("cfl_lightning", {})
    ranks = saved.get("ranks")
    if ranks is None and "rng" in saved:
        ranks = [{"rng": saved["rng"], "train_loaders": None}]
    if not ranks:
        return
    if len(ranks) == world_size:
        own = ranks[rank]
        restore_local_rng_state(own["rng"], device)
        set_train_loader_state(checkpoint, own.get("train_loaders"))
        return
    rank_zero_warn(
        f"ckpt_path: the checkpoint was written by {len(ranks)} process(es), this run has "
        f"{world_size}: each process re-seeds its global RNG from (seed, rank, step) and the "
        "train loaders skip the batches rank 0 had seen in this epoch, so the rest of the run "
        "is deterministic but differs from an uninterrupted run."
    )
    reseed(seed, rank, int(checkpoint.get("global_step", 0)))
