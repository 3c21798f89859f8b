import os
import warnings

import pytest
import torch
from torchmetrics import MetricCollection

from cfl_lightning.metrics import (
    FID,
    KID,
    SharpnessRatio,
    WeightsUnavailableError,
    inception_weights_cache_path,
)
from cfl_lightning.metrics.inception import to_uint8

CACHE_FILE = "weights-inception-2015-12-05-6726825d.pth"


@pytest.mark.parametrize("cls", [FID, KID])
def test_offline_without_weights_warns_once_and_reports_nan(cls, offline_hub, textures):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metrics = MetricCollection({"q": cls(feature=64), "sharpness": SharpnessRatio()})
        x = textures(2)
        for _ in range(2):
            metrics.update(x, x)
        values = metrics.compute()
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(messages) == 1, messages
    assert CACHE_FILE in messages[0]
    assert str(offline_hub / CACHE_FILE) in messages[0]  # where to put it
    assert "weights_path" in messages[0] and "NaN" in messages[0]
    assert not metrics["q"].available
    assert torch.isnan(values["q"])
    assert float(values["sharpness"]) == pytest.approx(1.0)  # the others go on
    assert inception_weights_cache_path() == offline_hub / CACHE_FILE


def test_missing_weights_path_file_and_raise_mode(offline_hub, tmp_path):
    missing = tmp_path / "nowhere.pth"
    with pytest.warns(UserWarning, match=f"weights_path='{missing}': no such file"):
        assert not FID(weights_path=missing).available
    with pytest.raises(WeightsUnavailableError, match=CACHE_FILE):
        KID(on_missing="raise")
    with pytest.raises(ValueError, match=r"feature: expected one of \(64, 192, 768, 2048\)"):
        FID(feature=100, weights_path=missing)


def test_fid_from_weights_path(offline_hub, random_inception_file, textures):
    fid = FID(feature=64, weights_path=random_inception_file)  # no download: offline_hub refuses
    assert fid.available
    saved = torch.load(random_inception_file)
    network = fid.wrapped.inception
    torch.testing.assert_close(
        network.Conv2d_1a_3x3.conv.weight, saved["Conv2d_1a_3x3.conv.weight"]
    )
    x, y = textures(4, seed=0), textures(4, seed=1)
    fid.update(x, x)
    assert abs(float(fid.compute())) < 1e-3
    fid.reset()
    fid.update(x[:2], y[:2])
    fid.update(x[2:], y[2:])
    value = float(fid.compute())
    assert value > 1e-3
    # the wrapper feeds torchmetrics uint8 images: target as real, preds as fake
    reference = type(fid.wrapped)(feature=network, normalize=False)
    reference.update(to_uint8(y, (-1, 1)), real=True)
    reference.update(to_uint8(x, (-1, 1)), real=False)
    assert value == pytest.approx(float(reference.compute()), rel=1e-4)
    # checkpoints carry neither the network nor anything that depends on its availability
    assert fid.state_dict() == {} and not list(fid.parameters())


def test_fid_and_kid_from_torch_hub_cache(offline_hub, random_inception_file, textures):
    offline_hub.mkdir(parents=True)
    os.symlink(random_inception_file, offline_hub / CACHE_FILE)  # "put it at ..." as advised
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # available: no warning at all
        kid = KID(feature=64, subsets=4, subset_size=1000)
    assert kid.available
    x, y = textures(3, seed=0), textures(3, seed=1)
    kid.update(x, y)
    first = kid.compute()  # subset_size lowered to the 3 images seen
    state = torch.random.get_rng_state()
    assert torch.isfinite(first) and float(first) != 0.0
    torch.testing.assert_close(kid.compute(), first)  # seeded subsets
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    kid.reset()
    kid.update(x, x)
    assert abs(float(kid.compute())) < 1e-3


def test_too_few_images_gives_nan(offline_hub, random_inception_file, textures):
    fid = FID(feature=64, weights_path=random_inception_file)
    fid.update(textures(1), textures(1))
    with pytest.warns(UserWarning, match="FID: needs at least 2 images, got 1"):
        assert torch.isnan(fid.compute())
