import numpy as np
import pytest
from PIL import Image
from pytorch_lightning.loggers import TensorBoardLogger

from cfl_lightning.callbacks import ImageGridLogger
from tests.modules.tiny import RandomPairsDataModule, make_module, make_trainer


def test_grid_rows_are_input_prediction_target(tmp_path):
    module = make_module({"l1": 1.0})
    callback = ImageGridLogger(num_images=3)
    logger = TensorBoardLogger(str(tmp_path), name="logs")
    trainer = make_trainer(tmp_path, logger=logger, callbacks=[callback], limit_val_batches=2)
    trainer.validate(module, RandomPairsDataModule(batch_size=2), verbose=False)
    assert callback.last_path is not None and callback.last_path.is_file()
    assert callback.last_path.parent == tmp_path / "logs" / "version_0" / "images"
    grid = np.asarray(Image.open(callback.last_path))
    # make_grid pads by 2 pixels around each row: 3 rows of (32 high) and 3 images of 32 wide.
    assert grid.shape == (2 + 3 * (32 + 2), 2 + 3 * 32 + 2, 3)
    # The third image of the first row is the first validation target.
    target = RandomPairsDataModule().dataset("val")[0]["image"]
    expected = ((target.clamp(-1, 1) + 1) / 2 * 255).round().permute(1, 2, 0).numpy()
    shown = grid[2:34, 2 + 64 : 2 + 96].astype(float)
    assert np.abs(shown - expected).max() <= 1.0
    assert list((tmp_path / "logs" / "version_0").glob("events.out.tfevents.*"))


def test_nothing_logged_during_sanity_check(tmp_path):
    module = make_module({"l1": 1.0})
    callback = ImageGridLogger(num_images=2)
    trainer = make_trainer(
        tmp_path, callbacks=[callback], max_steps=1, num_sanity_val_steps=1, limit_val_batches=0
    )
    trainer.fit(module, RandomPairsDataModule(batch_size=2))
    assert callback.last_path is None


def test_bad_num_images():
    with pytest.raises(ValueError, match="num_images: expected an integer >= 1, got 0"):
        ImageGridLogger(num_images=0)
