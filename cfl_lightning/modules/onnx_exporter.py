"""Which torch releases export our generators to ONNX correctly.

Measured with the suite's export tests on Python 3.10 (BENCHMARKS.md, "Dependency floors"):
torch 2.5 and 2.7 wrote graphs whose batch axis is fixed although it was declared dynamic (2.5
with onnxscript 0.3, 2.7 with 0.7.2: ONNX Runtime then refuses a batch of 2); with onnxscript 0.6.1
and 0.7.2 torch 2.5 fails to convert batch norm at all, and torch 2.6 fails on the declared axes.
torch 2.8 with onnxscript 0.6.1 passes every test, as does torch 2.14.1.
"""

from __future__ import annotations

import torch
from torch.torch_version import TorchVersion

ONNX_EXPORT_MIN_TORCH = (2, 8)


def exports_onnx_correctly(version: str) -> bool:
    """Whether torch ``version`` (e.g. ``"2.8.0+cu128"``) is at least ``ONNX_EXPORT_MIN_TORCH``."""
    return TorchVersion(version) >= ONNX_EXPORT_MIN_TORCH


def check_onnx_exporter(version: str | None = None) -> None:
    """Raise ``RuntimeError`` unless ``version`` (default: the installed torch's) exports to ONNX
    correctly, i.e. is at least ``ONNX_EXPORT_MIN_TORCH``."""
    version = str(torch.__version__) if version is None else version
    if not exports_onnx_correctly(version):
        needed = ".".join(map(str, ONNX_EXPORT_MIN_TORCH))
        raise RuntimeError(
            f"export_onnx needs torch >= {needed}, found torch {version}: earlier releases' ONNX "
            "exporter fixes the batch axis declared dynamic or fails to convert normalisation "
            f"layers. Upgrade torch (pip install 'torch>={needed}'); training and inference in "
            "PyTorch do not need it"
        )
