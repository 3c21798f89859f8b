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


def test_script_scores_saved_colorization_runs_and_the_grey_reference(scripts, tmp_path):
    color_luminance, quality = scripts
    args = ["--quick", "--tasks", "photo_color", "--recipes", "l1", "--out-dir", str(tmp_path)]
    assert quality.main(args) == 0
    out = tmp_path / "luminance.md"
    assert color_luminance.main([str(tmp_path), "--swd-repeats", "1", "--out", str(out)]) == 0
    table = out.read_text()
    rows = [line for line in table.splitlines() if line.startswith("| l1 ")]
    assert len(rows) == 1
    grey = [line for line in table.splitlines() if line.startswith("| grey input")]
    cells = grey[0].split(" | ")
    assert cells[1] == "inf"
    assert cells[2] == cells[6]  # the grey input already has the input's luminance


def test_script_rejects_a_folder_without_colorization_runs(scripts, tmp_path):
    color_luminance, _ = scripts
    with pytest.raises(SystemExit, match="no saved photo_color runs"):
        color_luminance.main([str(tmp_path)])
