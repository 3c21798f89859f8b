import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cfl_lightning.cli import build_cli
from cfl_lightning.data.base import ImageDataModule
from cfl_lightning.modules import ImagePredictionModule
from cfl_lightning.networks import VGG19Features

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
# Tiny versions of the quickstart: a few 64x64 images, a few steps.
TINY = [
    "--data.init_args.train_size=8",
    "--data.init_args.val_size=4",
    "--data.init_args.test_size=4",
    "--data.init_args.batch_size=2",
    "--model.init_args.generator.init_args.ngf=8",
    "--model.init_args.metrics=[psnr]",
    "--trainer.limit_val_batches=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
]


@pytest.fixture(scope="module")
def imagenet_cache(tmp_path_factory):
    """A TORCH_HOME whose cache holds a (randomly initialised) VGG19 'ImageNet' file, so that
    configs with weights: imagenet build offline."""
    home = tmp_path_factory.mktemp("torch_home")
    folder = home / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    features = VGG19Features(layers=("relu5_4",), weights="random").features
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    torch.save(state, folder / "vgg19-dcbb9e9d.pth")
    return home


def test_there_are_paper_task_and_quickstart_configs():
    names = {p.name for p in CONFIGS}
    for dataset in ("cityscapes", "ade20k"):
        for loss in ("l1", "vgg", "cfl"):
            assert f"{dataset}_spade_{loss}.yaml" in names
            assert f"{dataset}_spade_{loss}_gan.yaml" in names
    assert {"facades_unet_l1.yaml", "facades_unet_cfl.yaml", "quickstart.yaml"} <= names
    for task in ("superres", "colorization", "inpainting", "denoising"):
        assert {f"{task}_cfl.yaml", f"{task}_l1.yaml"} <= names
    for path in CONFIGS:
        assert path.read_text().startswith("# "), f"{path.name} must say what it reproduces"


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_config_instantiates(config, imagenet_cache, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(imagenet_cache))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.chdir(tmp_path)
    extra = ["--data.root", str(tmp_path)] if "ImageFolderDataModule" in config.read_text() else []
    cli = build_cli(["--config", str(config), *extra, "--trainer.logger=false"], run=False)
    assert isinstance(cli.model, ImagePredictionModule)
    assert isinstance(cli.datamodule, ImageDataModule)
    if "cfl" in cli.model.loss_weights:
        has_critic = any(True for _ in cli.model.cfl.critic_parameters())
        assert ("critic" in cli.model.optimizer_names()) == has_critic


def test_fit_validate_predict_through_the_cfl_command(tmp_path):
    quickstart = str(ROOT / "configs" / "quickstart.yaml")
    command = [
        str(Path(sys.executable).with_name("cfl")),
        "fit",
        "--config",
        quickstart,
        *TINY,
        "--trainer.max_steps=2",
        "--trainer.val_check_interval=2",
        f"--trainer.default_root_dir={tmp_path}",
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoints = sorted(tmp_path.glob("lightning_logs/version_0/checkpoints/*.ckpt"))
    assert checkpoints, "fit wrote no checkpoint"
    assert (tmp_path / "lightning_logs" / "version_0" / "config.yaml").is_file()
    grids = list(tmp_path.glob("lightning_logs/version_0/images/*.png"))
    assert grids, "the image-grid callback wrote no PNG"

    common = [*TINY, f"--trainer.default_root_dir={tmp_path}", f"--ckpt_path={checkpoints[-1]}"]
    validate = build_cli(["validate", "--config", quickstart, *common])
    assert "val/cfl" in validate.trainer.callback_metrics

    out = tmp_path / "predictions"
    writer = ["--trainer.callbacks+=PredictionWriter", f"--trainer.callbacks.output_dir={out}"]
    build_cli(["predict", "--config", quickstart, *common, *writer])
    written = sorted(p.name for p in out.glob("*.png"))
    assert written == [f"{i:06d}_{i}.png" for i in range(4)]  # dataset index, input stem


def test_print_config_lists_the_loss_terms(capsys):
    with pytest.raises(SystemExit):
        build_cli(["fit", "--config", str(ROOT / "configs" / "quickstart.yaml"), "--print_config"])
    printed = capsys.readouterr().out
    assert "losses:" in printed and "cfl: 1.0" in printed
    assert "class_path: cfl_lightning.losses.ContrastiveFeatureLoss" in printed
