import math

import pytest
import torch
import torch.nn.functional as F

from cfl_lightning.losses import PatchNCELoss, patch_nce
from cfl_lightning.losses.patch_nce import paired_patch_nce


def loop_patch_nce(query, key, temperature, query_negatives):
    """Independent per-patch implementation of DESIGN.md step 4 (plain Python loops); with
    ``"above_target"`` a query pair is a negative only where ``q_i.q_j > k_i.k_j``."""
    batch, n, _ = query.shape
    out = torch.zeros(batch, n, dtype=torch.float64)
    for b in range(batch):
        for i in range(n):
            logits = [float(query[b, i] @ key[b, i])]
            logits += [float(query[b, i] @ key[b, j]) for j in range(n) if j != i]
            for j in range(n):
                alike = float(query[b, i] @ query[b, j])
                above = alike > float(key[b, i] @ key[b, j])
                if j != i and (query_negatives is True or (query_negatives and above)):
                    logits.append(alike)
            scaled = [v / temperature for v in logits]
            top = max(scaled)
            log_sum = top + math.log(sum(math.exp(v - top) for v in scaled))
            out[b, i] = log_sum - scaled[0]
    return out


def random_embeddings(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(shape, generator=g), dim=-1)


@pytest.mark.parametrize("query_negatives", [True, False, "above_target"])
@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_matches_loop_implementation(query_negatives, temperature):
    q, k = random_embeddings((2, 7, 5), 0), random_embeddings((2, 7, 5), 1)
    expected = loop_patch_nce(q.double(), k.double(), temperature, query_negatives)
    per_patch = patch_nce(q, k, temperature, query_negatives, reduction="none")
    assert per_patch.shape == (2, 7)
    torch.testing.assert_close(per_patch.double(), expected, rtol=1e-5, atol=1e-5)
    mean = patch_nce(q, k, temperature, query_negatives, reduction="mean")
    assert mean.dim() == 0
    torch.testing.assert_close(mean.double(), expected.mean(), rtol=1e-5, atol=1e-5)


def test_negatives_only_from_same_image():
    q, k = random_embeddings((3, 6, 4), 2), random_embeddings((3, 6, 4), 3)
    alone = patch_nce(q[1:2], k[1:2], reduction="none")
    together = patch_nce(q, k, reduction="none")[1:2]
    torch.testing.assert_close(alone, together)


def test_gradcheck_float64_query():
    q = random_embeddings((2, 4, 3), 4).double().requires_grad_()
    k = random_embeddings((2, 4, 3), 5).double()
    for query_negatives in (True, False, "above_target"):
        assert torch.autograd.gradcheck(
            lambda x, qn=query_negatives: patch_nce(x, k, 0.2, qn, "none"), (q,)
        )


def test_key_is_detached():
    q = random_embeddings((2, 5, 3), 6).requires_grad_()
    k = random_embeddings((2, 5, 3), 7).requires_grad_()
    patch_nce(q, k).backward()
    assert q.grad is not None and q.grad.abs().sum() > 0
    assert k.grad is None


def test_perfect_match_lower_than_mismatch():
    k = random_embeddings((2, 16, 8), 8)
    wrong = k[:, torch.randperm(16, generator=torch.Generator().manual_seed(0))]
    assert patch_nce(k.clone(), k) < patch_nce(wrong, k)


def test_float32_logits_under_autocast():
    q = random_embeddings((2, 32, 16), 9)
    k = random_embeddings((2, 32, 16), 10)
    reference = patch_nce(q, k)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = patch_nce(q.bfloat16(), k.bfloat16())
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, reference, rtol=0.03, atol=0.0)


def test_module_equals_function():
    q, k = random_embeddings((2, 5, 3), 11), random_embeddings((2, 5, 3), 12)
    module = PatchNCELoss(temperature=0.1, query_negatives=False, reduction="none")
    torch.testing.assert_close(module(q, k), patch_nce(q, k, 0.1, False, "none"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"temperature": 0.0}, "temperature: expected a value > 0, got 0.0"),
        ({"reduction": "sum"}, "reduction: expected one of"),
        (
            {"query_negatives": "yes"},
            r"query_negatives: expected one of \(True, False, 'above_target'\), got 'yes'",
        ),
    ],
)
def test_bad_arguments(kwargs, match):
    q = random_embeddings((1, 4, 3), 13)
    with pytest.raises(ValueError, match=match):
        patch_nce(q, q, **kwargs)
    with pytest.raises(ValueError, match=match):
        PatchNCELoss(**kwargs)


def test_bad_shapes():
    q = random_embeddings((1, 4, 3), 14)
    with pytest.raises(ValueError, match=r"query, key: expected two \(B, N, D\) tensors"):
        patch_nce(q, q[:, :3])
    with pytest.raises(ValueError, match="at least N=2 patches"):
        patch_nce(q[:, :1], q[:, :1])


def reference_paired(embeddings, temperature, query_negatives):
    """Both directions with plain autograd and explicit detaching (DESIGN.md steps 4-5)."""
    n = embeddings.shape[-2] // 2
    p, t = embeddings[..., :n, :], embeddings[..., n:, :]

    def one_direction(q, k):
        k = k.detach()
        logits = torch.cat([q @ k.transpose(-1, -2), q @ q.transpose(-1, -2)], -1) / temperature
        eye = torch.eye(n, dtype=torch.bool)
        own = eye if query_negatives else torch.ones_like(eye)
        if query_negatives == "above_target":  # the mask carries no gradient
            own = eye | (q @ q.transpose(-1, -2) <= k @ k.transpose(-1, -2)).detach()
        mask = torch.cat([torch.zeros_like(own), own], -1)
        logits = logits.masked_fill(mask, float("-inf"))
        return torch.logsumexp(logits, -1) - logits.diagonal(dim1=-2, dim2=-1)

    return torch.cat([one_direction(p, t), one_direction(t, p)], -1)


@pytest.mark.parametrize("query_negatives", [True, False, "above_target"])
@pytest.mark.parametrize("normalize", [False, True])
def test_paired_values_and_gradients_match_autograd_reference(query_negatives, normalize):
    g = torch.Generator().manual_seed(20)
    x = torch.randn(2, 3, 10, 6, generator=g, dtype=torch.float64)
    x[0, 1, 4] = 0.0  # an all-zero feature vector normalises to zero
    if not normalize:
        x = F.normalize(x, dim=-1)
    x.requires_grad_()
    weights = torch.rand(2, 3, 10, generator=g, dtype=torch.float64)
    value = paired_patch_nce(x, 0.2, query_negatives, row_weights=weights, normalize=normalize)
    rows = paired_patch_nce(x, 0.2, query_negatives, normalize=normalize)
    y = x / (x.norm(dim=-1, keepdim=True) + 1e-7) if normalize else x
    expected_rows = reference_paired(y, 0.2, query_negatives)
    torch.testing.assert_close(rows, expected_rows)
    expected = (expected_rows * weights).sum()
    torch.testing.assert_close(value, expected)
    (grad,) = torch.autograd.grad(value, x)
    (expected_grad,) = torch.autograd.grad(expected, x)
    torch.testing.assert_close(grad, expected_grad)


def test_paired_rows_are_patch_nce_of_each_direction():
    q, k = random_embeddings((2, 6, 4), 21), random_embeddings((2, 6, 4), 22)
    rows = paired_patch_nce(torch.cat([q, k], 1), 0.1)
    torch.testing.assert_close(rows[:, :6], patch_nce(q, k, 0.1, reduction="none"))
    torch.testing.assert_close(rows[:, 6:], patch_nce(k, q, 0.1, reduction="none"))


def test_paired_gradient_of_a_direction_reaches_its_queries_only():
    q, k = random_embeddings((1, 5, 3), 23), random_embeddings((1, 5, 3), 24)
    x = torch.cat([q, k], 1).requires_grad_()
    paired_patch_nce(x)[:, :5].sum().backward()  # prediction rows: keys are the target's
    assert x.grad[:, :5].abs().sum() > 0
    assert torch.equal(x.grad[:, 5:], torch.zeros_like(x.grad[:, 5:]))


def test_paired_excluded_mask_ignores_padding():
    # Group 1 pads 2 of its 5 patches: its real rows must equal those of the unpadded 3 patches.
    g = torch.Generator().manual_seed(25)
    x = F.normalize(torch.randn(2, 10, 4, generator=g), dim=-1)
    real = (torch.arange(10) % 5) < torch.tensor([5, 3])[:, None]  # (2, 10)
    default = torch.eye(10, dtype=torch.bool)
    excluded = real[:, :, None] & (default | ~real[:, None, :])
    rows = paired_patch_nce(x, 0.1, excluded=excluded)
    unpadded = paired_patch_nce(torch.cat([x[1:, 0:3], x[1:, 5:8]], 1), 0.1)
    torch.testing.assert_close(rows[1, real[1]], unpadded[0])
    torch.testing.assert_close(rows[0], paired_patch_nce(x[:1], 0.1)[0])


def test_paired_bad_shape():
    with pytest.raises(ValueError, match=r"embeddings: expected a \(\.\.\., 2N, D\) tensor"):
        paired_patch_nce(torch.zeros(2, 5, 3))


def test_above_target_query_negatives_between_the_extremes():
    # Queries all alike, keys varied: every query pair is above the keys' (all kept, as True).
    # Queries varied, keys all alike: none is (all dropped, as False).
    varied = random_embeddings((2, 6, 4), 23)
    alike = F.normalize(torch.ones(2, 6, 4) + 0.01 * varied, dim=-1)
    rows = patch_nce(alike, varied, 0.1, "above_target", "none")
    torch.testing.assert_close(rows, patch_nce(alike, varied, 0.1, True, "none"))
    rows = patch_nce(varied, alike, 0.1, "above_target", "none")
    torch.testing.assert_close(rows, patch_nce(varied, alike, 0.1, False, "none"))
    assert not torch.allclose(rows, patch_nce(varied, alike, 0.1, True, "none"))


def test_above_target_stops_repelling_queries_as_varied_as_the_keys():
    # A query pair less alike than its keys is no negative; one more alike is.
    key = F.normalize(torch.tensor([[[1.0, 0.0], [0.8, 0.6], [0.6, 0.8]]]), dim=-1)
    query = F.normalize(torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.1, 1.0]]]), dim=-1)
    # q0.q1 = 0 < 0.8 = k0.k1 and q0.q2 ~ 0.1 < 0.6 = k0.k2: query 0 keeps no query negative;
    # q1.q2 ~ 0.995 > 0.96 = k1.k2: queries 1 and 2 repel each other.
    rows = patch_nce(query, key, 0.1, "above_target", "none")
    without = patch_nce(query, key, 0.1, False, "none")
    assert rows[0, 0] == without[0, 0]
    assert rows[0, 1] > without[0, 1] and rows[0, 2] > without[0, 2]
    expected = loop_patch_nce(query.double(), key.double(), 0.1, "above_target")
    torch.testing.assert_close(rows.double(), expected, rtol=1e-5, atol=1e-5)
