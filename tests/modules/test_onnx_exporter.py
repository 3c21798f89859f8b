"""The torch release check in front of ``export_onnx``: it needs no onnx packages."""

import re

import pytest
import torch

from cfl_lightning.modules import Pix2PixModule
from cfl_lightning.modules.onnx_exporter import check_onnx_exporter
from cfl_lightning.networks import UNetGenerator


@pytest.mark.parametrize(
    "version", ["2.8.0", "2.8.0+cu128", "2.10.0a0+git1a2b3c", "2.14.1+cu130", "3.0.0"]
)
def test_releases_that_export_correctly_pass(version):
    check_onnx_exporter(version)


@pytest.mark.parametrize("version", ["2.5.0+cu124", "2.6.0", "2.7.1+cu126"])
def test_older_releases_are_refused_with_the_version_and_the_fix(version):
    with pytest.raises(
        RuntimeError, match=rf"needs torch >= 2.8, found torch {re.escape(version)}"
    ):
        check_onnx_exporter(version)
    with pytest.raises(RuntimeError, match=r"pip install 'torch>=2.8'"):
        check_onnx_exporter(version)


def test_export_onnx_refuses_an_old_torch_before_writing_anything(monkeypatch, tmp_path):
    module = Pix2PixModule(UNetGenerator(3, num_downs=3, ngf=4), losses={"l1": 1.0}, metrics=())
    monkeypatch.setattr(torch, "__version__", "2.7.0+cu126")
    path = tmp_path / "generator.onnx"
    with pytest.raises(RuntimeError, match=r"export_onnx needs torch >= 2.8, found torch 2.7.0"):
        module.export_onnx(path, (1, 3, 32, 32))
    assert not path.exists()
    assert module.training
