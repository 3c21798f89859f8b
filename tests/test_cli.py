import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import torch

from cfl_lightning.cli import build_cli

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
    "--trainer.limit_val_batches=2",  # "1" would read as 1.0: every batch
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
]


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
def test_fit_validate_predict_through_the_cfl_command(tmp_path, monkeypatch):
    # The installed `cfl` command is this entry point; it runs here in-process (a new process
    # would spend 10 s importing torch and Lightning again).
    (script,) = entry_points(group="console_scripts", name="cfl")
    assert script.value == "cfl_lightning.cli:main"
    assert Path(sys.executable).with_name("cfl").is_file()
    quickstart = str(ROOT / "configs" / "quickstart.yaml")
    command = [
        "cfl",
        "fit",
        "--config",
        quickstart,
        *TINY,
        "--trainer.max_steps=2",
        "--trainer.val_check_interval=2",
        f"--trainer.default_root_dir={tmp_path}",
    ]
    monkeypatch.setattr(sys, "argv", command)
    monkeypatch.chdir(tmp_path)
    script.load()()
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


# ---------------------------------------------------------------- each fact stated once
QUICKSTART = str(ROOT / "configs" / "quickstart.yaml")
NO_RUN = ["--trainer.logger=false", "--trainer.enable_progress_bar=false"]


def quickstart(*extra):
    return build_cli(["--config", QUICKSTART, *NO_RUN, *extra], run=False)


def test_limit_val_batches_one_reads_as_every_batch_and_two_as_a_count():
    # What the README tells users: Lightning types limit_*_batches float | int, so the parser
    # reads "1" as 1.0 (every batch); the Trainer turns a whole float above 1 into a count.
    every = quickstart("--trainer.limit_val_batches=1").trainer
    assert every.limit_val_batches == 1.0 and isinstance(every.limit_val_batches, float)
    two = quickstart("--trainer.limit_val_batches=2").trainer
    assert two.limit_val_batches == 2 and isinstance(two.limit_val_batches, int)


def test_the_data_decides_classes_and_the_model_derives_channels():
    cli = quickstart("--data.init_args.num_classes=9")
    model = cli.model
    assert model.num_classes == 9 and model.dontcare_label is None and not model.use_instances
    assert model.generator.label_channels == 9
    # kept as plain data in the hyperparameters, without links the class does not take
    assert model.hparams["num_classes"] == 9
    assert "scale" not in model.hparams and "input_channels" not in model.hparams


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        (
            "--model.init_args.num_classes=7",
            r"model.init_args.num_classes: got 7, but the data gives 6 \(data.num_classes\); the "
            r"cfl command takes it from the data",
        ),
        ("--model.init_args.use_instances=true", r"use_instances: got True, but the data gives "),
        ("--model.init_args.dontcare_label=255", r"dontcare_label: got 255, but the data gives "),
    ],
)
def test_a_fact_given_to_the_model_otherwise_is_an_error(argument, message):
    with pytest.raises(ValueError, match=message):
        quickstart(argument)


def test_a_fact_given_to_the_model_as_the_data_states_it_is_accepted():
    assert quickstart("--model.init_args.num_classes=6").model.num_classes == 6


def test_a_generator_with_other_channels_is_an_error():
    with pytest.raises(
        ValueError,
        match=r"generator: SPADEGenerator takes 7 input channels, but "
        r"SemanticSynthesisModule \(input_channels=6\) gives it 6",
    ):
        quickstart("--model.init_args.generator.init_args.label_channels=7")


def test_the_old_spelling_of_the_instance_flag_is_refused(capsys):
    with pytest.raises(SystemExit):
        quickstart("--model.init_args.use_instance=true")
    assert "use_instance" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("config", "extra", "expected"),
    [
        ("cityscapes_spade_cfl_gan.yaml", [], (35, None, True, 36, 39)),
        (
            "cityscapes_spade_l1_gan.yaml",
            ["--data.init_args.use_instances=false"],
            (35, None, False, 35, 38),
        ),
        ("ade20k_spade_l1_gan.yaml", [], (150, 255, False, 151, 154)),
    ],
)
def test_spade_configs_take_their_facts_from_the_data(
    config, extra, expected, imagenet_cache, monkeypatch
):
    monkeypatch.setenv("TORCH_HOME", str(imagenet_cache))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    small = ["--model.init_args.generator.init_args.ngf=2", "--model.init_args.metrics=[psnr]"]
    cli = build_cli(
        ["--config", str(ROOT / "configs" / config), *NO_RUN, *small, *extra], run=False
    )
    model = cli.model
    got = (
        model.num_classes,
        model.dontcare_label,
        model.use_instances,
        model.generator.label_channels,
        model.discriminator.input_channels,
    )
    assert got == expected


def superres(tmp_path, *extra):
    config = str(ROOT / "configs" / "superres_l1.yaml")
    return build_cli(["--config", config, "--data.root", str(tmp_path), *NO_RUN, *extra], run=False)


def test_the_super_resolution_scale_is_the_data_factor(tmp_path):
    model = superres(tmp_path, "--data.init_args.degradation.init_args.factor=2").model
    assert model.scale == 2 and model.generator.scale == 2
    assert model.hparams["scale"] == 2 and "num_classes" not in model.hparams
    assert superres(tmp_path).model.generator.scale == 4
    with pytest.raises(
        ValueError,
        match=r"model.init_args.scale: got 2, but the data gives 4 \(data.degradation.factor\)",
    ):
        superres(tmp_path, "--model.init_args.scale=2")


def test_a_model_for_other_inputs_than_the_data_gives_is_an_error(tmp_path):
    config = str(ROOT / "configs" / "colorization_l1.yaml")
    denoising = "--data.init_args.degradation=cfl_lightning.data.Denoising"
    with pytest.raises(
        ValueError,
        match="data: ImageFolderDataModule gives 3-channel inputs, but ColorizationModule reads 1",
    ):
        build_cli(["--config", config, "--data.root", str(tmp_path), denoising, *NO_RUN], run=False)


def test_where_the_data_is_silent_the_model_config_decides():
    # RandomPairsDataModule (tests/modules/tiny.py) states no input channel count
    args = [
        "--data=tests.modules.tiny.RandomPairsDataModule",
        "--model=cfl_lightning.modules.Pix2PixModule",
        "--model.init_args.generator=cfl_lightning.networks.UNetGenerator",
        "--model.init_args.generator.init_args.num_downs=2",
        "--model.init_args.generator.init_args.ngf=2",
        "--model.init_args.input_channels=5",
        "--model.init_args.losses={l1: 1.0}",
        *NO_RUN,
    ]
    model = build_cli(args, run=False).model
    assert model.input_channels == 5 and model.generator.input_channels == 5


def test_the_readme_super_resolution_pooling_override_reaches_the_loss(tmp_path):
    # README, Recommendation: the random-weights recipe with feature_pooling 3 for SR data
    config = str(ROOT / "configs" / "superres_cfl.yaml")
    piece = str(ROOT / "configs" / "loss" / "cfl_random_weights.yaml")
    args = ["--config", config, "--data.root", str(tmp_path), *NO_RUN, "--model.cfl", piece]
    pooled = build_cli([*args, "--model.cfl.init_args.feature_pooling", "3"], run=False).model.cfl
    assert pooled.feature_pooling == 3 and set(pooled.pooling_kernels.values()) == {3}
    assert (pooled.critic, pooled.query_negatives) == ("target_views", "above_target")
    assert build_cli(args, run=False).model.cfl.feature_pooling == 1
