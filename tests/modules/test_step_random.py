import torch

from cfl_lightning.modules.step_random import StepRandom
from cfl_lightning.seeding import derive_seed


def draw(random: StepRandom, rank: int, step: int) -> torch.Tensor:
    generator = random.generator("cfl-patches", rank, step, torch.device("cpu"))
    return torch.randperm(100, generator=generator)


def test_draws_are_a_function_of_seed_rank_and_step():
    a, b = StepRandom(seed=5), StepRandom(seed=5)
    assert torch.equal(draw(a, 0, 3), draw(b, 0, 3))
    assert torch.equal(draw(a, 1, 7), draw(b, 1, 7))
    assert torch.equal(draw(a, 0, 3), draw(a, 0, 3))  # re-seeded at every call
    assert not torch.equal(draw(a, 0, 3), draw(a, 1, 3))  # ranks differ
    assert not torch.equal(draw(a, 0, 3), draw(a, 0, 4))  # steps differ
    assert not torch.equal(draw(a, 0, 3), draw(StepRandom(seed=6), 0, 3))
    expected = torch.Generator().manual_seed(derive_seed(5, "cfl-patches", 1, 7))
    assert torch.equal(draw(a, 1, 7), torch.randperm(100, generator=expected))


def test_seed_comes_from_seed_everything_or_the_global_rng(monkeypatch):
    monkeypatch.setenv("PL_GLOBAL_SEED", "11")
    assert StepRandom().resolve_seed() == 11
    monkeypatch.delenv("PL_GLOBAL_SEED")
    torch.manual_seed(0)
    first = StepRandom().resolve_seed()
    torch.manual_seed(0)
    assert StepRandom().resolve_seed() == first
