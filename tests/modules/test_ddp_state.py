"""Random streams and checkpoints under 2-process CPU DDP (gloo), each run with a timeout."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cfl_lightning.data.augment_random import ItemKey
from cfl_lightning.data.worker_start import fork_can_deadlock
from tests.modules.tiny import AugmentedPairs

SCRIPT = Path(__file__).with_name("ddp_runs.py")


def run(out: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(out), *args],
        capture_output=True,
        text=True,
        cwd=out,
        env=env,
        timeout=timeout,  # a hang fails the test instead of blocking the suite
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def load(out: Path, rank: int) -> dict:
    return torch.load(out / f"rank{rank}.pt", weights_only=False)


def item_index(path: str) -> int:
    return int(re.search(r"item_(\d+)", path).group(1))


def assert_same_state(a: dict, b: dict) -> None:
    assert a["weights"].keys() == b["weights"].keys()
    for key, value in a["weights"].items():
        torch.testing.assert_close(value, b["weights"][key], rtol=0, atol=0, msg=key)
    assert len(a["optimizers"]) == len(b["optimizers"]) == 3
    for opt_a, opt_b in zip(a["optimizers"], b["optimizers"]):
        assert opt_a["state"].keys() == opt_b["state"].keys()
        for index, state in opt_a["state"].items():
            for key, value in state.items():
                torch.testing.assert_close(value, opt_b["state"][index][key], rtol=0, atol=0)


COMMON = ["--devices", "2", "--workers", "2", "--val-every", "1", "--size", "16"]


def ddp_jobs(out: Path) -> list[tuple]:
    """The straight run, a job of the suite's pair of DDP processes (tests/ddp_session.py): 8
    steps on 2 processes with 2 loader workers each, validation after every step, a checkpoint
    every 3 steps (16 items, batch 2 per rank: 4 steps per epoch, so steps 3 and 6 are in the
    middle of epochs 0 and 1). The resumed runs start processes of their own."""
    folder = out / "augmented_straight"
    folder.mkdir(parents=True, exist_ok=True)
    return [("augmented_straight", "augmented", [folder, *COMMON, "--steps", "8", "--every", "3"])]


@pytest.fixture(scope="module")
def straight_run(ddp_session):
    assert ddp_session.finished("augmented_straight") == {"global_step": 8, "world": 2}
    return ddp_session.folder("augmented_straight"), COMMON


@pytest.mark.slow
def test_ranks_share_each_epoch_and_draw_their_own_augmentations(straight_run):
    # 16 items, batch 2 per rank, 2 loader workers per rank: 4 steps per epoch, 8 steps = 2 epochs.
    straight, _ = straight_run
    ranks = [load(straight, 0), load(straight, 1)]
    # workers started by a fork server where a fork of the rank can deadlock (gh-112275)
    expected = "forkserver" if fork_can_deadlock() else None
    assert [rank["worker_start"] for rank in ranks] == [expected, expected]
    dataset = AugmentedPairs(16, seed=0, train=True)
    for epoch in range(2):
        seen = [
            item_index(path)
            for rank in ranks
            for batch_epoch, paths, _, _ in rank["batches"]
            if batch_epoch == epoch
            for path in paths
        ]
        assert sorted(seen) == list(range(16)), f"epoch {epoch}: {seen}"
    for rank in ranks:
        assert len(rank["batches"]) == 8
        for epoch, paths, inputs, images in rank["batches"]:
            for path, given, image in zip(paths, inputs, images):
                # an item's augmentation is a function of (seed, epoch, item) alone: not of the
                # rank or the loader worker that drew it
                expected = dataset[ItemKey(item_index(path), epoch)]
                assert torch.equal(given, expected["input"]) and torch.equal(
                    image, expected["image"]
                )
    # the two ranks' k-th batches were not augmented in lockstep (different noise draws)
    for (_, _, in0, im0), (_, _, in1, im1) in zip(ranks[0]["batches"], ranks[1]["batches"]):
        noise0, noise1 = in0.flip(1) - im0, in1.flip(1) - im1
        assert not torch.allclose(noise0, noise1, atol=1e-3)
    # each rank's global RNG (dropout in the generator) is its own stream
    for state0, state1 in zip(ranks[0]["rng"], ranks[1]["rng"]):
        assert not torch.equal(state0, state1)
    # and the same item is augmented differently from one epoch to the next
    assert not torch.equal(dataset[ItemKey(3, 0)]["input"], dataset[ItemKey(3, 1)]["input"])


@pytest.mark.slow
def test_mid_epoch_resume_on_two_processes_is_exact(straight_run, tmp_path):
    straight, common = straight_run
    checkpoint = straight / "checkpoints" / "epoch=1-step=6.ckpt"
    assert checkpoint.is_file()
    saved = torch.load(checkpoint, weights_only=True)
    assert len(saved["cfl_lightning"]["ranks"]) == 2  # every rank's RNG and loader state
    run(tmp_path, *common, "--steps", "8", "--resume", str(checkpoint))
    for rank in (0, 1):
        before, after = load(straight, rank), load(tmp_path, rank)
        assert_same_state(before, after)
        # the resumed run saw exactly the batches the straight run saw after step 6
        assert len(after["batches"]) == 2
        for (e_a, p_a, in_a, _), (e_b, p_b, in_b, _) in zip(
            before["batches"][6:], after["batches"]
        ):
            assert (e_a, p_a) == (e_b, p_b) and torch.equal(in_a, in_b)


@pytest.mark.slow
def test_resume_on_one_process_from_a_two_process_checkpoint_warns(straight_run, tmp_path):
    straight, _ = straight_run
    checkpoint = straight / "checkpoints" / "epoch=0-step=3.ckpt"
    result = run(
        tmp_path, "--devices", "1", "--steps", "4", "--size", "16", "--resume", str(checkpoint)
    )
    assert "written by 2 process(es), this run has 1" in result.stderr
    state = load(tmp_path, 0)
    # rank 0 had trained on 3 of its 4 batches of epoch 0, and 1 process has 8 per epoch: the
    # loader skips 3 and finishes the epoch (5 batches, of which 1 is run before step 4)
    assert [epoch for epoch, *_ in state["batches"]] == [0]
    assert state["seed"] == load(straight, 0)["seed"]
