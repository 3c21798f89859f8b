import pytest

from cfl_lightning import demo


@pytest.mark.slow
def test_quick_demo_trains_both_and_writes_figure_and_table(tmp_path, capsys):
    results = demo.main(["--quick", "--output", str(tmp_path)])
    assert set(results) == {"L1", "CFL"}
    for values in results.values():
        assert set(values) == {"L1", "PSNR", "PatchSWD", "Sharpness", "Colourfulness"}
    assert (tmp_path / "comparison.png").stat().st_size > 1000
    table = (tmp_path / "results.md").read_text()
    assert "| L1 |" in table and "| CFL |" in table
    assert str(tmp_path / "comparison.png") in capsys.readouterr().out
