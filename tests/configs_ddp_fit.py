"""Run by tests/test_configs_ddp.py: `cfl fit` of several configs, one after the other, in one
pair of CPU DDP processes (gloo). Lightning starts the second process at the first fit; the later
fits reuse both processes and their process group.

python tests/configs_ddp_fit.py PLAN.json

PLAN.json: {"out": DIR, "runs": {name: [cfl fit arguments]}}. After each fit, every rank writes
DIR/done/<name>.rank<r> (so a hang or crash names the config it stopped in).
"""

import json
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cfl_lightning.cli import build_cli


def main() -> None:
    plan = json.loads(Path(sys.argv[1]).read_text())
    done = Path(plan["out"]) / "done"
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    for name, arguments in plan["runs"].items():
        cli = build_cli(["fit", *arguments])
        done.mkdir(parents=True, exist_ok=True)
        (done / f"{name}.rank{cli.trainer.global_rank}").write_text(
            json.dumps({"global_step": cli.trainer.global_step, "world": cli.trainer.world_size})
        )


if __name__ == "__main__":
    main()
