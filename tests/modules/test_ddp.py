"""Two-process CPU DDP (gloo) fits of a tiny module: ranks stay identical (also accumulating
gradients over 2 batches with a GAN, all-reduced at the last batch of each step only), and a GAN
under plain DDP is refused with the strategy to use. All five fits run in one pair of processes
(tests/modules/ddp_fit.py), the refused one last: a process pair's start costs about as much as a
fit here."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.modules.ddp_fit import run_folder

SCRIPT = Path(__file__).with_name("ddp_fit.py")
FITS = [
    ("ddp_find_unused_parameters_true", "cfl+gan+feature_matching", 1),
    ("ddp", "cfl+l1", 1),
    ("counted", "cfl+gan", 2),
]
# The accumulating fit again, its gradients all-reduced after every batch (as before the modules
# skipped it inside a step): the same result up to the order of float additions.
EVERY = ("counted", "cfl+gan", 2)
REFUSED = ("ddp", "cfl+gan", 1)


@pytest.fixture(scope="module")
def ddp_fits(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("ddp_fits")
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    runs = [f"{strategy}:{terms}:{accumulate}" for strategy, terms, accumulate in FITS]
    runs += [":".join(map(str, EVERY)) + ":every", ":".join(map(str, REFUSED))]
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(out), *runs],
        capture_output=True,
        text=True,
        cwd=out,
        env=env,
        timeout=300,
    )
    return out, result


@pytest.mark.slow
@pytest.mark.parametrize(("strategy", "terms", "accumulate"), FITS)
def test_two_process_fit_keeps_ranks_identical(ddp_fits, strategy, terms, accumulate):
    out, result = ddp_fits
    folder = run_folder(out, strategy, terms, accumulate)
    assert (folder / "rank1.pt").exists(), result.stderr[-3000:]
    rank0, rank1 = torch.load(folder / "rank0.pt"), torch.load(folder / "rank1.pt")
    assert rank0.keys() == rank1.keys()
    trained = [k for k in rank0 if k.startswith(("generator.", "cfl.heads.", "discriminator."))]
    assert any(k.startswith("cfl.heads.") for k in trained)
    for key in trained:
        torch.testing.assert_close(rank0[key], rank1[key], rtol=0, atol=0, msg=key)


@pytest.mark.slow
def test_accumulating_fit_all_reduces_only_at_the_last_batch_of_each_step(ddp_fits):
    out, result = ddp_fits
    folder = run_folder(out, *FITS[2])
    assert (folder / "syncs1.json").exists(), result.stderr[-3000:]
    for rank in (0, 1):
        # 8 items, batches of 2 on 2 ranks: 2 batches per epoch, one step per epoch, 3 steps
        counts = json.loads((folder / f"syncs{rank}.json").read_text())
        assert [index for index, _ in counts] == [0, 1] * 3
        assert all(count == 0 for index, count in counts if index == 0), counts
        assert all(count > 0 for index, count in counts if index == 1), counts
    every = run_folder(out, *EVERY, every=True)
    assert (every / "rank0.pt").exists(), result.stderr[-3000:]
    synced = json.loads((every / "syncs0.json").read_text())
    assert all(count > 0 for _, count in synced), synced
    skipped, reference = torch.load(folder / "rank0.pt"), torch.load(every / "rank0.pt")
    trained = [k for k in reference if k.startswith(("generator.", "cfl.heads.", "discriminator."))]
    for key in trained:
        torch.testing.assert_close(skipped[key], reference[key], rtol=1e-5, atol=1e-6, msg=key)


@pytest.mark.slow
def test_gan_under_plain_ddp_is_refused_with_the_strategy_to_use(ddp_fits):
    out, result = ddp_fits
    # The fits before it finished on both ranks: the failure is the refused fit's.
    for fit in FITS:
        assert (run_folder(out, *fit) / "rank1.pt").exists(), result.stderr[-3000:]
    assert result.returncode != 0
    assert not run_folder(out, *REFUSED).exists()
    assert "ddp_find_unused_parameters_true" in result.stderr
