import pytest
import torch
import torch.nn.functional as F

from cfl_lightning.networks.critic_head import CriticHeads, _BatchedHeads

CHANNELS = {"a": 3, "b": 5, "c": 5}


def features(dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(2, c, 6, generator=g, dtype=dtype).requires_grad_() for c in CHANNELS.values()
    ]


def one_by_one(heads, xs):
    outs = [head(x.transpose(1, 2)) for head, x in zip(heads.values(), xs)]
    width = max(o.shape[-1] for o in outs)
    return torch.stack([F.pad(o, (0, width - o.shape[-1])) for o in outs])


@pytest.mark.parametrize("kind", ["mlp", "linear", "identity"])
def test_embed_all_equals_each_head_alone_with_gradients(kind):
    torch.manual_seed(0)
    heads = CriticHeads(kind, CHANNELS, dim=4).double()
    xs = features(torch.float64)
    out = heads.embed_all(xs)
    expected = one_by_one(heads, xs)
    assert out.shape == (3, 2, 6, 4 if kind != "identity" else 5)
    torch.testing.assert_close(out, expected)
    weights = torch.randn_like(out)
    inputs = xs + list(heads.parameters())
    for grad, reference in zip(
        torch.autograd.grad((out * weights).sum(), inputs),
        torch.autograd.grad((expected * weights).sum(), inputs),
    ):
        torch.testing.assert_close(grad, reference)


@pytest.mark.parametrize("kind", ["mlp", "linear"])
def test_embed_all_gradcheck_inputs_and_parameters(kind):
    torch.manual_seed(1)
    heads = CriticHeads(kind, {"a": 2, "b": 3}, dim=3).double()
    xs = [torch.randn(2, c, 4, dtype=torch.float64, requires_grad=True) for c in (2, 3)]
    assert torch.autograd.gradcheck(lambda a, b: heads.embed_all([a, b]), tuple(xs))
    # The parameters in the order embed_all passes them: first layers' weights, their biases,
    # then (MLP) the second layers' weights and biases.
    layers = [h[0] for h in heads.values()] if kind == "mlp" else list(heads.values())
    ordered = [m.weight for m in layers] + [m.bias for m in layers]
    if kind == "mlp":
        ordered += [h[2].weight for h in heads.values()] + [h[2].bias for h in heads.values()]
    ordered = [p.detach().clone().requires_grad_() for p in ordered]
    for i in range(len(ordered)):

        def with_param(value, i=i):
            replaced = list(ordered)
            replaced[i] = value
            return _BatchedHeads.apply(kind == "mlp", len(xs), 0, *xs, *replaced)

        assert torch.autograd.gradcheck(with_param, (ordered[i],))


def test_embed_all_under_bfloat16_autocast_matches_each_head():
    torch.manual_seed(2)
    heads = CriticHeads("mlp", CHANNELS, dim=8)
    xs = features()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = heads.embed_all(xs)
        expected = one_by_one(heads, xs)
    assert out.dtype == expected.dtype == torch.bfloat16
    torch.testing.assert_close(out, expected)
    out.float().sum().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in heads.parameters())


def test_heads_kind_is_checked():
    with pytest.raises(ValueError, match="head: expected one of"):
        CriticHeads("transformer", CHANNELS)


@pytest.mark.parametrize("kind", ["mlp", "linear"])
@pytest.mark.parametrize("start", [None, 0, 1, 2])
def test_param_grad_from_limits_parameter_gradients_to_later_images(kind, start):
    torch.manual_seed(2)
    heads = CriticHeads(kind, CHANNELS, dim=4).double()
    xs = features(torch.float64, seed=3)  # batch of 2 images
    out = heads.embed_all(xs, param_grad_from=start)
    expected = one_by_one(heads, xs)
    torch.testing.assert_close(out, expected)
    weights = torch.randn_like(out)
    params = list(heads.parameters())
    (out * weights).sum().backward()
    # Reference: the same sum with the parameters as constants for images before ``start``.
    first = 2 if start is None else start
    with torch.no_grad():
        constant = one_by_one(heads, [x[:first] for x in xs])
    reference = (constant * weights[:, :first]).sum()
    if first < 2:
        reference = (
            reference + (one_by_one(heads, [x[first:] for x in xs]) * weights[:, first:]).sum()
        )
    if start is None or start == 2:
        assert all(p.grad is None or not p.grad.any() for p in params)
    else:
        for p, g in zip(params, torch.autograd.grad(reference, params)):
            torch.testing.assert_close(p.grad, g)
    x_grads = torch.autograd.grad((expected * weights).sum(), xs)
    for x, g in zip(xs, x_grads):
        torch.testing.assert_close(x.grad, g)


def test_param_grad_from_is_checked():
    heads = CriticHeads("mlp", CHANNELS, dim=4)
    with pytest.raises(
        ValueError, match=r"param_grad_from: expected None or an image index in \[0, 2\], got 3"
    ):
        heads.embed_all(features(), param_grad_from=3)
