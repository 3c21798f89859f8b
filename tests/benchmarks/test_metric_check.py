"""The metric check in its quick form (tables written, floor and every ladder present) and the
distortion functions it applies (each does what its name and strength say)."""

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from tests.benchmarks.scripts import benchmark_modules


@pytest.fixture(scope="module")
def modules():
    yield from benchmark_modules("metric_check", "distortions")


def images(count: int = 2, size: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    smooth = torch.nn.functional.interpolate(
        torch.rand(count, 3, 4, 4, generator=g), size=(size, size), mode="bilinear"
    )
    return (smooth * 1.6 - 0.8).contiguous()  # inside (-1, 1): no clipping by the distortions


def test_quick_run_writes_floor_every_ladder_and_verdicts(modules, tmp_path, capsys):
    metric_check, distortions = modules
    out = tmp_path / "check.md"
    tables = metric_check.main(["--quick", "--out", str(out)])
    text = out.read_text()
    assert text.strip() in capsys.readouterr().out
    assert set(tables) == {"textures", "photo_sr"}
    for task, title in (("textures", "Synthetic textures"), ("photo_sr", "Photo SR")):
        section = text.split(f"## {title}")[1].split("\n## ")[0]
        assert "4 targets" in section.splitlines()[0]
        values_table, rest = section.split("| metric |")
        assert values_table.count("| **floor** |") == 1
        for name, _, _, levels in distortions.LADDERS:
            for level in levels:
                assert values_table.count(f"| {name}@{level:g} |") == 1
        levels_table = rest.split("per pyramid level")[1]  # floor + strongest levels, per level
        assert "| **floor** |" in levels_table and "level 1 (/ floor)" in levels_table
        for name, _, _, levels in distortions.LADDERS:
            assert f"| {name}@{levels[-1]:g} |" in levels_table
        header = next(line for line in section.splitlines() if line.startswith("| distortion"))
        for column in ("PatchSWD (primary", "PatchSWD per-set", "PSNR", "SSIM", "sharpness"):
            assert column in header
        rows, verdicts = tables[task]
        assert next(iter(rows)) == "floor" and len(rows) == 1 + 3 * len(distortions.LADDERS)
        for metric in metric_check.OFFLINE_METRICS:
            assert f"| {metric} |" in section
            assert set(verdicts[metric]["ratios"]) == {name for name, *_ in distortions.LADDERS}
        for metric in ("fid", "kid", "lpips"):
            assert f"| {metric} | n/a, needs pretrained weights |" in section
    # Scores come from the package's metrics: a clean copy scores 0, the floor does not.
    assert rows["floor"]["patch_swd"] > 0
    assert metric_check.score(images(), images())["patch_swd"] == 0.0


def test_verdict_rule(modules):
    metric_check, distortions = modules
    good = {f"{name}@{level:g}": 10.0 * (i + 1) for name, _, _, levels in distortions.LADDERS
            for i, level in enumerate(levels)}  # fmt: skip
    rows = {"floor": 5.0, **good}
    metrics = metric_check.OFFLINE_METRICS
    table = {row: dict.fromkeys(metrics, value) for row, value in rows.items()}
    result = metric_check.verdicts(table)["patch_swd"]
    assert result["passed"] and result["ratios"]["blur"] == pytest.approx(30 / 5)
    table["blur@1"]["patch_swd"] = 35.0  # above the strongest level: not monotone
    for level, value in (("90", 4.0), ("50", 8.0), ("20", 14.0)):  # monotone, but under 3x
        table[f"jpeg@{level}"]["patch_swd"] = value
    result = metric_check.verdicts(table)["patch_swd"]
    assert result["not_monotone"] == ["blur"] and result["below_floor_factor"] == ["jpeg"]
    assert not result["passed"]
    # Only the strongest levels scored (--strongest-only): ratios, but no monotonicity verdict.
    kept = {"floor", *(f"{name}@{levels[-1]:g}" for name, _, _, levels in distortions.LADDERS)}
    strongest = {row: values for row, values in table.items() if row in kept}
    result = metric_check.verdicts(strongest)["patch_swd"]
    assert result["monotone"] is None and result["passed"] is None
    assert result["below_floor_factor"] == ["jpeg"]
    assert metric_check.badness("psnr", 20.0) == pytest.approx(0.01)
    assert metric_check.badness("sharpness", 0.5) == pytest.approx(math.log(2))
    assert metric_check.badness("colorfulness", 0.0) == math.inf


def test_blur(modules):
    _, distortions = modules
    x = images()
    assert torch.equal(distortions.gaussian_blur(x, 0.0), x)
    blurred = distortions.gaussian_blur(x, 1.0)
    # An impulse spreads into the normalised Gaussian of the stated sigma.
    impulse = torch.zeros(1, 3, 15, 15)
    impulse[..., 7, 7] = 1.0
    spread = distortions.gaussian_blur(impulse, 1.0)[0, 0, 7]
    offsets = torch.arange(-7.0, 8.0)
    expected = torch.exp(-(offsets**2) / 2) * (offsets.abs() <= 3)  # 2 * ceil(3 sigma) + 1 taps
    expected = expected / expected.sum()
    torch.testing.assert_close(spread / spread.sum(), expected, atol=1e-4, rtol=1e-3)
    assert blurred.shape == x.shape and not torch.equal(blurred, x)


def test_noise_has_the_stated_sigma_and_is_seeded(modules):
    _, distortions = modules
    flat = torch.zeros(4, 3, 32, 32)
    noisy = distortions.gaussian_noise(flat, 0.05, seed=3)
    assert noisy.std().item() == pytest.approx(0.05, rel=0.05)
    assert torch.equal(noisy, distortions.gaussian_noise(flat, 0.05, seed=3))
    torch.testing.assert_close(distortions.gaussian_noise(flat, 0.1, seed=3), 2 * noisy)


def test_jpeg_changes_the_image_more_at_lower_quality_like_pil(modules):
    _, distortions = modules
    x = images(1)
    errors = [(distortions.jpeg(x, q) - x).abs().mean().item() for q in (90, 50, 20)]
    assert 0 < errors[0] < errors[1] < errors[2]
    array = ((x[0].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=50)
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    expected = torch.from_numpy(decoded.copy()).permute(2, 0, 1).float() / 127.5 - 1
    torch.testing.assert_close(distortions.jpeg(x, 50)[0], expected)
    with pytest.raises(ValueError, match="quality: expected an int in \\[1, 95\\], got 0"):
        distortions.jpeg(x, 0)


def test_desaturation(modules):
    _, distortions = modules
    x = images()
    grey = distortions.desaturate(x, 1.0)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    luma = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    torch.testing.assert_close(grey[:, 0], luma)
    torch.testing.assert_close(distortions.desaturate(x, 0.5), (x + grey) / 2)
    torch.testing.assert_close(distortions.desaturate(x, 0.0), x)


def test_checkerboard_has_the_stated_amplitude_and_period_2(modules):
    _, distortions = modules
    x = images()
    added = distortions.checkerboard(x, 0.05) - x
    torch.testing.assert_close(added.abs(), torch.full_like(x, 0.05))
    assert torch.all(added[..., 0, 0] > 0) and torch.all(added[..., 0, 1] < 0)
    torch.testing.assert_close(added[..., 1:, 1:], added[..., :-1, :-1])  # diagonal repeats
    torch.testing.assert_close(added[..., :, 1:], -added[..., :, :-1])  # neighbours alternate


def test_colour_cast(modules):
    _, distortions = modules
    x = images()
    shifted = distortions.colour_cast(x, 0.1) - x
    torch.testing.assert_close(shifted[:, 0], torch.full_like(x[:, 0], 0.1))
    torch.testing.assert_close(shifted[:, 1], torch.zeros_like(x[:, 1]))
    torch.testing.assert_close(shifted[:, 2], torch.full_like(x[:, 2], -0.1))
    with pytest.raises(ValueError, match=r"images: expected a \(B, 3, H, W\) tensor"):
        distortions.colour_cast(x[:, :1], 0.1)


def test_test_photos_adds_a_spare_photograph(modules, tmp_path):
    metric_check, _ = modules
    clean, other = metric_check.photo_targets(200, tmp_path, ["chelsea", "motorcycle_left"])
    names = {p.name.rsplit("_", 2)[0] for p in (tmp_path / "test").glob("*.png")}
    assert names == {"chelsea", "motorcycle_left"}
    # chelsea 300x451 -> 4x7 tiles; motorcycle 500x741 -> 384x569 -> 6x8 tiles; 76 in all.
    assert clean.shape == other.shape == (38, 3, 64, 64)
    assert clean.min() >= -1 and clean.max() <= 1


def test_training_photographs_cannot_be_test_photos(tmp_path):
    scripts = benchmark_modules("quality_tasks")
    quality_tasks = next(scripts)
    try:
        with pytest.raises(ValueError, match=r"test_photos: \['astronaut'\] are training"):
            quality_tasks.write_photo_tiles(tmp_path, test_photos=["astronaut"])
    finally:
        scripts.close()


def test_photo_files_are_tiled_beside_scikit_image_photographs(modules, tmp_path):
    metric_check, _ = modules
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (200, 130, 3), dtype=np.uint8)  # 3 x 2 tiles, no downscaling
    Image.fromarray(photo).save(tmp_path / "street.png")
    root = tmp_path / "tiles"
    clean, other = metric_check.photo_targets(200, root, ["chelsea", str(tmp_path / "street.png")])
    names = sorted(p.name for p in (root / "test").glob("street_*.png"))
    assert names == [f"street_{top:04d}_{left:04d}.png" for top in (0, 64, 128) for left in (0, 64)]
    tile = np.asarray(Image.open(root / "test" / "street_0064_0064.png"))
    np.testing.assert_array_equal(tile, photo[64:128, 64:128])  # the file's pixels, unchanged
    assert clean.shape == other.shape == (17, 3, 64, 64)  # chelsea's 28 tiles and these 6
    Image.fromarray(photo[..., 0]).save(tmp_path / "grey.png")
    with pytest.raises(
        ValueError, match=r"photo '.*grey.png': expected an RGB photograph, got mode L"
    ):
        metric_check.photo_targets(4, tmp_path / "t2", [str(tmp_path / "grey.png")])
    with pytest.raises(FileNotFoundError, match=r"photo '.*absent.jpg': no such image file"):
        metric_check.photo_targets(4, tmp_path / "t3", [str(tmp_path / "absent.jpg")])
    (tmp_path / "copy").mkdir()
    Image.fromarray(photo).save(tmp_path / "copy" / "street.jpg")
    with pytest.raises(ValueError, match=r"test_photos: \['street'\] named twice"):
        metric_check.photo_targets(
            4,
            tmp_path / "t4",
            [str(tmp_path / "street.png"), str(tmp_path / "copy" / "street.jpg")],
        )


def test_quick_run_with_photo_files_names_them_in_the_report(modules, tmp_path):
    metric_check, _ = modules
    photo = np.random.default_rng(1).integers(0, 256, (128, 192, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "harbour.jpg")
    out = tmp_path / "check.md"
    argv = ["--quick", "--tasks", "photo_sr", "--out", str(out), "--strongest-only"]
    metric_check.main([*argv, "--photo-files", str(tmp_path / "harbour.jpg")])
    assert "## Photo SR targets (64x64 tiles of chelsea, coffee and harbour): 4 targets" in (
        out.read_text()
    )
