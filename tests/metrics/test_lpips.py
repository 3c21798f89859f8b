import warnings

import pytest
import torch
import torchvision

from cfl_lightning.metrics import LPIPS, lpips_backbone_cache_path


def test_offline_without_weights_warns_once_and_reports_nan(offline_hub, textures):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metric = LPIPS()
        x = textures(2)
        batch_value = metric(x, x)
        metric.update(x, x)
        value = metric.compute()
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(messages) == 1, messages
    assert str(offline_hub / "alexnet-owt-7be5be79.pth") in messages[0]
    assert torch.isnan(value) and torch.isnan(batch_value)
    assert not metric.available


def test_available_from_torch_hub_cache(offline_hub, textures):
    url, path = lpips_backbone_cache_path("squeeze")
    assert path == offline_hub / url.rsplit("/", 1)[-1]
    path.parent.mkdir(parents=True)
    torch.save(torchvision.models.squeezenet1_1().state_dict(), path)  # random stand-in
    metric = LPIPS(net_type="squeeze")
    assert metric.available
    x, y = textures(2, seed=0), textures(2, seed=1)
    batch_value = metric(x, y)
    assert float(batch_value) > 0
    metric.update(x, x)
    torch.testing.assert_close(metric.compute(), batch_value / 2, atol=1e-6, rtol=1e-5)
    assert metric.state_dict() == {}
    with pytest.raises(ValueError, match="net_type: expected one of"):
        LPIPS(net_type="resnet")
