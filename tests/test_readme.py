import re
from pathlib import Path

import torch

from cfl_lightning.networks import VGG19Features

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_python_examples_run(tmp_path, monkeypatch):
    # The examples ask for ImageNet weights: serve a stand-in file from a temporary cache.
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    features = VGG19Features(layers=("relu5_4",), weights="random").features
    torch.save(
        {f"features.{k}": v for k, v in features.state_dict().items()},
        folder / "vgg19-dcbb9e9d.pth",
    )
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    # Examples that load a checkpoint run in tests/test_readme_inference.py.
    blocks = [b for b in python_blocks() if "load_from_checkpoint" not in b]
    assert blocks, "the README shows no Python example"
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, str(README), "exec"), namespace)
    assert namespace["loss"].dim() == 0 and torch.isfinite(namespace["loss"])


def test_readme_shows_the_two_commands_and_ci_runs_make_test():
    text = README.read_text()
    assert "make demo" in text and "make test" in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci
