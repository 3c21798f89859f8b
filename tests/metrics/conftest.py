"""Fixtures of the metric tests: structured test images, an offline torch hub, and a randomly
initialised Inception-v3 weights file standing in for torch-fidelity's."""

from __future__ import annotations

import urllib.error
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from tests.metrics.images import make_textures


@pytest.fixture
def textures() -> Callable[..., torch.Tensor]:
    return make_textures


def _refuse_download(*args: object, **kwargs: object) -> None:
    raise urllib.error.URLError("network disabled in tests")


@pytest.fixture
def offline_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache under ``tmp_path`` and no downloads (they raise URLError at
    once). Returns the cache's ``checkpoints`` folder (not created)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _refuse_download)
    return tmp_path / "torch_home" / "hub" / "checkpoints"


@pytest.fixture(scope="session")
def random_inception_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """State dict of a randomly initialised torch-fidelity ``FeatureExtractorInceptionV3``
    (same keys and shapes as the real weights file), built without any download."""
    fidelity = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    cls = fidelity.FeatureExtractorInceptionV3
    with pytest.MonkeyPatch.context() as patch:  # the constructor insists on loading weights
        patch.setattr(fidelity, "load_state_dict_from_url", lambda *a, **k: None)
        patch.setattr(cls, "load_state_dict", lambda self, *a, **k: None)
        torch.manual_seed(0)
        network = cls("inception-v3-compat", ["2048"])
    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    torch.save(network.state_dict(), path)
    return path
