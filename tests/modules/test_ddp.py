import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).with_name("ddp_fit.py")


def run_ddp(tmp_path: Path, strategy: str, terms: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path), strategy, terms],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("strategy", "terms"),
    [("ddp_find_unused_parameters_true", "cfl+gan+feature_matching"), ("ddp", "cfl+l1")],
)
def test_two_process_fit_keeps_ranks_identical(tmp_path, strategy, terms):
    result = run_ddp(tmp_path, strategy, terms)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert rank0.keys() == rank1.keys()
    trained = [k for k in rank0 if k.startswith(("generator.", "cfl.heads.", "discriminator."))]
    assert any(k.startswith("cfl.heads.") for k in trained)
    for key in trained:
        torch.testing.assert_close(rank0[key], rank1[key], rtol=0, atol=0, msg=key)


@pytest.mark.slow
def test_gan_under_plain_ddp_is_refused_with_the_strategy_to_use(tmp_path):
    result = run_ddp(tmp_path, "ddp", "cfl+gan")
    assert result.returncode != 0
    assert "ddp_find_unused_parameters_true" in result.stderr
