"""Every task end to end: `cfl fit` one step on a tiny folder, `cfl predict --data.predict_root`
on inputs alone of odd sizes, and `load_from_checkpoint` from the checkpoint alone."""

from __future__ import annotations

import urllib.error
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

import cfl_lightning.metrics.inception
import cfl_lightning.modules
from cfl_lightning.callbacks import PredictionWriter
from cfl_lightning.cli import build_cli
from cfl_lightning.data.degradations import rgb_to_luminance
from cfl_lightning.data.predict_inputs import image_to_tensor
from cfl_lightning.metrics.pretrained import WeightsUnavailableError
from cfl_lightning.networks import VGG19Features
from tests.data.conftest import save

# A written PNG holds the prediction rounded to 8 bits.
PNG_TOLERANCE = 0.5 / 127.5 + 1e-5


def unet(channels: int) -> dict:
    return {
        "class_path": "cfl_lightning.networks.UNetGenerator",
        "init_args": {"input_channels": channels, "num_downs": 3, "ngf": 4},
    }


def photo_folder(root: Path, count: int = 4, size: int = 40) -> str:
    rng = np.random.default_rng(1)
    for i in range(count):
        save(root / f"p{i}.png", rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    return str(root)


def photo_data(root: Path, degradation: str, init: dict | None = None) -> dict:
    return {
        "class_path": "cfl_lightning.data.ImageFolderDataModule",
        "init_args": {
            "root": photo_folder(root / "train"),
            "degradation": {
                "class_path": f"cfl_lightning.data.{degradation}",
                "init_args": init or {},
            },
            "crop_size": 32,
            "val_ratio": 0.25,
            "batch_size": 2,
        },
    }


def label_folder(root: Path) -> dict:
    rng = np.random.default_rng(2)
    for i in range(3):
        ids = rng.integers(0, 5, (40, 40))
        save(root / "labels" / f"{i}.png", ids.astype(np.uint8))
        save(root / "instances" / f"{i}.png", (ids * 1000 + i).astype(np.uint16))
        save(root / "images" / f"{i}.png", rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    return {
        "class_path": "cfl_lightning.data.LabelFolderDataModule",
        "init_args": {
            "label_dir": str(root / "labels"),
            "image_dir": str(root / "images"),
            "instance_dir": str(root / "instances"),
            "num_classes": 5,
            "val_ratio": 0.34,
            "load_size": 32,
            "crop_size": 32,
            "batch_size": 2,
        },
    }


def paired_folders(root: Path) -> dict:
    rng = np.random.default_rng(3)
    for i in range(3):
        for side in ("a", "b"):
            save(root / side / f"{i}.png", rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    return {
        "class_path": "cfl_lightning.data.PairedTwoFolderDataModule",
        "init_args": {
            "a_dir": str(root / "a"),
            "b_dir": str(root / "b"),
            "val_ratio": 0.34,
            "load_size": 32,
            "crop_size": 32,
            "batch_size": 2,
        },
    }


def write_photos(folder: Path, sizes: dict[str, tuple[int, int]], grey: bool = False) -> None:
    rng = np.random.default_rng(4)
    for name, (height, width) in sizes.items():
        shape = (height, width) if grey and name.endswith("grey") else (height, width, 3)
        save(folder / f"{name}.png", rng.integers(0, 256, shape, dtype=np.uint8))


@dataclass
class Task:
    module: str
    model: dict
    data: Any  # (root) -> data config
    inputs: Any  # (folder) -> {name: (height, width)} of the written inputs
    scale: int = 1
    extra: dict = field(default_factory=dict)


def label_inputs(folder: Path) -> dict[str, tuple[int, int]]:
    sizes = {"map": (45, 70), "sub/other": (33, 17)}
    rng = np.random.default_rng(5)
    for name, (height, width) in sizes.items():
        ids = rng.integers(0, 5, (height, width))
        save(folder / "labels" / f"{name}.png", ids.astype(np.uint8))
        save(folder / "instances" / f"{name}.png", (ids * 1000 + 1).astype(np.uint16))
    return sizes


def photo_inputs(sizes: dict[str, tuple[int, int]], grey: bool = False) -> Any:
    def write(folder: Path) -> dict[str, tuple[int, int]]:
        write_photos(folder, sizes, grey)
        return sizes

    return write


def mask_inputs(folder: Path) -> dict[str, tuple[int, int]]:
    sizes = {"hole": (29, 37), "sub/hole": (40, 33)}
    write_photos(folder, sizes)
    for name, (height, width) in sizes.items():
        mask = np.zeros((height, width), np.uint8)
        mask[5:20, 4:25] = 255
        save(folder / "masks" / f"{name}.png", mask)
    return sizes


TASKS = {
    "semantic_synthesis": Task(
        "SemanticSynthesisModule",
        {
            "generator": {
                "class_path": "cfl_lightning.networks.SPADEGenerator",
                "init_args": {"label_channels": 6, "ngf": 4, "hidden": 4},
            },
        },
        label_folder,
        label_inputs,
    ),
    "pix2pix": Task(
        "Pix2PixModule",
        {"generator": unet(3)},
        paired_folders,
        photo_inputs({"facade": (29, 37), "more/facade": (50, 21)}),
    ),
    "super_resolution": Task(
        "SuperResolutionModule",
        {
            "scale": 2,
            "generator": {
                "class_path": "cfl_lightning.networks.ResidualSRGenerator",
                "init_args": {"scale": 2, "nf": 8, "n_blocks": 1},
            },
        },
        lambda root: photo_data(root, "SuperResolution", {"factor": 2}),
        photo_inputs({"small": (23, 31), "sub/tiny": (9, 14)}),
        scale=2,
    ),
    "colorization": Task(
        "ColorizationModule",
        {"generator": unet(1), "keep_luminance": True},
        lambda root: photo_data(root, "Colorization"),
        photo_inputs({"colour": (29, 37), "sub/grey": (31, 23)}, grey=True),
    ),
    "inpainting": Task(
        "InpaintingModule",
        {"generator": unet(4)},
        lambda root: photo_data(root, "Inpainting"),
        mask_inputs,
    ),
    "denoising": Task(
        "DenoisingModule",
        {"generator": unet(3)},
        lambda root: photo_data(root, "Denoising"),
        photo_inputs({"noisy": (29, 37), "a/b/noisy": (17, 45)}),
    ),
}


def write_config(root: Path, task: Task) -> Path:
    config = {
        "seed_everything": 0,
        "trainer": {
            "accelerator": "cpu",
            "devices": 1,
            "max_steps": 1,
            "limit_val_batches": 0,
            "logger": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
        },
        "model": {
            "class_path": f"cfl_lightning.modules.{task.module}",
            "init_args": {"losses": {"l1": 1.0}, "metrics": ["psnr"], **task.model},
        },
        "data": task.data(root / "data"),
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def fit(root: Path, task: Task) -> tuple[Any, Path, Path]:
    config = write_config(root, task)
    cli = build_cli(["fit", "--config", str(config), f"--trainer.default_root_dir={root / 'fit'}"])
    checkpoints = sorted((root / "fit").rglob("*.ckpt"))
    assert len(checkpoints) == 1
    return cli.model, checkpoints[0], config


def read_png(path: Path) -> torch.Tensor:
    return image_to_tensor(path)


@pytest.mark.slow
@pytest.mark.parametrize("task_name", list(TASKS))
def test_fit_then_predict_inputs_alone_at_their_size_and_from_the_checkpoint(tmp_path, task_name):
    task = TASKS[task_name]
    trained, checkpoint, config = fit(tmp_path, task)
    sizes = task.inputs(tmp_path / "inputs")

    predict = build_cli(
        [
            "predict",
            "--config",
            str(config),
            f"--ckpt_path={checkpoint}",
            f"--data.predict_root={tmp_path / 'inputs'}",
            f"--trainer.default_root_dir={tmp_path / 'predict'}",
        ]
    )
    out = tmp_path / "predict" / "predictions"  # no logger: <default_root_dir>/predictions
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == sorted(f"{name}.png" for name in sizes)

    # The checkpoint alone rebuilds the module (no config), loaded safely (no pickled code).
    module_class = getattr(cfl_lightning.modules, task.module)
    loaded = module_class.load_from_checkpoint(checkpoint, map_location="cpu", weights_only=True)
    assert type(loaded) is module_class
    inputs = predict.datamodule.predict_inputs()
    for index, name in enumerate(inputs.names):
        batch = torch.utils.data.default_collate([inputs[index]])
        expected = trained.predict_native(trained.predict_input(batch))
        from_checkpoint = loaded.predict_native(loaded.predict_input(batch))
        torch.testing.assert_close(from_checkpoint, expected, rtol=0, atol=1e-6)
        height, width = sizes[name]
        assert expected.shape == (1, 3, height * task.scale, width * task.scale)
        png = read_png(out / f"{name}.png")
        assert png.shape == expected.shape
        assert (png - expected).abs().max() <= PNG_TOLERANCE, name
        if task_name == "colorization":  # keep_luminance: the input's luminance, unclamped pixels
            unclamped = (expected.abs() < 0.999).all(dim=1, keepdim=True)
            luminance = rgb_to_luminance(expected)
            assert (luminance - batch["input"]).abs()[unclamped].max() < 1e-5
        if task_name == "inpainting":  # known pixels kept exactly
            known = batch["input"][:, 3:] == 0
            photo = image_to_tensor(tmp_path / "inputs" / f"{name}.png")
            assert torch.equal(png.masked_select(known), photo.masked_select(known))


def fake_imagenet_home(folder: Path, seed: int) -> Path:
    """A TORCH_HOME whose cache holds a stand-in VGG19 'ImageNet' file (random weights drawn with
    ``seed``, unlike those of ``weights="random"``)."""
    checkpoints = folder / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    features = VGG19Features(layers=("relu5_4",), weights="random", seed=seed).features
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    torch.save(state, checkpoints / "vgg19-dcbb9e9d.pth")
    return folder


def use_torch_home(monkeypatch, home: Path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)


@pytest.mark.slow
def test_a_cfl_trained_checkpoint_predicts_without_the_weights_file(tmp_path, monkeypatch):
    use_torch_home(monkeypatch, fake_imagenet_home(tmp_path / "home", seed=7))
    task = TASKS["super_resolution"]
    cfl = {
        "class_path": "cfl_lightning.losses.ContrastiveFeatureLoss",
        "init_args": {"weights": "imagenet", "layers": ["relu1_1", "relu2_1"], "num_patches": 16},
    }
    task = Task(
        task.module, {**task.model, "losses": {"cfl": 1.0}, "cfl": cfl}, task.data, task.inputs
    )
    trained, checkpoint, config = fit(tmp_path, task)
    task.inputs(tmp_path / "inputs")

    # A machine with the checkpoint only: an empty cache, no network, no Inception weights.
    use_torch_home(monkeypatch, tmp_path / "empty_home")
    downloads, inception_loads = [], []

    def offline(url, *args, **kwargs):
        downloads.append(url)
        raise urllib.error.URLError("offline (test)")

    def no_inception(*args, **kwargs):
        inception_loads.append(args)
        raise WeightsUnavailableError("no Inception weights (test)")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    monkeypatch.setattr(cfl_lightning.metrics.inception, "load_inception", no_inception)

    loaded = cfl_lightning.modules.SuperResolutionModule.load_from_checkpoint(
        checkpoint, map_location="cpu", weights_only=True, metrics=["psnr", "fid"]
    )
    assert downloads == [] and inception_loads == []
    assert not loaded.cfl.extractor.weights_pending  # the checkpoint provided them
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    y = torch.rand(2, 3, 32, 32) * 2 - 1
    generator = torch.Generator()
    torch.testing.assert_close(
        loaded.cfl(loaded.predict_native(x), y, generator=generator.manual_seed(0)),
        trained.cfl(trained.predict_native(x), y, generator=generator.manual_seed(0)),
        rtol=0,
        atol=0,
    )
    loaded.setup("validate")  # validation builds the metrics, and only then
    assert len(inception_loads) == 2  # val and test FID

    predict = [
        "predict",
        "--config",
        str(config),
        f"--data.predict_root={tmp_path / 'inputs'}",
        f"--trainer.default_root_dir={tmp_path / 'predict'}",
    ]
    build_cli([*predict, f"--ckpt_path={checkpoint}"])
    assert len(list((tmp_path / "predict" / "predictions").rglob("*.png"))) == 2
    assert downloads == []
    # Building the loss for training (no checkpoint) still needs the file, and says which.
    with pytest.raises(
        (RuntimeError, ValueError), match=r"vgg19-dcbb9e9d\.pth is not in the cache"
    ):
        build_cli(predict)


@pytest.mark.slow
def test_cfl_predict_writes_by_default_next_to_the_runs_config(tmp_path):
    quickstart = Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml"
    tiny = [
        "--config",
        str(quickstart),
        "--model.init_args.generator.init_args.ngf=4",
        "--model.init_args.generator.init_args.hidden=4",
        "--model.init_args.metrics=[psnr]",
        "--trainer.enable_progress_bar=false",
        f"--trainer.default_root_dir={tmp_path}",
    ]
    rng = np.random.default_rng(0)
    for name in ("drawn", "more/drawn"):
        save(tmp_path / "maps" / f"{name}.png", rng.integers(0, 6, (45, 70)).astype(np.uint8))
    cli = build_cli(["predict", *tiny, f"--data.predict_root={tmp_path / 'maps'}"])
    folder = tmp_path / "lightning_logs" / "version_0"
    assert (folder / "config.yaml").is_file()
    written = sorted(
        p.relative_to(folder / "predictions").as_posix() for p in folder.rglob("*.png")
    )
    assert written == ["drawn.png", "more/drawn.png"]
    writers = [c for c in cli.trainer.callbacks if isinstance(c, PredictionWriter)]
    assert len(writers) == 1 and writers[0].folder == folder / "predictions"
