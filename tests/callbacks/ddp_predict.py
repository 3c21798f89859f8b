"""For tests/callbacks/test_prediction_writer.py, a job of tests/ddp_session.py (or alone): a
2-process CPU (gloo) predict from a folder of inputs with the default PredictionWriter; each rank
records the files it wrote.

python tests/callbacks/ddp_predict.py INPUT_DIR ROOT_DIR
"""

import json
import sys
from pathlib import Path

import pytorch_lightning as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cfl_lightning.callbacks import PredictionWriter
from cfl_lightning.data import Denoising, ImageFolderDataModule
from tests.modules.tiny import make_module, make_trainer


class RecordWritten(pl.Callback):
    def __init__(self, writer: PredictionWriter, root: Path) -> None:
        self.writer, self.root = writer, root

    def on_predict_end(self, trainer, pl_module):
        record = {
            "folder": str(self.writer.folder),
            "written": [str(p) for p in self.writer.written],
        }
        (self.root / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


def predict(inputs: Path, root: Path) -> pl.Trainer:
    root.mkdir(parents=True, exist_ok=True)
    writer = PredictionWriter()
    trainer = make_trainer(
        root,
        devices=2,
        strategy="ddp",
        logger=pl.loggers.TensorBoardLogger(root),
        callbacks=[writer, RecordWritten(writer, root)],
    )
    data = ImageFolderDataModule("unused", Denoising(), predict_root=str(inputs))
    trainer.predict(make_module({"l1": 1.0}), datamodule=data, return_predictions=False)
    return trainer


def main() -> None:
    predict(Path(sys.argv[1]), Path(sys.argv[2]))


if __name__ == "__main__":
    main()
