"""CFL in a user's own LightningModule with automatic optimization (README, "The loss in plain
PyTorch"): one optimizer over the generator's and the critic's parameters trains both exactly as
the README's plain loop with two optimizers does, in one process and under 2-process DDP, and the
checkpoint alone gives the model back."""

import json
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from tests.losses.user_module import (
    BATCH,
    STEPS,
    in_order,
    make_model,
    make_trainer,
    pairs,
    plain_loop,
)


def ddp_jobs(out: Path) -> list[tuple]:
    return [("user_fit", "user_fit", [out / "user_fit"])]


def assert_states_close(actual: dict, expected: dict, atol: float = 1e-6) -> None:
    assert actual.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=1e-5, atol=atol, msg=key)


# Under DDP the two ranks' gradients are averaged, a sum in another order than the full batch's.
# Adam divides each gradient by its running RMS, so an entry whose gradient is near zero can move
# by a different fraction of the learning rate (1e-3): an Intel Xeon showed one head weight of
# 65536 off by 1.3e-6. 1 % of one step still fails a rank that trained on other batches or was
# not averaged (differences of the order of the learning rate).
DDP_ATOL = 1e-5


def changed(before: dict, after: dict, prefix: str) -> dict[str, bool]:
    return {k: not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix)}


@pytest.fixture(scope="module")
def plain():
    """The initial state and the state after the README's plain loop."""
    model = make_model()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    return initial, plain_loop(model, in_order())


def test_plain_loop_trains_the_generator_and_the_heads_but_not_vgg(plain):
    initial, trained = plain
    for prefix in ("generator.", "cfl.heads."):
        assert all(changed(initial, trained, prefix).values()), prefix
    frozen = changed(initial, trained, "cfl.extractor.")
    assert frozen and not any(frozen.values())


def test_fit_equals_the_plain_loop_and_its_checkpoint_gives_the_model_back(plain, tmp_path):
    model = make_model()
    trainer = make_trainer(tmp_path)
    trainer.fit(model, DataLoader(pairs(), batch_size=BATCH))
    state = model.state_dict()
    assert_states_close(state, plain[1])

    (checkpoint,) = (tmp_path / "checkpoints").glob("*.ckpt")
    loaded = type(model).load_from_checkpoint(checkpoint)
    assert loaded.state_dict().keys() == state.keys()
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, state[key]), key


@pytest.mark.slow
def test_two_process_fit_equals_the_plain_loop_on_both_ranks_batches(plain, ddp_session):
    ddp_session.finished("user_fit")
    folder = ddp_session.folder("user_fit")
    ranks = [torch.load(folder / f"rank{r}.pt") for r in (0, 1)]
    for key in ranks[0]:
        assert torch.equal(ranks[0][key], ranks[1][key]), key
    items = [json.loads((folder / f"items{r}.json").read_text()) for r in (0, 1)]
    steps = [first + second for first, second in zip(*items)]
    assert len(steps) == STEPS and all(len(step) == BATCH for step in steps)
    assert sorted(item for step in steps for item in step) == list(range(STEPS * BATCH))
    assert_states_close(ranks[0], plain_loop(make_model(), steps), atol=DDP_ATOL)
