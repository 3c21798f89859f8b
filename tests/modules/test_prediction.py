import itertools

import pytest
import torch
from torch import nn

from cfl_lightning.modules.prediction import (
    blend_ramp,
    pad_to_multiple,
    predict_native,
    predict_padded,
    predict_tiled,
    size_multiple,
    tile_starts,
)
from cfl_lightning.networks import Pix2PixHDGenerator, ResidualSRGenerator, UNetGenerator

# Tiled and whole-image inference of a generator without image statistics agree to float rounding
# when tile_overlap >= 4 x its receptive-field radius (here about 6 low-resolution pixels).
TILE_TOLERANCE = 1e-5


def small_sr(scale: int = 2) -> nn.Module:
    torch.manual_seed(0)
    generator = ResidualSRGenerator(scale, nf=8, n_blocks=1).eval()
    with torch.no_grad():  # a visible residual, not the near-zero initial one
        generator.tail.weight.mul_(100)
    return generator


def test_pad_to_multiple_reflects_and_crop_restores():
    x = torch.arange(2 * 5 * 7, dtype=torch.float32).view(1, 2, 5, 7)
    padded, (height, width) = pad_to_multiple(x, 4)
    assert padded.shape == (1, 2, 8, 8) and (height, width) == (5, 7)
    assert torch.equal(padded[..., :5, :7], x)
    # Reflection without repeating the edge: row 5 mirrors row 3, column 7 mirrors column 5.
    assert torch.equal(padded[..., 5, :7], x[..., 3, :])
    assert torch.equal(padded[..., :5, 7], x[..., :, 5])
    replicated, _ = pad_to_multiple(x, 4, "replicate")
    assert torch.equal(replicated[..., 7, :7], x[..., 4, :])


def test_pad_to_multiple_replicates_where_the_image_is_too_small_to_mirror():
    x = torch.rand(1, 3, 2, 3)
    padded, _ = pad_to_multiple(x, 8)
    assert padded.shape == (1, 3, 8, 8)
    assert torch.equal(padded[..., :2, :3], x)
    assert torch.equal(padded[..., 7, :3], padded[..., 2, :3])  # replicated beyond the mirror


def test_pad_mode_is_checked():
    with pytest.raises(ValueError, match="pad_mode: expected one of"):
        pad_to_multiple(torch.rand(1, 3, 5, 5), 4, "zeros")


def test_generators_declare_their_size_multiple():
    assert size_multiple(UNetGenerator(3, num_downs=3, ngf=4)) == 8
    assert size_multiple(ResidualSRGenerator(2, nf=4, n_blocks=1)) == 1
    assert size_multiple(nn.Conv2d(3, 3, 3, padding=1)) == 1


def test_predict_padded_keeps_the_input_size_and_the_scale():
    torch.manual_seed(0)
    unet = UNetGenerator(3, num_downs=3, ngf=4).eval()
    x = torch.rand(1, 3, 45, 70) * 2 - 1
    assert predict_padded(unet, x, size_multiple(unet)).shape == (1, 3, 45, 70)
    sr = small_sr(scale=4)
    y = torch.rand(2, 3, 23, 31) * 2 - 1
    out = predict_padded(sr, y, 1)
    assert out.shape == (2, 3, 92, 124)
    assert torch.equal(out, sr(y))  # nothing to pad: exactly the generator's output


def test_predict_padded_rejects_a_generator_with_uneven_scales():
    def squash(x):
        return x[..., ::2, :]

    with pytest.raises(ValueError, match="same integer scale on both axes"):
        predict_padded(squash, torch.rand(1, 3, 8, 8), 1)


def test_tile_starts_cover_the_length_with_the_overlap():
    for length, tile, overlap in [
        (100, 32, 8),
        (33, 32, 4),
        (32, 32, 4),
        (10, 32, 4),
        (97, 40, 39),
    ]:
        starts = tile_starts(length, tile, overlap)
        covered = torch.zeros(length, dtype=torch.bool)
        for start in starts:
            covered[start : start + tile] = True
        assert covered.all()
        assert starts[0] == 0 and starts[-1] + min(tile, length) == length
        for a, b in itertools.pairwise(starts):
            assert a + tile - b >= overlap


def test_blend_ramps_of_neighbours_sum_to_one_over_the_overlap():
    size, overlap = 48, 16
    left = blend_ramp(size, overlap, ramp_start=False, ramp_end=True)
    right = blend_ramp(size, overlap, ramp_start=True, ramp_end=False)
    shared = left[-overlap:] + right[:overlap]
    assert torch.allclose(shared, torch.ones(overlap))
    assert left[: size - overlap].eq(1).all()
    # The outer quarter of the overlap, whose context the tile lacks, gets no weight.
    assert right[: overlap // 4].eq(0).all() and left[-(overlap // 4) :].eq(0).all()


def test_tiled_equals_whole_image_inference_for_a_generator_without_image_statistics():
    sr = small_sr(scale=2)
    x = torch.rand(1, 3, 70, 45) * 2 - 1
    with torch.no_grad():
        whole = sr(x)
        tiled = predict_tiled(sr, x, tile_size=40, tile_overlap=24)
    assert tiled.shape == whole.shape == (1, 3, 140, 90)
    assert (tiled - whole).abs().max() < TILE_TOLERANCE


def test_tiles_are_padded_to_the_generators_multiple():
    torch.manual_seed(0)
    unet = UNetGenerator(3, num_downs=2, ngf=4, norm="none").eval()
    x = torch.rand(1, 3, 37, 50) * 2 - 1
    with torch.no_grad():
        out = predict_native(unet, x, size_multiple(unet), tile_size=21, tile_overlap=8)
    assert out.shape == (1, 3, 37, 50) and torch.isfinite(out).all()


def test_blending_a_constant_generator_gives_the_constant_everywhere():
    def constant(x):
        return torch.full((x.shape[0], 3, 3 * x.shape[-2], 3 * x.shape[-1]), 0.25)

    out = predict_tiled(constant, torch.rand(1, 3, 50, 61), tile_size=16, tile_overlap=6)
    assert out.shape == (1, 3, 150, 183)
    assert torch.allclose(out, torch.full_like(out, 0.25))


def test_instance_norm_makes_tiles_differ_from_whole_image_inference():
    # Documented limitation: each tile is normalised by its own statistics.
    torch.manual_seed(0)
    generator = Pix2PixHDGenerator(3, ngf=4, n_downsampling=1, n_blocks=1, norm="instance").eval()
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    x[..., :32] = x[..., :32] * 0.1  # very different statistics in the two halves
    with torch.no_grad():
        whole = generator(x)
        tiled = predict_tiled(generator, x, tile_size=40, tile_overlap=16, multiple=2)
    assert (tiled - whole).abs().max() > 100 * TILE_TOLERANCE


def test_whole_image_when_no_tile_size_or_the_input_fits():
    sr = small_sr()
    x = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        assert torch.equal(predict_native(sr, x), sr(x))
        assert torch.equal(predict_native(sr, x, tile_size=32, tile_overlap=8), sr(x))


def test_tile_settings_are_checked():
    with pytest.raises(ValueError, match="tile_overlap: expected an integer in"):
        predict_tiled(small_sr(), torch.rand(1, 3, 40, 40), tile_size=16, tile_overlap=16)
    with pytest.raises(ValueError, match="tile_size: expected an integer >= 1"):
        predict_tiled(small_sr(), torch.rand(1, 3, 40, 40), tile_size=0, tile_overlap=0)
