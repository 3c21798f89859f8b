import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cfl_lightning.callbacks import PredictionWriter
from cfl_lightning.callbacks.prediction_writer import output_name
from cfl_lightning.data import Denoising, ImageFolderDataModule
from tests.data.conftest import save
from tests.modules.tiny import RandomPairsDataModule, make_module, make_trainer

# Five photos of odd sizes; two share a stem in different subfolders.
INPUT_NAMES = ["a", "x/same", "y/same", "y/z/deep", "b"]


def write_inputs(root: Path) -> list[str]:
    names = INPUT_NAMES
    rng = np.random.default_rng(0)
    for i, name in enumerate(names):
        save(root / f"{name}.png", rng.integers(0, 256, (17 + i, 23 + 2 * i, 3), dtype=np.uint8))
    return names


def test_split_predictions_are_named_by_dataset_index_and_stem(tmp_path):
    module = make_module({"l1": 1.0})
    writer = PredictionWriter(str(tmp_path / "out"))
    outputs = make_trainer(callbacks=[writer]).predict(
        module, RandomPairsDataModule(batch_size=2), return_predictions=True
    )
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [f"{i:06d}_pair_{i:03d}.png" for i in range(4)]
    saved = np.asarray(Image.open(tmp_path / "out" / "000001_pair_001.png")).astype(float)
    expected = ((outputs[0]["prediction"][1] + 1) / 2 * 255).permute(1, 2, 0).numpy()
    assert saved.shape == (32, 32, 3) and np.abs(saved - expected).max() <= 0.5 + 1e-4


def test_inputs_read_from_a_folder_keep_their_relative_paths_and_sizes(tmp_path):
    names = write_inputs(tmp_path / "in")
    writer = PredictionWriter(str(tmp_path / "out"))
    data = ImageFolderDataModule("unused", Denoising(), predict_root=str(tmp_path / "in"))
    make_trainer(callbacks=[writer]).predict(make_module({"l1": 1.0}), datamodule=data)
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in writer.written)
    assert written == sorted(f"{n}.png" for n in names)
    for i, name in enumerate(names):
        with Image.open(tmp_path / "out" / f"{name}.png") as image:
            assert image.size == (23 + 2 * i, 17 + i)


def test_nothing_is_overwritten(tmp_path):
    write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    save(out / "y" / "same.png", np.zeros((4, 4, 3), np.uint8))
    data = ImageFolderDataModule("unused", Denoising(), predict_root=str(tmp_path / "in"))
    with pytest.raises(FileExistsError, match=r"(?s)already holds 1 file.*y/same\.png"):
        make_trainer(callbacks=[PredictionWriter(str(out))]).predict(
            make_module({"l1": 1.0}), datamodule=data
        )
    assert sorted(p.name for p in out.rglob("*.png")) == ["same.png"]  # nothing written

    writer = PredictionWriter(str(tmp_path / "direct"))
    images = torch.zeros(1, 3, 4, 4)
    writer.write_on_batch_end(None, None, {"prediction": images, "name": ["k"]}, [0], None, 0)
    with pytest.raises(FileExistsError, match=r"k\.png already exists"):
        writer.write_on_batch_end(None, None, {"prediction": images, "name": ["k"]}, [1], None, 1)


def test_default_folder_is_under_the_run_and_printed(tmp_path, caplog):
    write_inputs(tmp_path / "in")
    data = ImageFolderDataModule("unused", Denoising(), predict_root=str(tmp_path / "in"))
    writer = PredictionWriter()
    # Lightning's "pytorch_lightning" logger does not propagate to the root logger, where caplog
    # listens (pytest 9.2 finds its records anyway, 7.0 does not): listen on it directly.
    lightning_log = logging.getLogger("pytorch_lightning")
    lightning_log.addHandler(caplog.handler)
    try:
        make_trainer(tmp_path / "run", callbacks=[writer]).predict(
            make_module({"l1": 1.0}), datamodule=data
        )
    finally:
        lightning_log.removeHandler(caplog.handler)
    assert writer.folder == tmp_path / "run" / "predictions"
    assert len(list(writer.folder.rglob("*.png"))) == 5
    assert f"writing predictions to {writer.folder.resolve()}" in caplog.text
    assert f"wrote 5 prediction(s) to {writer.folder.resolve()}" in caplog.text


def test_output_names_stay_inside_the_folder():
    assert output_name("a/b", None, 3) == "a/b.png"
    assert output_name(None, "/data/x/photo.jpg", 3) == "000003_photo.png"
    assert output_name(None, None, 12) == "000012.png"
    with pytest.raises(ValueError, match="relative path inside the output folder"):
        output_name("../escape", None, 0)


def ddp_jobs(out: Path) -> list[tuple]:
    """A 2-process predict (tests/callbacks/ddp_predict.py) of the inputs of write_inputs."""
    write_inputs(out / "writer_inputs")
    return [("writer_predict", "predict", [out / "writer_inputs", out / "writer_predict"])]


@pytest.mark.slow
def test_two_processes_write_each_input_once_to_one_folder(ddp_session):
    names = INPUT_NAMES
    ddp_session.finished("writer_predict")
    tmp_path = ddp_session.folder("writer_predict")
    records = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert records[0]["folder"] == records[1]["folder"]  # rank zero's versioned log folder
    folder = Path(records[0]["folder"])
    assert folder == tmp_path / "lightning_logs" / "version_0" / "predictions"
    per_rank = [{Path(p).relative_to(folder).as_posix() for p in r["written"]} for r in records]
    assert per_rank[0] and per_rank[1] and not per_rank[0] & per_rank[1]
    assert per_rank[0] | per_rank[1] == {f"{n}.png" for n in names}
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png")) == sorted(
        f"{n}.png" for n in names
    )
