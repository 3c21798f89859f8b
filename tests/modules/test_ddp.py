"""Two-process CPU DDP (gloo) fits of a tiny module: ranks stay identical (also accumulating
gradients over 2 batches with a GAN, all-reduced at the last batch of each step only), and a GAN
under plain DDP is refused with the strategy to use. The five fits (tests/modules/ddp_fit.py) are
jobs of the suite's pair of DDP processes (tests/ddp_session.py), the refused one after all
others."""

import json
from pathlib import Path

import pytest
import torch

from tests.modules.ddp_fit import run_folder

FITS = [
    ("ddp_find_unused_parameters_true", "cfl+gan+feature_matching", 1),
    ("ddp", "cfl+l1", 1),
    ("counted", "cfl+gan", 2),
]
# The accumulating fit again, its gradients all-reduced after every batch (as before the modules
# skipped it inside a step): the same result up to the order of float additions.
EVERY = ("counted", "cfl+gan", 2)
REFUSED = ("ddp", "cfl+gan", 1)


def spec(fit: tuple, every: bool = False) -> str:
    return ":".join(map(str, fit)) + (":every" if every else "")


def job_name(fit: tuple, every: bool = False) -> str:
    return "tiny_fit_" + spec(fit, every).replace(":", "_").replace("+", "_")


def ddp_jobs(out: Path) -> list[tuple]:
    """The fits, in one folder (tests/modules/ddp_fit.py names a subfolder per fit); the refused
    one after every other job of the session."""
    folder = out / "tiny_fits"
    jobs = [(job_name(fit), "tiny_fit", [folder, spec(fit)]) for fit in FITS]
    jobs.append((job_name(EVERY, every=True), "tiny_fit", [folder, spec(EVERY, every=True)]))
    jobs.append((job_name(REFUSED), "tiny_fit", [folder, spec(REFUSED)], "last"))
    return jobs


@pytest.fixture(scope="module")
def ddp_fits(ddp_session):
    return ddp_session, ddp_session.out / "tiny_fits"


@pytest.mark.slow
@pytest.mark.parametrize(("strategy", "terms", "accumulate"), FITS)
def test_two_process_fit_keeps_ranks_identical(ddp_fits, strategy, terms, accumulate):
    session, out = ddp_fits
    assert session.finished(job_name((strategy, terms, accumulate))) == {
        "global_step": 3,
        "world": 2,
    }
    folder = run_folder(out, strategy, terms, accumulate)
    rank0, rank1 = torch.load(folder / "rank0.pt"), torch.load(folder / "rank1.pt")
    assert rank0.keys() == rank1.keys()
    trained = [k for k in rank0 if k.startswith(("generator.", "cfl.heads.", "discriminator."))]
    assert any(k.startswith("cfl.heads.") for k in trained)
    for key in trained:
        torch.testing.assert_close(rank0[key], rank1[key], rtol=0, atol=0, msg=key)


@pytest.mark.slow
def test_accumulating_fit_all_reduces_only_at_the_last_batch_of_each_step(ddp_fits):
    session, out = ddp_fits
    session.finished(job_name(FITS[2]))
    session.finished(job_name(EVERY, every=True))
    folder = run_folder(out, *FITS[2])
    for rank in (0, 1):
        # 8 items, batches of 2 on 2 ranks: 2 batches per epoch, one step per epoch, 3 steps
        counts = json.loads((folder / f"syncs{rank}.json").read_text())
        assert [index for index, _ in counts] == [0, 1] * 3
        assert all(count == 0 for index, count in counts if index == 0), counts
        assert all(count > 0 for index, count in counts if index == 1), counts
    every = run_folder(out, *EVERY, every=True)
    synced = json.loads((every / "syncs0.json").read_text())
    assert all(count > 0 for _, count in synced), synced
    skipped, reference = torch.load(folder / "rank0.pt"), torch.load(every / "rank0.pt")
    trained = [k for k in reference if k.startswith(("generator.", "cfl.heads.", "discriminator."))]
    for key in trained:
        torch.testing.assert_close(skipped[key], reference[key], rtol=1e-5, atol=1e-6, msg=key)


@pytest.mark.slow
def test_gan_under_plain_ddp_is_refused_with_the_strategy_to_use(ddp_fits):
    session, out = ddp_fits
    for rank in (0, 1):
        record = session.record(job_name(REFUSED), rank)
        assert record is not None, session.stderr[-3000:]
        assert "ddp_find_unused_parameters_true" in record["error"], record
    assert not run_folder(out, *REFUSED).exists()
