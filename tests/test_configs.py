"""The top-level configs: which family each belongs to, the tiny files written in its dataset's
layout and the arguments that narrow its networks for a one-step fit (used by
tests/test_configs_ddp.py, which fits every config), and the pieces they are composed from.

The one-step arguments keep the channel counts and image size the config sets, at most 2 images a
batch, on CPU in float32. One exception to the size: the SPADE configs with a VGG19-based loss
(CFL, perceptual) run at half their size per side (Cityscapes 128x256, ADE20K 128x128): one step of
cityscapes_spade_cfl_gan at 256x512 took 23 s on the two shared cores. Their L1 twins run at the
full size, with the same networks.
"""

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from cfl_lightning.networks import MultiscaleDiscriminator

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
BATCH = 2  # at most; a config with batch size 1 (pix2pix) keeps it
VGG_LOSSES = {"cfl", "perceptual"}

# What each config family is, stated here independently of the configs and the code: the image
# size of its batches (H, W), the generator's input channels, and what the data provides.
# Cityscapes: 35 label ids + 1 instance-edge channel (SPADE's semantic_nc); ADE20K: 150 classes +
# 1 don't-care channel; pix2pix facades: RGB; photo tasks: the degradation's channels.
FAMILIES = {
    "cityscapes": {
        "size": (256, 512),
        "input_channels": 36,
        "labels": (35, None, True),
        "half_size": ["--data.init_args.crop_size=256"],
    },
    "ade20k": {
        "size": (256, 256),
        "input_channels": 151,
        "labels": (150, 255, False),
        "half_size": ["--data.init_args.load_size=143", "--data.init_args.crop_size=128"],
    },
    "facades": {"size": (256, 256), "input_channels": 3},
    "quickstart": {"size": (64, 64), "input_channels": 6, "labels": (6, None, False)},
    "superres": {"size": (128, 128), "input_channels": 3, "input_size": (32, 32)},
    "colorization": {"size": (128, 128), "input_channels": 1},
    "inpainting": {"size": (128, 128), "input_channels": 4},
    "denoising": {"size": (128, 128), "input_channels": 3},
}


def family(config: Path) -> str:
    return config.name.split("_")[0].removesuffix(".yaml")


def load_piece(value, folder: Path):
    """A config value, with a piece given as a path (``generator: generator/spade.yaml``) read."""
    if isinstance(value, str) and value.endswith(".yaml"):
        return yaml.safe_load((folder / value).read_text())
    return value


def model_and_data(config: Path) -> tuple[dict, dict]:
    text = yaml.safe_load(config.read_text())
    folder = config.parent
    return load_piece(text["model"], folder), load_piece(text["data"], folder)


# ------------------------------------------------------------------ tiny datasets on disk
def save_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def random_rgb(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def write_cityscapes(root: Path, rng: np.random.Generator) -> None:
    for split in ("train", "val"):
        for i in range(BATCH):
            stem = f"aachen_{i:06d}_000019"
            label = rng.integers(0, 35, (32, 64)).astype(np.uint8)
            instance = label.astype(np.uint16) * 1000 + (np.arange(64)[None] // 16).astype(
                np.uint16
            )
            save_png(
                root / "leftImg8bit" / split / "aachen" / f"{stem}_leftImg8bit.png",
                random_rgb(rng, 32, 64),
            )
            gt = root / "gtFine" / split / "aachen"
            save_png(gt / f"{stem}_gtFine_labelIds.png", label)
            save_png(gt / f"{stem}_gtFine_instanceIds.png", instance)


def write_ade20k(root: Path, rng: np.random.Generator) -> None:
    base = root / "ADEChallengeData2016"
    for folder in ("training", "validation"):
        for i in range(BATCH):
            stem = f"ADE_{folder[:5]}_{i + 1:08d}"
            save_png(base / "images" / folder / f"{stem}.png", random_rgb(rng, 48, 48))
            raw = rng.integers(0, 151, (48, 48)).astype(np.uint8)  # 0 = "other" (don't care)
            save_png(base / "annotations" / folder / f"{stem}.png", raw)


def write_paired(root: Path, rng: np.random.Generator) -> None:
    for split in ("train", "val"):
        for i in range(BATCH):
            save_png(root / split / f"{i}.png", random_rgb(rng, 40, 80))


def write_photos(root: Path, rng: np.random.Generator) -> None:
    for i in range(2 * BATCH):
        save_png(root / f"photo_{i}.png", random_rgb(rng, 136, 136))


WRITERS = {
    "CityscapesDataModule": write_cityscapes,
    "ADE20KDataModule": write_ade20k,
    "PairedFolderDataModule": write_paired,
    "ImageFolderDataModule": write_photos,
}


# ---------------------------------------------------------------------- arguments
def shrink_arguments(model: dict) -> list[str]:
    """Narrow networks: the generator's and discriminator's widths only (never channels)."""
    init = model.get("init_args", {})
    folder = ROOT / "configs"
    generator = load_piece(init.get("generator"), folder)
    prefix = "--model.init_args.generator"
    args = []
    if generator is None:
        # The task's default generator, given explicitly as a narrow factory of the same class.
        if model["class_path"].endswith("SuperResolutionModule"):
            args += [
                f"{prefix}=cfl_lightning.networks.ResidualSRGenerator",
                f"{prefix}.init_args.nf=8",
                f"{prefix}.init_args.n_blocks=1",
            ]
        else:
            args += [
                f"{prefix}=cfl_lightning.networks.UNetGenerator",
                f"{prefix}.init_args.num_downs=5",
                f"{prefix}.init_args.ngf=4",
            ]
    elif generator["class_path"].endswith("SPADEGenerator"):
        args += [f"{prefix}.init_args.ngf=2", f"{prefix}.init_args.hidden=2"]
    elif generator["class_path"].endswith("UNetGenerator"):
        args += [f"{prefix}.init_args.ngf=2"]
    else:
        raise AssertionError(f"no width override for {generator['class_path']}")
    if init.get("discriminator") is not None:
        args += ["--model.init_args.discriminator.init_args.ndf=4"]
    return args


def batch_size(config: Path) -> int:
    _, data = model_and_data(config)
    return min(BATCH, data.get("init_args", {}).get("batch_size", 1))


def runs_at_half_size(config: Path) -> bool:
    model, _ = model_and_data(config)
    has_vgg = bool(VGG_LOSSES & set(model["init_args"]["losses"]))
    return has_vgg and "half_size" in FAMILIES[family(config)]


def one_step_arguments(config: Path, root: Path, tmp_path: Path) -> list[str]:
    model, data = model_and_data(config)
    args = ["--config", str(config)]
    if runs_at_half_size(config):
        args += FAMILIES[family(config)]["half_size"]
    data_class = data["class_path"].rsplit(".", 1)[-1]
    if data_class in WRITERS:
        WRITERS[data_class](root, np.random.default_rng(0))
        args += [f"--data.init_args.root={root}", "--data.init_args.persistent_workers=false"]
    args += [
        f"--data.init_args.batch_size={batch_size(config)}",
        "--data.init_args.num_workers=0",
        "--data.init_args.pin_memory=false",
        "--trainer.accelerator=cpu",
        "--trainer.devices=1",
        "--trainer.strategy=auto",
        "--trainer.precision=32-true",
        "--trainer.max_steps=1",
        "--trainer.limit_val_batches=0",
        "--trainer.num_sanity_val_steps=0",
        "--trainer.logger=false",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        f"--trainer.default_root_dir={tmp_path}",
        "--model.init_args.metrics=[psnr]",
    ]
    return args + shrink_arguments(model)


def test_every_top_level_config_belongs_to_a_family():
    assert {family(c) for c in CONFIGS} <= set(FAMILIES)
    assert CONFIGS


@pytest.mark.parametrize(
    ("piece", "windows"),
    [("pix2pix.yaml", [70]), ("spade.yaml", [70, 141])],  # the 70x70 PatchGAN at full size
)
def test_discriminator_pieces_are_the_papers_patchgans(piece, windows):
    config = yaml.safe_load((ROOT / "configs" / "discriminator" / piece).read_text())
    assert config["class_path"] == "cfl_lightning.networks.MultiscaleDiscriminator"
    discriminator = MultiscaleDiscriminator(input_channels=4, **config["init_args"])
    assert discriminator.receptive_fields == windows


def test_random_weights_loss_piece_is_the_benchmark_recipe_cfl_fn_aq():
    import importlib

    config = yaml.safe_load((ROOT / "configs" / "loss" / "cfl_random_weights.yaml").read_text())
    module, name = config["class_path"].rsplit(".", 1)
    loss = getattr(importlib.import_module(module), name)(**config["init_args"])
    assert (
        loss.critic,
        loss.false_negative_threshold,
        loss.query_negatives,
        loss.heads.kind,
    ) == ("target_views", 0.99, "above_target", "mlp")
    assert not any(p.requires_grad for p in loss.extractor.parameters())
    # The same options as the benchmark recipe whose figures the README quotes.
    from tests.benchmarks.scripts import benchmark_modules

    quality_tasks = next(benchmark_modules("quality_tasks"))
    recipe = next(r for r in quality_tasks.main_recipes(gan=False) if r.name == "cfl-fn-aq")
    assert {k: v for k, v in config["init_args"].items() if k in recipe.cfl_options} == (
        recipe.cfl_options
    )
    assert set(recipe.cfl_options) == {"critic", "false_negative_threshold", "query_negatives"}


def test_quickstart_trains_with_the_random_weights_recipe():
    # The quickstart (and so `make demo`) uses random VGG19 weights: it must use the recipe the
    # benchmark found to work there, not the paper's co-trained critic.
    piece = yaml.safe_load((ROOT / "configs" / "loss" / "cfl_random_weights.yaml").read_text())
    quickstart = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
    cfl = quickstart["model"]["init_args"]["cfl"]
    assert cfl["class_path"] == piece["class_path"]
    assert cfl["init_args"] == piece["init_args"]
