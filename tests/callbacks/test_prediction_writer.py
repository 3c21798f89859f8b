import numpy as np
import torch
from PIL import Image

from cfl_lightning.callbacks import PredictionWriter
from tests.modules.tiny import RandomPairsDataModule, make_module, make_trainer


def test_writes_one_png_per_prediction_named_after_the_input(tmp_path):
    module = make_module({"l1": 1.0})
    writer = PredictionWriter(str(tmp_path / "out"))
    outputs = make_trainer(callbacks=[writer]).predict(
        module, RandomPairsDataModule(batch_size=2), return_predictions=True
    )
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["pair_000.png", "pair_001.png", "pair_002.png", "pair_003.png"]
    saved = np.asarray(Image.open(tmp_path / "out" / "pair_001.png")).astype(float)
    expected = ((outputs[0]["prediction"][1] + 1) / 2 * 255).permute(1, 2, 0).numpy()
    assert saved.shape == (32, 32, 3) and np.abs(saved - expected).max() <= 1.0


def test_unnamed_and_repeated_inputs_do_not_overwrite(tmp_path):
    writer = PredictionWriter(str(tmp_path))
    images = torch.zeros(2, 3, 8, 8)
    writer.write_on_batch_end(
        None, None, {"prediction": images, "path": ["a/x.png", "b/x.png"]}, None, None, 0
    )
    writer.write_on_batch_end(None, None, images, None, None, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "000003_000.png",
        "000003_001.png",
        "x.png",
        "x_1.png",
    ]
