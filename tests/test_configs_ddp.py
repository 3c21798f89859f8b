"""Every top-level config trains, under 2-process CPU DDP (gloo): `cfl fit` for one step with the
sanity validation and a validation after the step, the config's image grids and a checkpoint, on
tiny files in its dataset's layout, networks narrowed as in tests/test_configs.py and the VGG19 of
the CFL and perceptual losses cut at relu2_1 (the features are not what is tested: the channels,
sizes and collectives are). All configs run as jobs of the suite's one pair of DDP processes
(tests/ddp_session.py) under one timeout: a collective that only some ranks reach (the hang of
issue 10) fails the tests, naming the config it stopped in, instead of blocking the suite. Per
config, each rank records (tests/config_facts.py) the model's channels and label facts, the first
batch's shapes and which networks trained; they are checked against what each config family is,
as tests/test_configs.py states it.
"""

import json
from pathlib import Path

import pytest
import yaml

from tests.test_configs import (
    CONFIGS,
    FAMILIES,
    family,
    model_and_data,
    one_step_arguments,
    runs_at_half_size,
)


def configured_strategy(config: Path) -> str:
    """The strategy the config's trainer states ("auto" when it states none)."""
    trainer = yaml.safe_load(config.read_text()).get("trainer", {})
    if isinstance(trainer, str):
        trainer = yaml.safe_load((config.parent / trainer).read_text())
    return trainer.get("strategy", "auto")


def shallow_vgg_arguments(config: Path) -> list[str]:
    """The config's VGG19-based losses (and so the fixed-heads CFL metric, which borrows the CFL
    loss's extractor) on relu1_1 and relu2_1 only: the test took 77 s instead of 135 s here."""
    model, _ = model_and_data(config)
    losses = model["init_args"]["losses"]
    layers = "[relu1_1,relu2_1]"
    args = []
    if "cfl" in losses:
        args += [f"--model.init_args.cfl.init_args.layers={layers}"]
    if "perceptual" in losses:
        args += [
            f"--model.init_args.perceptual.init_args.layers={layers}",
            "--model.init_args.perceptual.init_args.layer_weights=[1,1]",
        ]
    return args


def ddp_arguments(config: Path, root: Path) -> list[str]:
    """The one-step arguments of tests/test_configs.py (tiny data written, widths narrowed), a
    shallow VGG19, then 2 processes, one step, batches of one image, the sanity validation and a
    validation after the step (at most 2 batches per process each), the config's callbacks
    (grids, its checkpoint) plus the facts recorder and a checkpoint every step, TensorBoard
    logs. Image sizes as in tests/test_configs.py (the L1 twins of the SPADE configs at full
    size). Training on after a
    validation under DDP is tests/modules/test_ddp_state.py's (8 steps, validation after each)."""
    args = one_step_arguments(config, root / "data", root)
    strategy = configured_strategy(config)
    _, data = model_and_data(config)
    if data["class_path"].endswith("ImageFolderDataModule"):
        args += ["--data.init_args.val_ratio=0.5"]  # 2 of the 4 photos: one per process
    return [
        *args,
        *shallow_vgg_arguments(config),
        "--data.init_args.batch_size=1",
        "--trainer.devices=2",
        f"--trainer.strategy={'ddp' if strategy == 'auto' else strategy}",
        "--trainer.max_steps=1",
        "--trainer.max_epochs=-1",
        # 2, not 1: Lightning types it float | int, so the CLI parses "1" as 1.0 = every batch
        # (the quickstart's 32 validation batches per process); 2 parses as 2.0 = 2 batches.
        "--trainer.limit_val_batches=2",
        "--trainer.val_check_interval=1",
        "--trainer.logger=true",
        "--trainer.callbacks+=tests.config_facts.ConfigFacts",
        f"--trainer.callbacks.init_args.path={root / 'facts'}",
        "--trainer.callbacks+=pytorch_lightning.callbacks.ModelCheckpoint",
        f"--trainer.callbacks.init_args.dirpath={root / 'every_step'}",
        "--trainer.callbacks.init_args.every_n_train_steps=1",
        "--trainer.callbacks.init_args.save_top_k=-1",
    ]


def job_name(config: Path) -> str:
    return f"config_{config.stem}"


def ddp_jobs(out: Path) -> list[tuple]:
    """One `cfl fit` per config, jobs of the suite's pair of DDP processes (tests/ddp_session.py),
    each with its tiny data and run folder in ``out / job name``."""
    return [
        (job_name(config), "cfl_fit", ddp_arguments(config, out / job_name(config)))
        for config in CONFIGS
    ]


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_config_fits_validates_and_checkpoints_on_two_processes(config, ddp_session):
    name = job_name(config)
    assert ddp_session.finished(name) == {"global_step": 1, "world": 2}  # both ranks
    run = ddp_session.folder(name)
    grids = list(run.glob("lightning_logs/version_*/images/val_step*.png"))
    assert len(grids) == 1, f"{name}: expected the validation's grid, got {grids}"
    steps = sorted(p.name.split("-")[-1] for p in (run / "every_step").glob("*.ckpt"))
    assert steps == ["step=1.ckpt"], f"{name}: {steps}"
    for rank in (0, 1):
        facts = json.loads((run / f"facts.rank{rank}").read_text())
        assert (facts["global_step"], facts["world"]) == (1, 2), name
        check_facts(f"{config.stem} rank {rank}", facts, expected_facts(config))


def expected_facts(config: Path) -> dict:
    """What a one-step fit of the config must record, from its family's stated facts: channels,
    label facts, the first batch's shapes (one image per process)."""
    expected = FAMILIES[family(config)]
    height, width = expected["size"]
    if runs_at_half_size(config):
        height, width = height // 2, width // 2
    channels = expected["input_channels"]
    shapes = {"image": [1, 3, height, width]}
    if "labels" in expected:
        shapes["label"] = [1, height, width]
    else:
        shapes["input"] = [1, channels, *expected.get("input_size", (height, width))]
    model, _ = model_and_data(config)
    has_discriminator = model["init_args"].get("discriminator") is not None
    return {
        "input_channels": channels,
        "labels": list(expected.get("labels", (None, None, None))),
        # conditional: the generator's input beside the image
        "discriminator_input_channels": channels + 3 if has_discriminator else None,
        "shapes": shapes,
        "instance": "labels" in expected and expected["labels"][2],
    }


def check_facts(name: str, facts: dict, expected: dict) -> None:
    for key in ("input_channels", "labels", "discriminator_input_channels"):
        assert facts[key] == expected[key], f"{name}: {key} {facts[key]}, expected {expected[key]}"
    shapes = facts["shapes"]
    got = {key: shapes.get(key) for key in expected["shapes"]}
    assert got == expected["shapes"], f"{name}: first batch {shapes}, expected {expected['shapes']}"
    assert ("instance" in shapes) == expected["instance"], f"{name}: first batch {shapes}"
    wanted = {"generator"}
    if expected["discriminator_input_channels"] is not None:
        wanted.add("discriminator")
    assert wanted <= set(facts["networks"]), f"{name}: networks {facts['networks']}"
    # every network with an optimizer (the critic when the loss trains one) took a step
    assert facts["trained"] == facts["networks"], f"{name}: trained only {facts['trained']}"
