"""The CFL critic's projection heads: one small network per feature layer."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

HEAD_KINDS = ("mlp", "linear", "identity")


def make_critic_head(kind: str, in_channels: int, dim: int = 256) -> nn.Module:
    """Head mapping ``(..., in_channels)`` feature vectors to ``(..., D)`` embeddings.

    ``"mlp"``: ``Linear(C, dim) -> ReLU -> Linear(dim, dim)`` (the paper's); ``"linear"``: one
    ``Linear(C, dim)``; ``"identity"``: no parameters, ``D = C``. Output is not yet normalised.
    """
    if kind == "mlp":
        return nn.Sequential(nn.Linear(in_channels, dim), nn.ReLU(), nn.Linear(dim, dim))
    if kind == "linear":
        return nn.Linear(in_channels, dim)
    if kind == "identity":
        return nn.Identity()
    raise ValueError(f"head: expected one of {HEAD_KINDS}, got {kind!r}")


def l2_normalize(x: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """``x / (||x||_2 + eps)`` along the last dimension."""
    return x / (torch.linalg.vector_norm(x, dim=-1, keepdim=True) + eps)


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype a linear layer on ``x`` computes in: autocast's when it is on, else ``x``'s."""
    if torch.is_autocast_enabled(x.device.type):
        return torch.get_autocast_dtype(x.device.type)
    return x.dtype


class _BatchedHeads(torch.autograd.Function):
    """The critic heads of ``L`` layers as one autograd node, with their gradients written out.

    Inputs: ``L`` feature tensors ``x_l`` ``(B, C_l, M)``, then per layer the first linear layer's
    weight ``(D, C_l)`` and bias ``(D,)``, and for MLP heads the second layer's weight ``(D, D)``
    and bias. Output ``(L, B, M, D)``: ``linear_l(x_l^T)``, for MLP heads followed by ReLU and the
    second layer, run as one batched product for all layers. Computed in autocast's dtype when
    autocast is on (as ``nn.Linear`` would be). Autograd through the same steps records three
    times as many operators (each a kernel on a GPU), mostly the transposes, reshapes and stack
    selections of the backward pass.

    ``param_grad_from``: the parameters' gradients sum over the images ``b >= param_grad_from``
    of the batch only (0: all of them; None: no parameter gradients). The features' gradients
    always come from every image.
    """

    @staticmethod
    def forward(ctx, mlp: bool, layers: int, param_grad_from: int | None, *tensors):  # type: ignore[override]
        xs = tensors[:layers]
        params = tensors[layers:]
        device_type = xs[0].device.type
        dtype = _compute_dtype(xs[0])
        ctx.param_dtypes = [p.dtype for p in params]
        with torch.autocast(device_type=device_type, enabled=False):
            xs = [x if x.dtype == dtype else x.to(dtype) for x in xs]
            params = [p if p.dtype == dtype else p.to(dtype) for p in params]
            w1, b1 = params[:layers], params[layers : 2 * layers]
            hidden = torch.stack(
                [F.linear(x.transpose(1, 2), w, b) for x, w, b in zip(xs, w1, b1)]
            )  # (L, B, M, D)
            ctx.mlp, ctx.layers, ctx.param_grad_from = mlp, layers, param_grad_from
            if not mlp:
                ctx.save_for_backward(*xs, *w1)
                return hidden
            layers_, batch, rows, dim = hidden.shape
            hidden = hidden.relu_().view(layers_, batch * rows, dim)
            w2 = torch.stack(params[2 * layers : 3 * layers])  # (L, D, D)
            b2 = torch.stack(params[3 * layers :])  # (L, D)
            out = torch.baddbmm(b2.unsqueeze(1), hidden, w2.transpose(1, 2))
            ctx.save_for_backward(*xs, *w1, hidden, w2)
            return out.view(layers_, batch, rows, -1)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        layers = ctx.layers
        saved = ctx.saved_tensors
        xs, w1 = saved[:layers], saved[layers : 2 * layers]
        needs = ctx.needs_input_grad[3:]
        with torch.autocast(device_type=grad.device.type, enabled=False):
            grad = grad if grad.dtype == xs[0].dtype else grad.to(xs[0].dtype)
            start = ctx.param_grad_from
            params_needed = start is not None and any(needs[layers:])
            tail: list[torch.Tensor | None] = [None] * (2 * layers if ctx.mlp else 0)
            if ctx.mlp:
                hidden, w2 = saved[2 * layers :]
                g = grad.reshape(hidden.shape[0], hidden.shape[1], -1)  # (L, B*M, D)
                if params_needed:
                    g_p, hidden_p = g, hidden
                    if start:  # rows of images >= start: (L, (B - start) * M, D)
                        first_row = start * xs[0].shape[-1]
                        g_p, hidden_p = g[:, first_row:], hidden[:, first_row:]
                    tail = [
                        *torch.bmm(g_p.transpose(1, 2), hidden_p).unbind(0),  # weights (D, D)
                        *g_p.sum(1).unbind(0),  # biases
                    ]
                grad_hidden = torch.ops.aten.threshold_backward(torch.bmm(g, w2), hidden, 0)
                grad = grad_hidden.view((*grad.shape[:-1], -1))
            grads_x: list[torch.Tensor | None] = []
            grads_w: list[torch.Tensor | None] = []
            grads_b: list[torch.Tensor | None] = []
            for i, (g_l, x, w) in enumerate(zip(grad.unbind(0), xs, w1)):
                # h = x^T W^T + b: dx^T = dh W, dW = sum over (b, m) of dh^T x^T, db = sum of dh.
                grads_x.append(torch.matmul(g_l, w).transpose(1, 2) if needs[i] else None)
                if not params_needed:
                    grads_w.append(None)
                    grads_b.append(None)
                    continue
                if start:
                    g_l, x = g_l[start:], x[start:]
                grads_w.append(torch.einsum("bmd,bcm->dc", g_l, x))
                grads_b.append(g_l.sum((0, 1)))
        grads = [*grads_w, *grads_b, *tail]
        grads = [
            g if g is None or g.dtype == d else g.to(d) for g, d in zip(grads, ctx.param_dtypes)
        ]
        return (None, None, None, *grads_x, *grads)


class CriticHeads(nn.ModuleDict):
    """The critic heads of several layers: ``{layer: make_critic_head(kind, C_layer, dim)}``.

    A ``ModuleDict`` (each head is used alone as ``heads[layer](x)``; parameter names are
    ``<layer>.0.weight`` ... as for a plain ``ModuleDict`` of heads, so checkpoints load either
    way) that can also run every layer's head in a few batched calls: :meth:`embed_all`.
    """

    def __init__(self, kind: str, channels: dict[str, int], dim: int = 256) -> None:
        if kind not in HEAD_KINDS:
            raise ValueError(f"head: expected one of {HEAD_KINDS}, got {kind!r}")
        super().__init__({name: make_critic_head(kind, c, dim) for name, c in channels.items()})
        self.kind = kind
        self.width = max(channels.values()) if kind == "identity" else dim

    def embed_all(
        self, features: Sequence[torch.Tensor], param_grad_from: int | None = 0
    ) -> torch.Tensor:
        """Every layer's head on its feature vectors, stacked: ``L`` tensors ``(B, C_l, M)``
        (feature vectors along the last dimension, layers in this dict's order) -> ``(L, B, M, D)``,
        not normalised. The same values as each head on its own, from one autograd node for all
        layers (see ``_BatchedHeads``). Identity heads pad ``C_l`` with zeros to the widest
        layer's (dot products unchanged).

        ``param_grad_from``: the heads' parameters get gradient only from the images (first
        dimension of the features) from this index on; default 0: all of them; None: none (the
        parameters act as constants). The features get gradient from every image.
        """
        heads = list(self.values())
        if len(features) != len(heads):
            raise ValueError(
                f"features: expected one tensor per layer of {list(self)}, got {len(features)}"
            )
        if self.kind == "identity":
            padded = [F.pad(x, (0, 0, 0, self.width - x.shape[1])) for x in features]
            return torch.stack(padded).transpose(-1, -2)
        if self.kind == "linear":
            params = [h.weight for h in heads] + [h.bias for h in heads]
        else:
            params = [h[0].weight for h in heads] + [h[0].bias for h in heads]
            params += [h[2].weight for h in heads] + [h[2].bias for h in heads]
        if param_grad_from is not None and not 0 <= param_grad_from <= features[0].shape[0]:
            raise ValueError(
                f"param_grad_from: expected None or an image index in [0, "
                f"{features[0].shape[0]}], got {param_grad_from}"
            )
        return _BatchedHeads.apply(
            self.kind == "mlp", len(heads), param_grad_from, *features, *params
        )
