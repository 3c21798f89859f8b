import pytest

from cfl_lightning.networks import VGG19Features


@pytest.fixture(scope="session")
def extractor():
    """VGG19 with its default layers and seeded random weights (frozen: safe to share)."""
    return VGG19Features(weights="random")
