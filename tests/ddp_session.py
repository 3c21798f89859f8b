"""The test suite's 2-process CPU DDP (gloo) jobs, run one after the other in one pair of
processes: starting a pair (both import torch and Lightning, one after the other) costs about 20 s
here, as much as most jobs. Lightning starts the second process at the first job; the later jobs
reuse both processes and their process group.

python tests/ddp_session.py PLAN.json

PLAN.json: {"out": DIR, "jobs": [[name, kind, args], ...]}, kinds:

- ``cfl_fit``: ``cfl fit`` with ``args`` (tests/test_configs_ddp.py);
- ``tiny_fit``: ``args = [folder, "STRATEGY:TERMS[:K[:every]]"]``, a fit of the tiny module
  (tests/modules/ddp_fit.py);
- ``predict``: ``args = [inputs, root]``, a predict with the default PredictionWriter
  (tests/callbacks/ddp_predict.py);
- ``augmented``: ``args``: the arguments of tests/modules/ddp_runs.py;
- ``user_fit``: ``args = [folder]``, a fit of a user's own LightningModule with CFL
  (tests/losses/user_module.py).

After each job, every rank writes DIR/done/<name>.rank<r> (JSON: the job's global step and world
size, or its error), so that a hang or crash names the job it stopped in. A job that raises on
every rank (a refused configuration) does not stop the later ones.

The pytest side (:func:`run_session`, used by the ``ddp_session`` fixture of tests/conftest.py)
collects the jobs of the selected test modules, each listed by the module's
``ddp_jobs(folder) -> [(name, kind, args), ...]``, runs them under one timeout and gives each test
its job's outcome.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------- in the pair
def run_job(kind: str, args: list[str]):
    """Runs one job; returns its trainer (None when it has none)."""
    if kind == "cfl_fit":
        from cfl_lightning.cli import build_cli

        return build_cli(["fit", *args]).trainer
    if kind == "tiny_fit":
        from tests.modules.ddp_fit import fit

        return fit(Path(args[0]), args[1])
    if kind == "predict":
        from tests.callbacks.ddp_predict import predict

        return predict(Path(args[0]), Path(args[1]))
    if kind == "augmented":
        from tests.modules.ddp_runs import main

        return main(args)
    if kind == "user_fit":
        from tests.losses.user_module import fit_two_processes

        return fit_two_processes(Path(args[0]))
    raise ValueError(
        f"kind: expected cfl_fit, tiny_fit, predict, augmented or user_fit, got {kind!r}"
    )


def main() -> None:
    sys.path.insert(0, str(ROOT))
    import torch

    plan = json.loads(Path(sys.argv[1]).read_text())
    done = Path(plan["out"]) / "done"
    done.mkdir(parents=True, exist_ok=True)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    rank = None
    for name, kind, args in plan["jobs"]:
        try:
            trainer = run_job(kind, args)
            record = {"global_step": trainer.global_step, "world": trainer.world_size}
            rank = trainer.global_rank
        except Exception as error:  # recorded for the test; the next job runs
            record = {"error": f"{type(error).__name__}: {error}"}
            traceback.print_exc()
        rank = rank if rank is not None else int(os.environ.get("LOCAL_RANK", 0))
        (done / f"{name}.rank{rank}").write_text(json.dumps(record))


# ---------------------------------------------------------------------------- pytest side
@dataclass
class DDPSession:
    """The outcome of a session: its folder, the pair's stderr, and per job and rank the record
    written after it (None where the job did not finish)."""

    out: Path
    stderr: str
    timed_out: bool

    def folder(self, name: str) -> Path:
        """The folder given to job ``name``'s ``ddp_jobs`` entry."""
        return self.out / name

    def record(self, name: str, rank: int) -> dict | None:
        path = self.out / "done" / f"{name}.rank{rank}"
        return json.loads(path.read_text()) if path.exists() else None

    def finished(self, name: str) -> dict:
        """Rank 0's record of job ``name``, after checking that both ranks finished it without
        an error (else the assertion names the job and shows the pair's stderr)."""
        records = [self.record(name, rank) for rank in (0, 1)]
        why = "timed out (a hang) before it" if self.timed_out else "did not finish"
        assert None not in records, f"{name}: {why}; ranks {records}\n{self.stderr[-4000:]}"
        for record in records:
            assert "error" not in record, f"{name}: {record['error']}\n{self.stderr[-4000:]}"
        return records[0]


def run_session(
    jobs: list[tuple[str, str, list[str]]], out: Path, env: dict[str, str], timeout: float
) -> DDPSession:
    """Runs ``jobs`` in one pair of processes under ``timeout`` seconds in all."""
    plan = out / "plan.json"
    plan.write_text(json.dumps({"out": str(out), "jobs": jobs}))
    try:
        result = subprocess.run(
            [sys.executable, str(Path(__file__)), str(plan)],
            cwd=out,
            env={**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1", **env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return DDPSession(out, result.stderr, timed_out=False)
    except subprocess.TimeoutExpired as error:
        stderr = error.stderr.decode() if isinstance(error.stderr, bytes) else error.stderr or ""
        return DDPSession(out, stderr, timed_out=True)


if __name__ == "__main__":
    main()
