"""The colorization diagnosis: the luminance PSNR against a direct computation, and the script end
to end on a saved (smoke) run (the luminance swap is tested with LuminancePassthrough)."""

import pytest
import torch

from tests.benchmarks.scripts import benchmark_modules


@pytest.fixture(scope="module")
def scripts():
    yield from benchmark_modules("color_luminance", "quality")


def test_luminance_psnr_matches_a_direct_computation(scripts):
    color_luminance, _ = scripts
    grey = torch.zeros(1, 1, 4, 4)
    prediction = torch.full((1, 3, 4, 4), 0.1)  # luminance 0.1: squared error 0.01
    expected = 10 * torch.log10(torch.tensor(4.0 / 0.01))
    torch.testing.assert_close(color_luminance.luminance_psnr(prediction, grey)[0], expected)


@pytest.mark.slow
def test_script_scores_saved_colorization_runs_and_the_grey_reference(scripts, tmp_path):
    color_luminance, quality = scripts
    args = ["--quick", "--tasks", "photo_color", "--recipes", "l1", "--out-dir", str(tmp_path)]
    assert quality.main(args) == 0
    out = tmp_path / "luminance.md"
    smoke = ["--swd-repeats", "1", "--max-test-tiles", "8"]
    assert color_luminance.main([str(tmp_path), *smoke, "--out", str(out)]) == 0
    table = out.read_text()
    rows = [line for line in table.splitlines() if line.startswith("| l1 ")]
    assert len(rows) == 1
    grey = [line for line in table.splitlines() if line.startswith("| grey input")]
    header = next(line for line in table.splitlines() if line.startswith("| recipe"))
    cells = dict(zip(header.split(" | "), grey[0].split(" | ")))
    assert cells["luminance PSNR vs input dB"] == "inf"
    # The grey input already has the input's luminance: both variants score alike.
    for score in ("PatchSWD", "PatchSWD middle band"):
        assert cells[f"{score}, as trained"] == cells[f"{score}, input luminance"]


def test_script_rejects_a_folder_without_colorization_runs(scripts, tmp_path):
    color_luminance, _ = scripts
    with pytest.raises(SystemExit, match="no saved photo_color runs"):
        color_luminance.main([str(tmp_path)])


def test_script_rejects_a_tile_count_below_one(scripts, tmp_path, capsys):
    color_luminance, _ = scripts
    with pytest.raises(SystemExit):
        color_luminance.main([str(tmp_path), "--max-test-tiles", "0"])
    assert "--max-test-tiles: expected a count >= 1, got 0" in capsys.readouterr().err


def test_band_scores_combine_into_the_primary_patch_swd(scripts):
    # The primary PatchSWD is the root mean square of its calibrated bands, finest first.
    color_luminance, _ = scripts
    from cfl_lightning.metrics import quality_metrics

    g = torch.Generator().manual_seed(0)
    target = torch.rand(8, 3, 64, 64, generator=g) * 2 - 1
    blurred = torch.nn.functional.avg_pool2d(target, 3, 1, 1, count_include_pad=False)
    collection = quality_metrics(["patch_swd"], options={"patch_swd": {"num_repeats": 1}})
    collection.update(blurred, target)
    scores = color_luminance.collection_scores(collection)
    bands = [scores[f"patch_swd_band{k}"] for k in range(3)]
    assert "patch_swd_band3" not in scores
    rms = (sum(b * b for b in bands) / 3) ** 0.5
    assert scores["patch_swd"] == pytest.approx(rms, rel=1e-5)
    assert bands[0] > bands[2]  # a 3x3 blur of noise lives in the finest band


@pytest.mark.slow
def test_script_scores_the_chroma_task_with_its_bands(scripts, tmp_path):
    color_luminance, quality = scripts
    args = ["--quick", "--tasks", "photo_color_chroma", "--recipes", "l1", "--out-dir"]
    assert quality.main([*args, str(tmp_path)]) == 0
    with pytest.raises(SystemExit, match="no saved photo_color runs"):
        color_luminance.main([str(tmp_path)])
    out = tmp_path / "bands.md"
    argv = [str(tmp_path), "--task", "photo_color_chroma", "--swd-repeats", "1", "--out", str(out)]
    argv += ["--max-test-tiles", "8"]
    assert color_luminance.main(argv) == 0
    table = out.read_text()
    assert "saved `photo_color_chroma` runs" in table
    header = next(line for line in table.splitlines() if line.startswith("| recipe"))
    assert "PatchSWD finest band, as trained" in header
    assert "PatchSWD low-pass band, input luminance" in header
    assert len([line for line in table.splitlines() if line.startswith("| l1 ")]) == 1
