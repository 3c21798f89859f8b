"""Fixtures shared across test folders."""

import pytest
import torch

from cfl_lightning.networks import VGG19Features


@pytest.fixture(scope="session")
def imagenet_cache(tmp_path_factory):
    """A TORCH_HOME whose cache holds a (randomly initialised) VGG19 'ImageNet' file under
    torchvision's file name, so that configs with ``weights: imagenet`` build offline."""
    home = tmp_path_factory.mktemp("torch_home")
    folder = home / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    features = VGG19Features(layers=("relu5_4",), weights="random").features
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    torch.save(state, folder / "vgg19-dcbb9e9d.pth")
    return home


DDP_TIMEOUT_S = 900  # all jobs of the suite took about 125 s here


@pytest.fixture(scope="session")
def ddp_session(request, tmp_path_factory, imagenet_cache):
    """The 2-process DDP jobs of every selected test module that uses this fixture, run in one
    pair of processes (tests/ddp_session.py): each such module lists its jobs with
    ``ddp_jobs(out) -> [(name, kind, args[, "last"]), ...]``, where ``out / name`` is the job's
    folder; jobs marked "last" (a configuration that is refused) run after all others."""
    from tests.ddp_session import run_session

    out = tmp_path_factory.mktemp("ddp_session")
    modules = []
    for item in request.session.items:
        if "ddp_session" in item.fixturenames and item.module not in modules:
            modules.append(item.module)
    jobs, last = [], []
    for module in modules:
        for name, kind, args, *when in module.ddp_jobs(out):
            (last if when == ["last"] else jobs).append([name, kind, [str(a) for a in args]])
    names = [name for name, _, _ in jobs + last]
    assert len(set(names)) == len(names), f"job names must be unique: {names}"
    return run_session(jobs + last, out, {"TORCH_HOME": str(imagenet_cache)}, DDP_TIMEOUT_S)
