"""The quality benchmark script in its smoke form: it trains every recipe through the project's
modules, scores it, writes its table, figure and JSON, and resumes from saved runs."""

import json

import pytest
import torch
from PIL import Image

from tests.benchmarks.scripts import benchmark_modules


@pytest.fixture(scope="module")
def quality():
    yield from benchmark_modules("quality")


# The smoke run trains five of the ten recipes (the pixel and VGG losses, the paper's CFL, the
# shipped random-weights recipe and the one on its own trained encoder); that every recipe builds
# its loss with its options is checked below without training (the options' training behaviour is
# the loss's tests'). The test took 64 s here with all ten, 40 s with these five.
SMOKE_RECIPES = ["l1", "vgg", "cfl", "cfl-fn-aq", "cfl-enc"]


@pytest.mark.slow
def test_quick_run_writes_table_figure_json_and_resumes(quality, tmp_path, capsys):
    # 2 steps, not the quick run's 3: every recipe still takes optimizer steps after its first.
    args = ["--quick", "--steps", "2", "--tasks", "textures", "--out-dir", str(tmp_path)]
    args += ["--recipes", *SMOKE_RECIPES]
    assert quality.main([*args, "--json", str(tmp_path / "q.json")]) == 0
    table = (tmp_path / "quality.md").read_text()
    for recipe in SMOKE_RECIPES:
        assert f"| {recipe} |" in table
    assert "## Targets" in table
    # Every CFL recipe gets its targets.
    for recipe in ("cfl", "cfl-fn-aq", "cfl-enc"):
        assert f"| PatchSWD {recipe} / vgg <= 0.85 |" in table
    assert (tmp_path / "quality.png").stat().st_size > 1000
    payload = json.loads((tmp_path / "q.json").read_text())
    recipes = SMOKE_RECIPES
    assert [r["recipe"] for r in payload["runs"]] == recipes
    assert all(r["steps"] == 2 for r in payload["runs"])
    first = {r["recipe"]: r["patch_swd"] for r in payload["runs"]}
    capsys.readouterr()

    assert quality.main([*args, "--resume", "--json", str(tmp_path / "r.json")]) == 0
    assert capsys.readouterr().out.count("(saved)") == len(recipes)
    resumed = json.loads((tmp_path / "r.json").read_text())
    assert {r["recipe"]: r["patch_swd"] for r in resumed["runs"]} == first
    # Scores: the primary (reference-normalised) and the per-set PatchSWD, no joint one.
    assert all(r["patch_swd_per_set"] > 0 and "patch_swd_joint" not in r for r in payload["runs"])
    assert "PatchSWD per-set x1e3" in table

    # A run saved before the scores changed meaning is not reused: scored again from its saved
    # generator when there is one, else trained and scored again.
    saved = sorted((tmp_path / "runs" / "main").glob("*.json"))
    assert len(saved) == len(recipes)
    for path in saved[:2]:
        record = json.loads(path.read_text())
        record["eval_version"] = 1
        path.write_text(json.dumps(record))
    saved[0].with_suffix(".generator.pt").unlink()
    capsys.readouterr()
    assert quality.main([*args, "--resume"]) == 0
    out = capsys.readouterr().out
    assert out.count("(saved)") == len(recipes) - 2 and out.count("(rescored)") == 1
    assert out.count("(saved with other scores, rerun)") == 1
    assert all(json.loads(p.read_text())["eval_version"] == quality.EVAL_VERSION for p in saved)
    assert saved[0].with_suffix(".generator.pt").exists()
    trained = {r["recipe"]: r for r in map(json.loads, (p.read_text() for p in saved))}

    # Scoring again from the saved generators gives the scores the runs had when they were trained
    # (the pixel loss, the paper's CFL and the random-weights recipe: the evaluation does not depend
    # on the recipe otherwise; rescoring all ten recipes added about 30 s here).
    some = ["--recipes", "l1", "cfl", "cfl-fn-aq"]
    rescore = [*args, *some, "--resume", "--rescore", "--json", str(tmp_path / "s.json")]
    assert quality.main(rescore) == 0
    assert capsys.readouterr().out.count("(rescored)") == 3
    rescored = {r["recipe"]: r for r in json.loads((tmp_path / "s.json").read_text())["runs"]}
    assert sorted(rescored) == ["cfl", "cfl-fn-aq", "l1"]
    for run in (r for r in payload["runs"] if r["recipe"] in rescored):
        for key in ("patch_swd", "psnr", "sharpness", "loss_cfl_id"):
            assert rescored[run["recipe"]][key] == pytest.approx(run[key], rel=1e-5, abs=1e-7)
        assert rescored[run["recipe"]]["train_seconds"] == trained[run["recipe"]]["train_seconds"]


def test_every_main_recipe_builds_its_loss_with_its_options(quality):
    from quality_tasks import main_recipes, make_module

    recipes = main_recipes(gan=False)
    assert len(recipes) == 11 and {r.name for r in recipes} >= set(SMOKE_RECIPES)
    for recipe in recipes:
        module = make_module("textures", recipe, seed=0)
        names = {"l1": ["l1"], "vgg": ["perceptual"], "cfl": ["cfl"]}[recipe.loss]
        assert list(module.loss_weights) == names, recipe.name
        if recipe.loss != "cfl":
            assert module.cfl is None, recipe.name
            continue
        options = dict(recipe.cfl_options)
        assert module.cfl.heads.kind == options.pop("head", "mlp"), recipe.name
        layers = options.pop("layers", None)
        if layers is not None:
            assert tuple(module.cfl.layers) == tuple(layers), recipe.name
        for key, value in options.items():
            assert getattr(module.cfl, key) == value, (recipe.name, key)
        encoder = type(module.cfl.extractor).__name__
        assert (
            encoder
            == {"vgg_random": "VGG19Features", "conv_encoder": "ConvEncoderFeatures"}[
                recipe.extractor
            ]
        ), recipe.name
    # The GAN variants: the same losses with the adversarial terms and a discriminator.
    gan = make_module("textures", main_recipes(gan=True)[0], seed=0)
    assert gan.discriminator is not None and "gan" in gan.loss_weights


def test_recipes_option_selects_and_rejects_unknown_names(quality, tmp_path, capsys):
    args = ["--quick", "--tasks", "textures", "--out-dir", str(tmp_path), "--recipes", "l1"]
    assert quality.main([*args, "--json", str(tmp_path / "q.json")]) == 0
    assert [r["recipe"] for r in json.loads((tmp_path / "q.json").read_text())["runs"]] == ["l1"]
    with pytest.raises(SystemExit, match=r"--recipes: unknown \['nope'\]"):
        quality.main([*args[:-1], "nope"])
    with pytest.raises(SystemExit):
        quality.main(["--quick", "--rescore"])
    assert "--rescore: needs --resume" in capsys.readouterr().err


def test_the_chroma_colorization_task_keeps_the_input_luminance(quality, tmp_path):
    args = [
        "--quick",
        "--tasks",
        "photo_color_chroma",
        "--recipes",
        "l1",
        "--out-dir",
        str(tmp_path),
    ]
    assert quality.main(args) == 0
    assert "colorization keeping the input's luminance" in (tmp_path / "quality.md").read_text()
    runs = (tmp_path / "runs" / "main").glob("photo_color_chroma__l1__*.pt")
    (saved,) = [path for path in runs if not path.name.endswith(".generator.pt")]
    samples = torch.load(saved)  # the held-out input (grey, shown as RGB) and the prediction
    prediction, grey = samples["prediction"], samples["input"][:, :1]
    unit = (prediction + 1) / 2
    luminance = 2 * (0.299 * unit[:, :1] + 0.587 * unit[:, 1:2] + 0.114 * unit[:, 2:]) - 1
    unclamped = (prediction.abs() < 0.999).all(dim=1, keepdim=True)
    assert unclamped.float().mean() > 0.5
    assert (luminance - grey).abs()[unclamped].max() < 1e-5


@pytest.mark.slow
def test_runs_scored_on_other_test_photos_are_scored_again(quality, tmp_path, capsys):
    args = ["--quick", "--tasks", "photo_sr", "--recipes", "l1", "--out-dir", str(tmp_path)]
    spare = ["--test-photos", "chelsea", "motorcycle_left"]
    assert quality.main([*args, *spare, "--json", str(tmp_path / "a.json")]) == 0
    (first,) = json.loads((tmp_path / "a.json").read_text())["runs"]
    assert first["test_photos"] == ["chelsea", "motorcycle_left"]
    assert "test on chelsea, motorcycle_left" in (tmp_path / "quality.md").read_text()
    capsys.readouterr()

    # The default test photographs: the saved run is scored again from its generator, not reused.
    assert quality.main([*args, "--resume", "--json", str(tmp_path / "b.json")]) == 0
    assert capsys.readouterr().out.count("(rescored)") == 1
    (second,) = json.loads((tmp_path / "b.json").read_text())["runs"]
    assert second["test_photos"] == ["chelsea", "coffee"]
    assert second["train_seconds"] == first["train_seconds"]
    assert second["patch_swd"] != first["patch_swd"]
    assert quality.main([*args, "--resume"]) == 0
    assert capsys.readouterr().out.count("(saved)") == 1

    # A record written before the option existed counts as scored on the default photographs.
    saved = next((tmp_path / "runs" / "main").glob("*.json"))
    record = json.loads(saved.read_text())
    del record["test_photos"]
    saved.write_text(json.dumps(record))
    assert quality.main([*args, "--resume"]) == 0
    assert capsys.readouterr().out.count("(saved)") == 1

    # An image file added by --photo-files: scored again, the file in the record and the report.
    pixels = torch.randint(0, 256, (64, 128, 3), generator=torch.Generator().manual_seed(0))
    Image.fromarray(pixels.to(torch.uint8).numpy()).save(tmp_path / "street.png")
    extra = ["--photo-files", str(tmp_path / "street.png"), "--json", str(tmp_path / "c.json")]
    assert quality.main([*args, "--resume", *extra]) == 0
    assert capsys.readouterr().out.count("(rescored)") == 1
    (third,) = json.loads((tmp_path / "c.json").read_text())["runs"]
    assert third["test_photos"] == ["chelsea", "coffee", str(tmp_path / "street.png")]
    assert third["patch_swd"] != second["patch_swd"]
    report = (tmp_path / "quality.md").read_text()
    assert "test on chelsea, coffee, street (scikit-image, and image files" in report


@pytest.mark.parametrize(
    ("task", "coverage"), [("photo_inpaint", (0.05, 0.45)), ("photo_inpaint_box", (0.2, 0.55))]
)
def test_the_inpainting_tasks_score_predictions_that_keep_the_known_pixels(
    quality, tmp_path, task, coverage
):
    args = ["--quick", "--tasks", task, "--recipes", "l1", "--out-dir", str(tmp_path)]
    assert quality.main(args) == 0
    assert "Held out: photo inpainting" in (tmp_path / "quality.md").read_text()
    runs = (tmp_path / "runs" / "main").glob(f"{task}__l1__*.pt")
    (saved,) = [path for path in runs if not path.name.endswith(".generator.pt")]
    samples = torch.load(saved)  # the held-out masked tile, the prediction, the target
    masked, prediction, target = samples["input"], samples["prediction"], samples["target"]
    # A hole is mid-grey (0) in every channel; no pixel of an 8-bit photograph is exactly 0.
    hole = (masked == 0).all(dim=1, keepdim=True).expand_as(target)
    assert coverage[0] < hole.float().mean() < coverage[1]
    assert torch.equal(prediction[~hole], target[~hole])
    assert not torch.equal(prediction[hole], target[hole])
