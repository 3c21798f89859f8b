import math

import pytest
import torch
import torch.nn.functional as F

from cfl_lightning.losses import PatchNCELoss, patch_nce


def loop_patch_nce(query, key, temperature, query_negatives):
    """Independent per-patch implementation of DESIGN.md step 4 (plain Python loops)."""
    batch, n, _ = query.shape
    out = torch.zeros(batch, n, dtype=torch.float64)
    for b in range(batch):
        for i in range(n):
            logits = [float(query[b, i] @ key[b, i])]
            logits += [float(query[b, i] @ key[b, j]) for j in range(n) if j != i]
            if query_negatives:
                logits += [float(query[b, i] @ query[b, j]) for j in range(n) if j != i]
            scaled = [v / temperature for v in logits]
            top = max(scaled)
            log_sum = top + math.log(sum(math.exp(v - top) for v in scaled))
            out[b, i] = log_sum - scaled[0]
    return out


def random_embeddings(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(shape, generator=g), dim=-1)


@pytest.mark.parametrize("query_negatives", [True, False])
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
    for query_negatives in (True, False):
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
