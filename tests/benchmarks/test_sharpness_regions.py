"""The sharpness breakdown by region: masks that partition the image, shares that add up to the
benchmark's sharpness ratio, and the script end to end on a saved (smoke) run."""

import pytest
import torch

from cfl_lightning.metrics import SharpnessRatio
from tests.benchmarks.scripts import benchmark_modules


@pytest.fixture(scope="module")
def scripts():
    yield from benchmark_modules("sharpness_regions", "quality")


def test_regions_partition_the_grid_and_the_edge_band_is_one_pixel_each_side(scripts):
    regions, _ = scripts
    labels = torch.zeros(2, 6, 8, dtype=torch.long)
    labels[:, :, 4:] = 2  # a vertical outline between columns 3 and 4
    masks = regions.region_masks(labels, num_classes=3)  # edges, class 0, class 1, class 2
    assert masks.shape == (4, 2, 5, 7)
    assert torch.equal(masks.sum(0), torch.ones(2, 5, 7, dtype=torch.long))
    edges = masks[0, 0, 0].nonzero().flatten().tolist()
    assert edges == [2, 3, 4, 5]  # the two pixels of the change, dilated by one
    assert masks[1, 0, 0].nonzero().flatten().tolist() == [0, 1]
    assert not masks[2].any()  # class 1 is absent
    assert masks[3, 0, 0].nonzero().flatten().tolist() == [6]
    assert regions.region_names(6)[:3] == ["edges", "background", "stripes"]


def test_shares_of_the_excess_add_up_to_the_sharpness_ratio(scripts):
    regions, _ = scripts
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (3, 1, 4, 4), generator=g)
    labels = torch.nn.functional.interpolate(labels.float(), size=16).long()[:, 0]
    ramp = torch.linspace(-0.3, 0.3, 16).expand(3, 3, 16, 16)
    target = ramp + 0.3 * (labels[:, None] - 1)  # smooth inside each region, steps between
    prediction = (target + 0.2 * torch.randn(3, 3, 16, 16, generator=g)).clamp(-1, 1)
    masks = regions.region_masks(labels, num_classes=3)
    result = regions.decompose(*regions.region_sums(prediction, target, masks))
    metric = SharpnessRatio()
    metric.update(prediction, target)
    assert result["sharpness"] == pytest.approx(float(metric.compute()), rel=1e-5)
    assert sum(result["excess"]) == pytest.approx(result["sharpness"] - 1, abs=1e-5)
    assert sum(result["area"]) == pytest.approx(1.0)
    assert sum(result["target_share"]) == pytest.approx(1.0)
    # The prediction is noisier than the target everywhere: every region's ratio is above 1.
    assert min(result["ratio"]) > 1


def test_hole_region_is_every_grid_pixel_whose_differences_read_a_missing_pixel(scripts):
    regions, _ = scripts
    mask = torch.zeros(2, 1, 6, 8)
    mask[0, 0, 2, 3] = 1.0  # one missing pixel in the first image, none in the second
    hole, known = regions.hole_masks(mask)
    assert hole.shape == known.shape == (2, 5, 7)
    assert torch.equal(hole ^ known, torch.ones(2, 5, 7, dtype=torch.bool))
    # Pixel (2, 3) is read by the differences at (2, 3), (1, 3) (down) and (2, 2) (right) only.
    assert hole[0].nonzero().tolist() == [[1, 3], [2, 2], [2, 3]]
    assert not hole[1].any()
    assert regions.task_region_names("photo_inpaint") == ["hole", "known"]


@pytest.mark.slow
def test_script_splits_a_saved_inpainting_run_into_the_fill_and_the_kept_pixels(scripts, tmp_path):
    regions, quality = scripts
    args = ["--tasks", "photo_inpaint", "--recipes", "l1", "--out-dir", str(tmp_path)]
    # Not --quick, which scores 8 of the test tiles only.
    args += ["--steps", "3", "--batch-size", "2", "--seeds", "0", "--test-photos", "chelsea"]
    assert quality.main(args) == 0
    out = tmp_path / "regions.md"
    assert regions.main([str(tmp_path), "--tasks", "photo_inpaint", "--out", str(out)]) == 0
    table = out.read_text()
    assert "`hole` = grid pixels whose forward differences read a missing pixel" in table
    assert "| recipe | seeds | sharpness | hole | known |" in table
    ratios, excess = [line for line in table.splitlines() if line.startswith("| l1 ")]
    # The known pixels are kept exactly: their ratio is 1 and all of the excess is the hole's.
    total, hole, known = (float(cell) for cell in ratios.split("|")[3:6])
    assert known == 1.0 and hole != 1.0
    assert (hole - 1) * (total - 1) > 0  # the fill moves the whole tile's ratio its own way
    assert excess.split("|")[5].strip() == "+0.00"


@pytest.mark.slow
def test_script_splits_a_saved_textures_run(scripts, tmp_path):
    regions, quality = scripts
    args = ["--quick", "--tasks", "textures", "--recipes", "l1", "--out-dir", str(tmp_path)]
    assert quality.main(args) == 0
    out = tmp_path / "regions.md"
    # The script predicts the held-out set again and stops if its sharpness is not the record's.
    assert regions.main([str(tmp_path), "--tasks", "textures", "--out", str(out)]) == 0
    table = out.read_text()
    assert f"python benchmarks/sharpness_regions.py {tmp_path} --tasks textures --out" in table
    rows = [line for line in table.splitlines() if line.startswith("| l1 ")]
    assert len(rows) == 2  # one row in each of the two tables
    assert "flat target" in rows[0]  # the background's target has no gradient


def test_script_rejects_a_folder_without_textures_runs(scripts, tmp_path):
    regions, _ = scripts
    with pytest.raises(SystemExit, match="no saved runs"):
        regions.main([str(tmp_path)])
