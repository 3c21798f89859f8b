"""A shared check: a loss compiled into one graph gives its eager value and gradients."""

import torch


def assert_compiled_matches_eager(loss, pred, target, locations):
    """Compile ``loss`` with ``fullgraph=True`` (no graph break allowed) and compare its value and
    the gradients to ``pred`` and the heads with eager ones at the given ``locations``; returns the
    compiled loss."""
    inputs = [pred, *loss.heads.parameters()]
    eager = loss(pred, target, locations=locations)
    eager_grads = torch.autograd.grad(eager, inputs)
    torch._dynamo.reset()
    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
    value = compiled(pred, target, locations=locations)
    torch.testing.assert_close(value, eager, rtol=0, atol=1e-5)
    for grad, expected in zip(torch.autograd.grad(value, inputs), eager_grads):
        torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-6)
    return compiled
