"""Inference at an input's own size: pad to what the generator needs and crop back, or run it on
overlapping tiles blended without seams. Plain torch functions of any ``generator`` (a callable
from ``(B, C, h, w)`` to ``(B, C', s*h, s*w)``, ``s`` its integer output scale)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

PAD_MODES = ("reflect", "replicate")
Generator = Callable[[torch.Tensor], torch.Tensor]


def size_multiple(generator: nn.Module | Generator) -> int:
    """The multiple that a generator's input height and width must be: its ``divisor`` attribute
    (``UNetGenerator``, ``SPADEGenerator``, ``Pix2PixHDGenerator``, ``ResidualSRGenerator``), 1 for
    generators that declare none. Looks through ``torch.compile`` wrappers."""
    for candidate in (generator, getattr(generator, "_orig_mod", None)):
        divisor = getattr(candidate, "divisor", None)
        if divisor is not None:
            return int(divisor)
    return 1


def pad_to_multiple(
    x: torch.Tensor, multiple: int, mode: str = "reflect"
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad ``(B, C, H, W)`` at the bottom and right to the next multiple of ``multiple``.

    ``mode``: ``"reflect"`` (mirror without repeating the edge pixel; where a side is too short to
    mirror, the edge is replicated instead) or ``"replicate"``. Returns the padded tensor and the
    original ``(H, W)`` for :func:`crop_to`.
    """
    if mode not in PAD_MODES:
        raise ValueError(f"pad_mode: expected one of {PAD_MODES}, got {mode!r}")
    if multiple < 1:
        raise ValueError(f"multiple: expected an integer >= 1, got {multiple}")
    height, width = x.shape[-2:]
    pad_h = (-height) % multiple
    pad_w = (-width) % multiple
    if pad_h == 0 and pad_w == 0:
        return x, (height, width)
    padded = x
    if mode == "reflect":
        # Reflection needs pad < size; mirror as far as possible, replicate the rest.
        reflect_h, reflect_w = min(pad_h, height - 1), min(pad_w, width - 1)
        if reflect_h or reflect_w:
            padded = F.pad(padded.float(), (0, reflect_w, 0, reflect_h), mode="reflect").to(x.dtype)
        pad_h, pad_w = pad_h - reflect_h, pad_w - reflect_w
    if pad_h or pad_w:
        padded = F.pad(padded.float(), (0, pad_w, 0, pad_h), mode="replicate").to(x.dtype)
    return padded, (height, width)


def crop_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The top-left ``height x width`` of ``(..., H, W)``."""
    return x[..., :height, :width]


def _scale_of(output: torch.Tensor, x: torch.Tensor) -> int:
    """The integer factor from the input's size to the output's, the same on both axes."""
    (in_h, in_w), (out_h, out_w) = x.shape[-2:], output.shape[-2:]
    scale = out_h // in_h
    if scale < 1 or out_h != in_h * scale or out_w != in_w * scale:
        raise ValueError(
            f"generator: maps a {in_h}x{in_w} input to a {out_h}x{out_w} output; native-size "
            "prediction needs the same integer scale on both axes"
        )
    return scale


def predict_padded(
    generator: Generator, x: torch.Tensor, multiple: int, pad_mode: str = "reflect"
) -> torch.Tensor:
    """``generator(x)`` for an ``x`` of any size: padded to ``multiple`` (see
    :func:`pad_to_multiple`), run, and the output cropped back to ``scale * (H, W)``."""
    padded, (height, width) = pad_to_multiple(x, multiple, pad_mode)
    output = generator(padded)
    scale = _scale_of(output, padded)
    return crop_to(output, height * scale, width * scale)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``[0, length)`` with at least ``overlap``
    shared pixels between neighbours; the last tile ends at ``length``. One tile at 0 when
    ``length <= tile``."""
    if length <= tile:
        return [0]
    step = tile - overlap
    count = math.ceil((length - tile) / step) + 1
    starts = [min(i * step, length - tile) for i in range(count)]
    return sorted(set(starts))


def blend_ramp(size: int, overlap: int, ramp_start: bool, ramp_end: bool) -> torch.Tensor:
    """1-D blending weights of a tile of ``size`` pixels, ``(size,)`` in ``[0, 1]``.

    On a side shared with a neighbour (``ramp_start``/``ramp_end``), the outer quarter of the
    ``overlap`` gets weight 0 (pixels whose context the tile cut off), the middle half a linear
    ramp to 1, and the rest 1; the ramps of two neighbours overlapping by ``overlap`` sum to 1. A
    side on the image border keeps weight 1 up to the edge.
    """
    weight = torch.ones(size)
    if overlap <= 0:
        return weight
    distance = torch.arange(size, dtype=torch.float32) + 0.5
    ramp = ((distance - overlap / 4) / (overlap / 2)).clamp(0.0, 1.0)
    if ramp_start:
        weight = torch.minimum(weight, ramp)
    if ramp_end:
        weight = torch.minimum(weight, ramp.flip(0))
    return weight


def predict_tiled(
    generator: Generator,
    x: torch.Tensor,
    tile_size: int,
    tile_overlap: int,
    multiple: int = 1,
    pad_mode: str = "reflect",
) -> torch.Tensor:
    """``generator(x)`` computed on overlapping ``tile_size`` tiles of ``x`` (in input pixels),
    each padded to ``multiple`` as needed, and blended with :func:`blend_ramp` weights. Memory:
    one tile's activations plus the output and one weight plane.

    With ``tile_overlap >= 4 * r``, where ``r`` is the generator's receptive-field radius in input
    pixels, every output pixel comes only from tiles that saw all of its context, so the result
    equals whole-image inference up to float rounding; a smaller overlap blends small border
    differences smoothly. Generators whose normalisation uses statistics of the image being
    processed (instance norm, e.g. ``Pix2PixHDGenerator``'s default, or batch norm in training
    mode) normalise each tile by its own statistics: tiles then differ from whole-image inference
    (blended without seams, but not equal). Batch norm in eval mode (running statistics), as in
    the default ``SPADEGenerator`` and ``UNetGenerator``, is tile-invariant; receptive fields as
    large as the image (deep U-Nets) still make tiles differ.
    """
    if tile_size < 1:
        raise ValueError(f"tile_size: expected an integer >= 1, got {tile_size}")
    if not 0 <= tile_overlap < tile_size:
        raise ValueError(
            f"tile_overlap: expected an integer in [0, tile_size={tile_size}), got {tile_overlap}"
        )
    if x.dim() != 4:
        raise ValueError(f"x: expected a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
    height, width = x.shape[-2:]
    rows = tile_starts(height, tile_size, tile_overlap)
    cols = tile_starts(width, tile_size, tile_overlap)
    output: torch.Tensor | None = None
    weight_sum: torch.Tensor | None = None
    scale = 1
    for top in rows:
        for left in cols:
            tile = x[..., top : top + tile_size, left : left + tile_size]
            prediction = predict_padded(generator, tile, multiple, pad_mode).float()
            if output is None:
                scale = _scale_of(prediction, tile)
                output = prediction.new_zeros(
                    (x.shape[0], prediction.shape[1], height * scale, width * scale)
                )
                weight_sum = prediction.new_zeros((1, 1, height * scale, width * scale))
            assert weight_sum is not None
            tile_h, tile_w = prediction.shape[-2:]
            overlap = tile_overlap * scale
            weight = torch.outer(
                blend_ramp(tile_h, overlap, top > 0, top + tile_size < height),
                blend_ramp(tile_w, overlap, left > 0, left + tile_size < width),
            ).to(prediction.device)
            rows_out = slice(top * scale, top * scale + tile_h)
            cols_out = slice(left * scale, left * scale + tile_w)
            output[..., rows_out, cols_out] += prediction * weight
            weight_sum[..., rows_out, cols_out] += weight
    assert output is not None and weight_sum is not None
    return output / weight_sum


def predict_native(
    generator: Generator,
    x: torch.Tensor,
    multiple: int = 1,
    tile_size: int | None = None,
    tile_overlap: int = 32,
    pad_mode: str = "reflect",
) -> torch.Tensor:
    """The generator's prediction for ``x`` ``(B, C, H, W)`` at its own size: whole (padded and
    cropped, see :func:`predict_padded`) when ``tile_size`` is None or ``x`` fits in one tile,
    else in overlapping tiles (:func:`predict_tiled`). Returns ``(B, C', s*H, s*W)`` float32."""
    height, width = x.shape[-2:]
    if tile_size is None or (height <= tile_size and width <= tile_size):
        return predict_padded(generator, x, multiple, pad_mode).float()
    return predict_tiled(generator, x, tile_size, tile_overlap, multiple, pad_mode)
