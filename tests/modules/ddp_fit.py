"""Run by tests/modules/test_ddp.py: 2-process CPU (gloo) fits, one after the other in the same
pair of processes (Lightning starts the second process at the first fit; the later fits reuse both
processes and their process group). Each rank saves its weights after each fit.

python tests/modules/ddp_fit.py OUT_DIR STRATEGY:TERMS[:K] [...]   (TERMS e.g. cfl+gan; K: the
module's accumulate_grad_batches, default 1)

Writes OUT_DIR/<STRATEGY>-<TERMS>[-acc<K>]/rank<r>.pt. A fit that fails ends the script with its
error.
"""

import sys
from pathlib import Path

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.modules.tiny import RandomPairsDataModule, make_module, make_trainer


class SaveWeights(pl.Callback):
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def on_train_end(self, trainer, pl_module):
        state = {k: v.detach().cpu() for k, v in pl_module.state_dict().items()}
        self.folder.mkdir(parents=True, exist_ok=True)
        torch.save(state, self.folder / f"rank{trainer.global_rank}.pt")


def run_folder(out: Path, strategy: str, terms: str, accumulate: int = 1) -> Path:
    """Where the fit of ``strategy`` with loss ``terms`` saves each rank's weights."""
    return out / (f"{strategy}-{terms}" + (f"-acc{accumulate}" if accumulate > 1 else ""))


def main() -> None:
    out = Path(sys.argv[1])
    for run in sys.argv[2:]:
        strategy, terms, *rest = run.split(":")
        accumulate = int(rest[0]) if rest else 1
        pl.seed_everything(0, workers=True)
        module = make_module(
            {name: 1.0 for name in terms.split("+")}, accumulate_grad_batches=accumulate
        )
        trainer = make_trainer(
            max_steps=3,
            devices=2,
            strategy=strategy,
            callbacks=[SaveWeights(run_folder(out, strategy, terms, accumulate))],
        )
        trainer.fit(module, RandomPairsDataModule(size=8, batch_size=2))


if __name__ == "__main__":
    main()
