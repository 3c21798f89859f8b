"""The quality benchmark's target checks (issue 13): ratios per seed, margins, SR's PSNR rule."""

import pytest

from tests.benchmarks.scripts import benchmark_modules


@pytest.fixture(scope="module")
def report():
    yield from benchmark_modules("quality_report")


def run(report, task, recipe, seed, swd, sharpness=1.0, colorfulness=1.0, psnr=30.0):
    record = {key: 0.0 for key, _, _ in report.COLUMNS}
    record.update(task=task, recipe=recipe, seed=seed, settings=recipe)
    record.update(patch_swd=swd, sharpness=sharpness, colorfulness=colorfulness, psnr=psnr)
    return record


def test_targets_per_task_with_margins_and_seed_rule(report):
    runs = []
    for seed, (cfl_swd, cfl_psnr) in enumerate(((4.0, 29.5), (5.0, 28.0))):
        for task in ("textures", "photo_sr"):
            runs += [
                run(report, task, "l1", seed, 10.0, sharpness=0.3, psnr=31.0),
                run(report, task, "vgg", seed, 5.0, psnr=30.0),
                run(report, task, "cfl", seed, cfl_swd, sharpness=1.3, psnr=cfl_psnr),
            ]
    checks = {(c["task"], c["target"]): c for c in report.check_targets(runs)}
    assert len(checks) == 4 + 5  # SR adds the PSNR rule
    vs_l1 = checks[("textures", "PatchSWD cfl / l1 <= 0.6")]
    assert vs_l1["met"] is True and vs_l1["margin"] == pytest.approx(0.6 - 0.45)
    vs_vgg = checks[("photo_sr", "PatchSWD cfl / vgg <= 0.85")]
    # per-seed ratios 0.8 and 1.0: seed 1 misses, the mean misses by 0.05
    assert vs_vgg["met"] is False and vs_vgg["margin"] == pytest.approx(0.85 - 0.9)
    assert vs_vgg["measured"] == "0.90 (seeds 0.80-1.00)"
    sharp = checks[("textures", "cfl sharpness ratio in [0.8, 1.25]")]
    assert sharp["met"] is False and sharp["margin"] == pytest.approx(1.25 - 1.3)
    psnr = checks[("photo_sr", "PSNR vgg - cfl <= 1 dB")]
    # drops 0.5 and 2.0 dB
    assert psnr["met"] is False and psnr["margin"] == pytest.approx(1.0 - 1.25)
    table = report.targets_table(list(checks.values()))
    assert (
        "| photo_sr | PSNR vgg - cfl <= 1 dB | 1.25 (seeds 0.50-2.00) | **-0.25** | **no** |"
        in table
    )
    one_seed = report.check_targets([r for r in runs if r["seed"] == 0])
    assert {c["met"] for c in one_seed} == {None}  # one seed: nothing claimed either way
    assert not report.check_targets([r for r in runs if r["recipe"] != "vgg"])
