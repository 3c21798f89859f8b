import pytest
import torch

from cfl_lightning.losses.checks import ValueChecks, check_image_pair, value_check_mode


def test_value_checks_modes():
    first = ValueChecks()
    assert [first.due() for _ in range(4)] == [True, True, False, False]
    assert [ValueChecks("first", first_calls=1).due() for _ in range(2)] == [True, True]
    always = ValueChecks(True)
    assert always.mode == "always" and all(always.due() for _ in range(5))
    never = ValueChecks("never")
    assert not any(never.due() for _ in range(3))
    assert value_check_mode(False) == "never"


def test_value_check_mode_rejects_unknown_modes():
    with pytest.raises(ValueError, match=r"validate_inputs: expected True, False or one of .*'x'"):
        value_check_mode("x")


def test_value_checks_are_skipped_while_compiling():
    checks = ValueChecks("always")

    def f(x):
        return x + 1 if checks.due() else x - 1

    compiled = torch.compile(f, backend="eager", fullgraph=True)
    assert torch.equal(compiled(torch.zeros(1)), torch.full((1,), -1.0))
    assert checks.due()


def test_shape_checks_without_values():
    x = torch.full((1, 3, 4, 4), float("nan"))
    check_image_pair(x, x, (-1.0, 1.0), values=False)
    with pytest.raises(ValueError, match="pred: expected finite values"):
        check_image_pair(x, x, (-1.0, 1.0))
    with pytest.raises(ValueError, match="pred, target: expected equal shapes"):
        check_image_pair(x, x[..., :2], (-1.0, 1.0), values=False)
