"""The target-views critic diagnosis: gaps against direct loss calls, critic training touches the
heads only, and the script end to end on tiny settings."""

import pytest
import torch

from tests.benchmarks.scripts import benchmark_modules


@pytest.fixture(scope="module")
def scripts():
    yield from benchmark_modules("critic_sensitivity", "distortions")


def test_gap_is_the_loss_of_the_distorted_target_minus_that_of_the_target(scripts):
    critic_sensitivity, distortions = scripts
    loss, _ = critic_sensitivity.critic_loss("textures", "cfl-fn", 0)
    targets = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    gaps = critic_sensitivity.gaps(loss, targets, locations_seed=3)
    assert list(gaps) == [
        "blur@1", "noise@0.05", "jpeg@50", "desaturation@0.5", "checkerboard@0.05",
        "colour_cast@0.1",
    ]  # fmt: skip
    locations = loss.draw_locations(targets.shape, torch.Generator().manual_seed(3))
    with torch.no_grad():
        blurred = loss(distortions.gaussian_blur(targets, 1.0), targets, locations=locations)
        clean = loss(targets, targets, locations=locations)
    assert gaps["blur@1"] == pytest.approx(float(blurred - clean), rel=1e-5)
    assert gaps["blur@1"] > 0


def test_critic_training_moves_the_heads_and_not_the_extractor(scripts):
    critic_sensitivity, _ = scripts
    loss, lr = critic_sensitivity.critic_loss("textures", "cfl-fn", 0)
    heads = [p.detach().clone() for p in loss.heads.parameters()]
    extractor = [p.detach().clone() for p in loss.extractor.parameters()]
    batches = [{"image": torch.rand(2, 3, 32, 32) * 2 - 1} for _ in range(2)]
    values = critic_sensitivity.train_critic(loss, batches, steps=3, lr=lr)
    assert len(values) == 2
    assert all(not torch.equal(a, b) for a, b in zip(heads, loss.heads.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(extractor, loss.extractor.parameters()))


def test_only_target_views_recipes_are_accepted(scripts):
    critic_sensitivity, _ = scripts
    with pytest.raises(ValueError, match=r"recipe: expected one whose critic trains on target"):
        critic_sensitivity.critic_loss("textures", "cfl", 0)


@pytest.mark.slow
def test_quick_run_writes_the_table(scripts, tmp_path):
    critic_sensitivity, _ = scripts
    out = tmp_path / "s.md"
    results = critic_sensitivity.main(["--quick", "--tasks", "textures", "--out", str(out)])
    table = out.read_text()
    assert "## textures" in table and "| blur@1 |" in table and "Critic's loss" in table
    assert set(results["textures"]) == {"init", "trained", "identity", "critic_loss"}
