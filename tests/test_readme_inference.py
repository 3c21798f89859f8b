"""The README's plain-Python inference example runs on a checkpoint written by `cfl fit`."""

import shutil

import numpy as np
import pytest
from PIL import Image

from tests.data.conftest import save
from tests.test_cli_predict import TASKS, fit
from tests.test_readme import python_blocks


@pytest.mark.slow
def test_readme_inference_example_runs_on_a_cfl_fit_checkpoint(tmp_path, monkeypatch):
    blocks = [b for b in python_blocks() if "load_from_checkpoint" in b]
    assert len(blocks) == 1, "the README shows one checkpoint example"
    _, checkpoint, _ = fit(tmp_path / "run", TASKS["super_resolution"])  # a 2x model
    monkeypatch.chdir(tmp_path)
    shutil.copy(checkpoint, tmp_path / "last.ckpt")
    save(tmp_path / "photo.png", np.random.default_rng(0).integers(0, 256, (300, 23, 3), np.uint8))
    exec(compile(blocks[0], "README.md", "exec"), {})
    with Image.open(tmp_path / "upscaled.png") as image:
        assert image.size == (46, 600)  # 2x, tiled along the 300-pixel side
