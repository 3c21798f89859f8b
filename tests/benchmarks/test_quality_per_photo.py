"""Per-photograph scores of saved photo runs: tiles grouped by photograph, the whole set repeating
the benchmark's own scores, differences to a reference recipe, and errors naming the bad run."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.benchmarks.scripts import benchmark_modules


@pytest.fixture(scope="module")
def scripts():
    yield from benchmark_modules("quality", "quality_per_photo", "quality_tasks")


def _save_photos(folder):
    """A flat grey photograph (a low-res copy predicts it almost exactly) and one of noise (not
    predictable from a 4x smaller copy), 64x128 pixels: two test tiles each."""
    flat = np.full((64, 128, 3), 128, dtype=np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, (64, 128, 3), dtype=np.uint8)
    Image.fromarray(flat).save(folder / "flat.png")
    Image.fromarray(noise).save(folder / "noisy.png")
    return [str(folder / "flat.png"), str(folder / "noisy.png")]


@pytest.mark.slow
def test_scores_per_photograph_and_the_whole_set_as_the_benchmark(scripts, tmp_path):
    quality, per_photo, _ = scripts
    files = _save_photos(tmp_path)
    out = tmp_path / "q"
    args = ["--tasks", "photo_sr", "--recipes", "l1", "vgg", "--out-dir", str(out)]
    args += ["--test-photos", "chelsea", "--photo-files", *files, "--seeds", "0"]
    # Not --quick, which scores 8 of the test tiles only.
    small = ["--steps", "3", "--batch-size", "2", "--json", str(tmp_path / "q.json")]
    assert quality.main([*args, *small]) == 0
    records = {r["recipe"]: r for r in json.loads((tmp_path / "q.json").read_text())["runs"]}
    saved = sorted((out / "runs" / "main").glob("*.json"))
    assert len(saved) == 2

    md, scores, figure = tmp_path / "per_photo.md", tmp_path / "per_photo.json", tmp_path / "f.png"
    options = ["--tasks", "photo_sr", "--reference", "l1", "--out", str(md), "--json", str(scores)]
    options += ["--figure", str(figure), "--figure-photo", "noisy", "--metrics", "psnr"]
    options += ["sharpness", "colorfulness", "tone_share", "tone_rms"]
    assert per_photo.main([str(out), *options]) == 0
    runs = {r["recipe"]: r["per_photo"] for r in json.loads(scores.read_text())}
    assert set(runs) == {"l1", "vgg"}
    for recipe, rows in runs.items():
        assert {name: row["tiles"] for name, row in rows.items()} == {
            "chelsea": 28,
            "flat": 2,
            "noisy": 2,
            "all": 32,
        }
        # The whole set repeats the benchmark's scores of the same predictions.
        for metric in ("psnr", "sharpness", "colorfulness"):
            assert rows["all"][metric] == pytest.approx(records[recipe][metric], rel=1e-5)
        # PSNR is a mean over tiles: the photographs' means, weighted by tiles, give the whole's.
        weighted = sum(rows[p]["psnr"] * rows[p]["tiles"] for p in ("chelsea", "flat", "noisy"))
        assert weighted / 32 == pytest.approx(rows["all"]["psnr"], rel=1e-5)
        assert rows["flat"]["psnr"] > rows["noisy"]["psnr"] + 10
        # A flat grey target's error is mostly a tone offset, a noise target's mostly not.
        assert rows["flat"]["tone_share"] > 0.5 > 0.2 > rows["noisy"]["tone_share"]
    table = md.read_text()
    assert "### photo_sr: psnr, seeds 0" in table
    assert "| photograph | tiles | l1 | vgg | l1 - vgg |" in table
    difference = runs["l1"]["noisy"]["psnr"] - runs["vgg"]["noisy"]["psnr"]
    noisy_row = next(line for line in table.splitlines() if line.startswith("| noisy |"))
    assert noisy_row.endswith(f"| {difference:.2f} |")
    assert "Test photographs: chelsea, flat, noisy." in table
    # Rows input, l1, vgg, ground truth of the 2 noisy tiles, enlarged 2x: 4 rows of 128 px.
    with Image.open(figure) as image:
        assert image.height == 14 + 4 * (128 + 2)

    # A run whose generator is not the one its record was scored with is caught.
    saved = sorted((out / "runs" / "main").glob("*l1*.json"))[0]
    record = json.loads(saved.read_text())
    saved.write_text(json.dumps({**record, "psnr": record["psnr"] + 1.0}))
    with pytest.raises(SystemExit, match=r"psnr .* predicted again, .* in the record"):
        per_photo.main([str(out), "--tasks", "photo_sr", "--recipes", "l1"])


def _save_run(out_dir, recipe="l1", seed=0, weights=True, **fields):
    folder = out_dir / "runs" / "main"
    folder.mkdir(parents=True, exist_ok=True)
    record = {"task": "photo_sr", "recipe": recipe, "seed": seed, "test_photos": ["chelsea"]}
    record.update(fields)
    name = f"{record['task']}__{recipe}__seed{seed}__800steps_b4"
    (folder / f"{name}.json").write_text(json.dumps(record))
    if weights:
        (folder / f"{name}.generator.pt").write_bytes(b"")


def test_runs_are_found_filtered_and_checked(scripts, tmp_path):
    _, per_photo, _ = scripts
    first, second = tmp_path / "a", tmp_path / "b"
    _save_run(first, "vgg", 1)
    _save_run(first, "l1", 0)
    _save_run(first, "l1", 2, weights=False)  # no generator: not restorable, skipped
    _save_run(second, "l1", 1)
    _save_run(second, "l1", 0, task="textures")
    found = per_photo.saved_photo_runs([first, second], ["photo_sr"])
    assert [(r["recipe"], r["seed"]) for r in found] == [("l1", 0), ("l1", 1), ("vgg", 1)]
    assert found[0]["weights"].endswith("photo_sr__l1__seed0__800steps_b4.generator.pt")
    found = per_photo.saved_photo_runs([first, second], ["photo_sr"], recipes=["l1"], seeds=[1])
    assert [(r["recipe"], r["seed"]) for r in found] == [("l1", 1)]

    _save_run(second, "l1", 0)
    with pytest.raises(ValueError, match=r"run \('photo_sr', 'l1', 0\) saved twice"):
        per_photo.saved_photo_runs([first, second], ["photo_sr"])
    for duplicate in (second / "runs" / "main").glob("photo_sr__l1__seed0__*"):
        duplicate.unlink()
    _save_run(second, "vgg", 0, test_photos=["chelsea", "coffee"])
    with pytest.raises(ValueError, match="scored on different test photographs"):
        per_photo.saved_photo_runs([first, second], ["photo_sr"], recipes=["vgg"])

    with pytest.raises(SystemExit, match="no saved runs of \\['photo_sr_unet'\\]"):
        per_photo.main([str(first), "--tasks", "photo_sr_unet"])
    with pytest.raises(SystemExit, match="--reference: 'cfl' is not the recipe of any saved run"):
        per_photo.main([str(first), "--reference", "cfl"])
    with pytest.raises(SystemExit, match=r"--figure-photo: 'flower' is not one of .*'chelsea'"):
        per_photo.main([str(first), "--figure", "f.png", "--figure-photo", "flower"])
    with pytest.raises(SystemExit):
        per_photo.main([str(first), "--figure", "f.png"])


def test_tone_parts_split_the_error_into_a_tile_offset_and_the_rest(scripts):
    _, per_photo, _ = scripts
    target = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    shift = torch.tensor([0.1, -0.2, 0.0]).view(1, 3, 1, 1)
    checks = 0.05 * (-1.0) ** torch.arange(64).view(8, 8)  # zero mean over the tile
    # [-1, 1] offsets of 0.1 and -0.2 are 0.05 and -0.1 in [0, 1]; 64 pixels each.
    shifted = per_photo.tone_parts(target + shift, target)
    expected = 64 * (0.05**2 + 0.1**2)
    assert shifted.flatten().tolist() == pytest.approx([expected] * 4)
    checked = per_photo.tone_parts(target + checks, target)
    assert checked[:, 0].tolist() == pytest.approx([3 * 64 * 0.025**2] * 2)
    assert checked[:, 1].tolist() == pytest.approx([0.0, 0.0], abs=1e-12)
    both = per_photo.tone_parts(target + shift + checks, target)
    assert both[:, 1].tolist() == pytest.approx([expected] * 2)
    assert both[:, 0].tolist() == pytest.approx([expected + 3 * 64 * 0.025**2] * 2)


def test_a_tile_names_its_photograph(scripts, tmp_path):
    *_, quality_tasks = scripts
    files = _save_photos(tmp_path)
    quality_tasks.write_photo_tiles(tmp_path / "tiles", test_photos=files)
    tiles = sorted((tmp_path / "tiles" / "test").iterdir())
    assert [quality_tasks.tile_photo(path) for path in tiles] == ["flat"] * 2 + ["noisy"] * 2
    assert quality_tasks.tile_photo("test/grace_hopper_0064_0128.png") == "grace_hopper"
