"""Run by tests/modules/test_ddp.py: a 2-process CPU (gloo) fit; each rank saves its weights.

python tests/modules/ddp_fit.py OUT_DIR STRATEGY TERMS   (TERMS e.g. cfl+gan)
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
        torch.save(state, self.folder / f"rank{trainer.global_rank}.pt")


def main() -> None:
    out, strategy, terms = Path(sys.argv[1]), sys.argv[2], sys.argv[3].split("+")
    pl.seed_everything(0, workers=True)
    module = make_module({name: 1.0 for name in terms})
    trainer = make_trainer(
        max_steps=3,
        devices=2,
        strategy=strategy,
        callbacks=[SaveWeights(out)],
    )
    trainer.fit(module, RandomPairsDataModule(size=8, batch_size=2))


if __name__ == "__main__":
    main()
