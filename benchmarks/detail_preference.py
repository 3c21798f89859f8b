"""How much detail each loss asks for when the detail cannot be aligned with the target's.

    python benchmarks/detail_preference.py [--items 16] [--seed 0] [--out FILE]

No training, and no test image: two ladders of predictions that are plausible but not aligned
with their targets, scored by each loss; a loss's preferred level is where it is lowest.

- ``textures``: training items of the synthetic textures task; the prediction is another
  rendering of the same label map (the same classes, other texture phases), sharpened by ``a``:
  ``t' + a (t' - blur(t'))``, blur a Gaussian of sigma 1 px. A loss that rewards only what can
  be predicted is lowest near ``a = 0`` (the targets' own sharpness).
- ``photos, detail moved``: 64x64 tiles of the training photographs; the prediction is the
  target's low-pass part (Gaussian, sigma 1.5 px, about what a 4x smaller input keeps) plus ``a``
  times its high-pass part moved 3 px: the right amount of detail at the wrong places, as a
  super-resolution network must guess it. Lowest near ``a = 1``: the targets' amount of detail.

Losses: L1, the VGG loss (random VGG19, the benchmark's layers and weights), CFL as the paper
(``cfl``) and as ``cfl-fn-aq`` with their heads at initialisation (see ``--train-heads``; mean
of 4 location draws), a feature-mean term (per layer of CFL, ``mean_{b,c} |mu_pred - mu_target|
/ mean_{b,c} |mu_target|``, ``mu`` the spatial mean of each image's random VGG19 features per
channel; the mean over layers) and ``cfl-fn-aq`` plus 3x that term (the screened recipe
``cfl-fn-aq-fmean``, BENCHMARKS.md).
The sharpness column is the benchmark's ratio (mean gradient magnitude over the targets').

``--train-heads N``: before each ladder, ``cfl-fn-aq``'s heads are trained for ``N`` steps
(batch 4, Adam at the benchmark's critic settings) on two views of that ladder's pool of training
images, as ``critic="target_views"`` trains them in the benchmark (their objective never sees a
prediction, so no generator is needed); the paper's heads stay at initialisation (they are
trained by the generator's predictions).

``--view-shift S``: ``cfl-fn-aq``'s ``view_shift`` (default 2, the recipe's): how far the target's
second view is moved, so how large a misalignment the trained heads learn to call the same patch.
``--temperature T``: ``cfl-fn-aq``'s temperature (default 0.07, the recipe's), for its heads'
training and its values.
``--num-patches N``: ``cfl-fn-aq``'s ``num_patches`` (default 256, the recipe's): locations drawn
per layer and image (at 64x64 its layers have 1024, 256, 64 and 16), so how many negatives each
patch has, for the heads' training and the values.
``--head-dim D``: the width of ``cfl-fn-aq``'s MLP heads (default 256, the recipe's).
``--feature-pooling K``: ``cfl-fn-aq`` comparing each layer's features averaged over ``K x K``
neighbourhoods (default 1, none, the recipe's), for the heads' training and the values.
``--forward-only``: ``cfl-fn-aq`` with ``bidirectional=False``: the prediction's (and, for the
heads, the first view's) patches are the only queries, for the heads' training and the values.
``--gram-weights W [W ...]``: also a Gram term (per layer of CFL, ``mean_{b,i,j} |G_pred -
G_target| / mean_{b,i,j} |G_target|``, ``G = F F^T / (h w)`` the ``(C, C)`` second moments of each
image's random VGG19 features ``F`` (``C x hw``); the mean over layers) and ``cfl-fn-aq`` plus
each ``W`` times it: where the texture statistics of the features are matched, wherever the
detail is (the check that fixed the weight of the screened recipe ``cfl-fn-aq-gram``).
``--half-scale``: also ``cfl-fn-aq`` on both images average-pooled 2x (its own heads, trained the
same steps on the pool average-pooled 2x), and its sum with ``cfl-fn-aq`` at full scale (weights
1:1): CFL at two image scales.
``--ladders``: which ladders to run (default both), e.g. one per process.
``--per-layer``: also each layer's ``cfl-fn-aq`` value with the same heads (its layer weight 1,
the others 0), and a second table per ladder: where fixed layer weightings are lowest. A
weighting's value is ``sum_l w_l v_l`` (weights normalised to sum 1), and the heads of each layer
train on their own layer's term alone (Adam, so their steps do not depend on the weight), so every
weighting is read from one run.
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from distortions import gaussian_blur
from quality_report import script_command, write_report
from quality_tasks import (
    IMAGE_SIZE,
    NUM_CLASSES,
    PERCEPTUAL_LAYERS,
    TRAIN_PHOTOS,
    Recipe,
    _load_photo,
    main_recipes,
    make_cfl,
    tile_origins,
)

from cfl_lightning.data.io import to_unit_range
from cfl_lightning.data.synthetic import SyntheticTexturesDataset
from cfl_lightning.data.textures import render_image
from cfl_lightning.losses import PerceptualLoss
from cfl_lightning.metrics import mean_gradient_magnitude
from cfl_lightning.networks import VGG19Features

TEXTURE_LEVELS = (-0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, 2.0)
PHOTO_LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)
LOCATION_DRAWS = 4
PHOTO_SHIFT = 3
LADDERS = ("textures", "photos")
TERM = "feature-mean term"
GRAM = "Gram term"
TERM_WEIGHT = 3.0  # as in the screened recipe cfl-fn-aq-fmean
TEXTURE_POOL = 512  # training images the heads may train on with --train-heads
HALF = "cfl-fn-aq, half scale"
TWO_SCALES = "cfl-fn-aq, both scales (sum)"
LAYER_PREFIX = "cfl-fn-aq at "  # the per-layer columns: "cfl-fn-aq at relu2_1", ...


def texture_pool(count: int) -> torch.Tensor:
    """The first ``count`` training images of the textures task (data seed 0)."""
    dataset = SyntheticTexturesDataset("train", count, NUM_CLASSES, IMAGE_SIZE, seed=0)
    return torch.stack([dataset[i]["image"] for i in range(count)])


def photo_pool() -> torch.Tensor:
    """Every non-overlapping 64x64 tile of the training photographs."""
    tiles = []
    for name in TRAIN_PHOTOS:
        image = torch.from_numpy(_load_photo(name).copy()).permute(2, 0, 1)
        for top, left in tile_origins(image.shape[1], image.shape[2], IMAGE_SIZE, IMAGE_SIZE):
            tiles.append(to_unit_range(image[:, top : top + IMAGE_SIZE, left : left + IMAGE_SIZE]))
    return torch.stack(tiles)


def texture_ladder(items: int) -> tuple[torch.Tensor, Callable[[float], torch.Tensor]]:
    """Targets (training items of data seed 0) and ``a -> predictions``."""
    dataset = SyntheticTexturesDataset("train", items, NUM_CLASSES, IMAGE_SIZE, seed=0)
    samples = [dataset[i] for i in range(items)]
    target = torch.stack([s["image"] for s in samples])
    generator = torch.Generator().manual_seed(123)
    other = torch.stack([render_image(s["label"], generator) for s in samples])
    detail = other - gaussian_blur(other, 1.0)
    return target, lambda a: (other + a * detail).clamp(-1, 1)


def photo_ladder(items: int) -> tuple[torch.Tensor, Callable[[float], torch.Tensor]]:
    """Targets (64x64 tiles of the training photographs, taken evenly) and ``a -> predictions``."""
    tiles = photo_pool()
    picks = [i * len(tiles) // items for i in range(min(items, len(tiles)))]
    target = tiles[picks]
    low = gaussian_blur(target, 1.5)
    moved = torch.roll(target - low, (PHOTO_SHIFT, PHOTO_SHIFT), (2, 3))
    return target, lambda a: (low + a * moved).clamp(-1, 1)


def train_view_heads(loss: torch.nn.Module, pool: torch.Tensor, steps: int, seed: int) -> None:
    """``steps`` Adam steps (lr 2e-4, betas 0.5/0.999, the benchmark's critic optimizer) of a
    ``critic="target_views"`` loss's heads on random batches of 4 images of ``pool``."""
    optimizer = torch.optim.Adam(loss.critic_parameters(), lr=2e-4, betas=(0.5, 0.999))
    generator = torch.Generator().manual_seed(seed)
    loss.train()
    for _ in range(steps):
        batch = pool[torch.randint(len(pool), (4,), generator=generator)]
        optimizer.zero_grad()
        loss(batch, batch, generator=generator).backward()
        optimizer.step()
    loss.eval()


def aq_recipe(**overrides: Any) -> Recipe:
    """The benchmark's ``cfl-fn-aq`` with ``overrides`` (e.g. ``view_shift=4``,
    ``temperature=0.2``) added to its :class:`ContrastiveFeatureLoss` options."""
    recipe = next(r for r in main_recipes(False) if r.name == "cfl-fn-aq")
    return replace(recipe, cfl_options={**recipe.cfl_options, **overrides})


def loss_columns(
    seed: int,
    pool: torch.Tensor | None = None,
    head_steps: int = 0,
    recipe: Recipe | None = None,
    per_layer: bool = False,
    gram: bool = False,
    half_scale: bool = False,
) -> dict[str, Callable[[torch.Tensor, torch.Tensor], float]]:
    """Name -> ``(pred, target) -> value`` for every loss of the table (``cfl-fn-aq``'s heads
    trained ``head_steps`` steps on ``pool``; ``recipe`` defaults to :func:`aq_recipe`'s; see
    :func:`train_view_heads`). ``per_layer`` adds ``cfl-fn-aq``'s value at each of its layers
    alone, with the same heads (see :class:`OneLayer`); ``gram`` adds :func:`gram_term`;
    ``half_scale`` adds ``cfl-fn-aq`` at half scale with its own heads (:class:`HalfScale`)."""
    recipes = {r.name: r for r in main_recipes(False)}
    torch.manual_seed(seed)  # the heads' initialisation
    paper = make_cfl(recipes["cfl"], seed).eval()
    aq = make_cfl(recipe or aq_recipe(), seed).eval()
    half = HalfScale(make_cfl(recipe or aq_recipe(), seed)).eval() if half_scale else None
    if head_steps:
        if pool is None:
            raise ValueError("pool: expected training images to train the heads on, got None")
        train_view_heads(aq, pool, head_steps, seed)
        if half is not None:
            train_view_heads(half, pool, head_steps, seed)
    vgg = PerceptualLoss(extractor=VGG19Features(PERCEPTUAL_LAYERS, weights="random", seed=seed))

    def drawn(loss: torch.nn.Module) -> Callable[[torch.Tensor, torch.Tensor], float]:
        def value(pred: torch.Tensor, target: torch.Tensor) -> float:
            draws = [
                float(loss(pred, target, generator=torch.Generator().manual_seed(k)))
                for k in range(LOCATION_DRAWS)
            ]
            return sum(draws) / len(draws)

        return value

    columns = {
        "l1": lambda p, t: float((p - t).abs().mean()),
        "vgg": lambda p, t: float(vgg(p, t)),
        "cfl (paper's heads, init)": drawn(paper),
        f"cfl-fn-aq ({f'heads {head_steps} steps' if head_steps else 'init'})": drawn(aq),
        TERM: lambda p, t: feature_mean_term(aq.extractor, aq.layers, p, t),
    }
    if gram:
        columns[GRAM] = lambda p, t: gram_term(aq.extractor, aq.layers, p, t)
    if half is not None:
        columns[HALF] = drawn(half)
    if per_layer:
        for name in aq.layers:
            columns[LAYER_PREFIX + name] = drawn(OneLayer(aq, name))
    return columns


class HalfScale(torch.nn.Module):
    """``loss`` (a :class:`ContrastiveFeatureLoss`) on its images average-pooled 2x; its heads are
    ``loss``'s (``critic_parameters``)."""

    def __init__(self, loss: torch.nn.Module) -> None:
        super().__init__()
        self.loss = loss

    def critic_parameters(self) -> Any:
        return self.loss.critic_parameters()

    def forward(self, pred: torch.Tensor, target: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return self.loss(F.avg_pool2d(pred, 2), F.avg_pool2d(target, 2), **kwargs)


class OneLayer(torch.nn.Module):
    """``loss`` (a :class:`ContrastiveFeatureLoss`, shared, not copied) with the weight of layer
    ``name`` 1 and every other layer's 0 while it is called; the weights are restored after."""

    def __init__(self, loss: torch.nn.Module, name: str) -> None:
        super().__init__()
        if name not in loss.layer_weights:
            raise ValueError(f"name: expected one of {list(loss.layer_weights)}, got {name!r}")
        self.loss, self.name = loss, name

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        kept = self.loss.layer_weights
        self.loss.layer_weights = {n: float(n == self.name) for n in kept}
        try:
            return self.loss(*args, **kwargs)
        finally:
            self.loss.layer_weights = kept


# Fixed before the run (BENCHMARKS.md, "layer weights"): the weightings read from the layer columns.
LAYER_WEIGHTINGS = {
    "uniform (shipped)": {"relu2_1": 1, "relu3_1": 1, "relu4_1": 1, "relu5_1": 1},
    "relu2_1 alone": {"relu2_1": 1},
    "relu3_1 alone": {"relu3_1": 1},
    "relu4_1 alone": {"relu4_1": 1},
    "relu5_1 alone": {"relu5_1": 1},
    "without relu2_1": {"relu3_1": 1, "relu4_1": 1, "relu5_1": 1},
    "without relu3_1": {"relu2_1": 1, "relu4_1": 1, "relu5_1": 1},
    "without relu4_1": {"relu2_1": 1, "relu3_1": 1, "relu5_1": 1},
    "without relu5_1": {"relu2_1": 1, "relu3_1": 1, "relu4_1": 1},
    "relu4_1 + relu5_1": {"relu4_1": 1, "relu5_1": 1},
    "relu2_1 + relu3_1": {"relu2_1": 1, "relu3_1": 1},
}


def weighting_table(
    title: str, rows: list[dict[str, float]], weightings: dict[str, dict[str, float]]
) -> str:
    """Markdown table: for each weighting (layer -> weight, missing layers 0, normalised to sum
    1), its value ``sum_l w_l v_l`` at its lowest level of ``rows`` (which hold the per-layer
    columns), that level and its sharpness."""
    lines = [f"### {title}", "", "| layer weights | lowest at a (sharpness) | value there |"]
    lines.append("|---|---|---|")
    for label, weights in weightings.items():
        total = sum(weights.values())
        values = [
            sum(w / total * row[LAYER_PREFIX + name] for name, w in weights.items()) for row in rows
        ]
        i = min(range(len(rows)), key=values.__getitem__)
        a, sharpness = rows[i]["a"], rows[i]["sharpness"]
        lines.append(f"| {label} | {a:g} ({sharpness:.2f}) | {values[i]:.4f} |")
    return "\n".join(lines) + "\n"


def feature_mean_term(
    extractor: torch.nn.Module, layers: tuple[str, ...], pred: torch.Tensor, target: torch.Tensor
) -> float:
    """Mean over ``layers`` of ``mean_{b,c} |mu_pred - mu_target| / mean_{b,c} |mu_target|``,
    ``mu`` the ``(B, C)`` spatial means of ``extractor``'s features."""
    return relative_statistic_term(
        extractor, layers, pred, target, lambda features: features.mean(dim=(2, 3))
    )


def gram_term(
    extractor: torch.nn.Module, layers: tuple[str, ...], pred: torch.Tensor, target: torch.Tensor
) -> float:
    """Mean over ``layers`` of ``mean |G_pred - G_target| / mean |G_target|``, ``G`` the
    ``(B, C, C)`` Gram matrices ``F F^T / (h w)`` of ``extractor``'s features (the term of the
    screened recipe ``cfl-fn-aq-gram``, BENCHMARKS.md)."""

    def gram_matrices(features: torch.Tensor) -> torch.Tensor:
        flat = features.flatten(2)
        return flat @ flat.transpose(1, 2) / flat.shape[-1]

    return relative_statistic_term(extractor, layers, pred, target, gram_matrices)


def relative_statistic_term(
    extractor: torch.nn.Module,
    layers: tuple[str, ...],
    pred: torch.Tensor,
    target: torch.Tensor,
    statistic: Callable[[torch.Tensor], torch.Tensor],
) -> float:
    """Mean over ``layers`` of ``mean |S(pred) - S(target)| / mean |S(target)|``, ``S`` the
    per-image ``statistic`` of ``extractor``'s ``(B, C, h, w)`` features."""
    pred_features, target_features = extractor(pred), extractor(target)
    values = []
    for name in layers:
        pred_stat, target_stat = statistic(pred_features[name]), statistic(target_features[name])
        values.append(float((pred_stat - target_stat).abs().mean() / target_stat.abs().mean()))
    return sum(values) / len(values)


def ladder_rows(
    target: torch.Tensor,
    make: Callable[[float], torch.Tensor],
    levels: tuple[float, ...],
    losses: dict[str, Callable[[torch.Tensor, torch.Tensor], float]],
    gram_weights: tuple[float, ...] = (),
) -> list[dict[str, float]]:
    """One row per level: ``a``, the sharpness ratio and every loss's value (and ``cfl-fn-aq``
    plus each of ``gram_weights`` times the Gram term, which ``losses`` must then hold; and
    ``cfl-fn-aq`` plus its half-scale value if ``losses`` hold it)."""
    rows = []
    target_sharpness = float(mean_gradient_magnitude(target).mean())
    cfl = next(name for name in losses if name.startswith("cfl-fn-aq ("))
    with torch.no_grad():
        for a in levels:
            pred = make(a)
            row = {"a": a, "sharpness": float(mean_gradient_magnitude(pred).mean())}
            row["sharpness"] /= target_sharpness
            row.update({name: fn(pred, target) for name, fn in losses.items()})
            row[f"cfl-fn-aq + {TERM_WEIGHT:g}x term"] = row[cfl] + TERM_WEIGHT * row[TERM]
            for weight in gram_weights:
                row[f"cfl-fn-aq + {weight:g}x Gram"] = row[cfl] + weight * row[GRAM]
            if HALF in row:
                row[TWO_SCALES] = row[cfl] + row[HALF]
            rows.append(row)
            print(f"a={a:g}", {k: round(v, 4) for k, v in row.items()}, flush=True)
    return rows


def table(title: str, rows: list[dict[str, float]]) -> str:
    """Markdown table; each loss's lowest value in bold, with its level and sharpness below."""
    names = [k for k in rows[0] if k not in ("a", "sharpness")]
    lines = [f"### {title}", "", "| a | sharpness | " + " | ".join(names) + " |"]
    lines.append("|---" * (len(names) + 2) + "|")
    best = {name: min(range(len(rows)), key=lambda i: rows[i][name]) for name in names}
    for i, row in enumerate(rows):
        cells = [f"**{row[n]:.4f}**" if best[n] == i else f"{row[n]:.4f}" for n in names]
        lines.append(f"| {row['a']:g} | {row['sharpness']:.2f} | " + " | ".join(cells) + " |")
    lowest = [f"{rows[best[n]]['a']:g} ({rows[best[n]]['sharpness']:.2f})" for n in names]
    lines.append("| lowest at a (sharpness) | | " + " | ".join(lowest) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=16, help="images per ladder (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random VGG19 weights")
    parser.add_argument(
        "--train-heads", type=int, default=0, help="steps of cfl-fn-aq's heads (default 0)"
    )
    parser.add_argument("--view-shift", type=int, help="cfl-fn-aq's view_shift (default 2)")
    parser.add_argument("--temperature", type=float, help="cfl-fn-aq's temperature (default 0.07)")
    parser.add_argument("--num-patches", type=int, help="cfl-fn-aq's num_patches (default 256)")
    parser.add_argument("--head-dim", type=int, help="cfl-fn-aq's head_dim (default 256)")
    parser.add_argument(
        "--feature-pooling",
        type=int,
        nargs="+",
        help="cfl-fn-aq's feature_pooling: one kernel, or one per layer (default 1)",
    )
    parser.add_argument(
        "--forward-only",
        action="store_true",
        help="cfl-fn-aq with bidirectional=False (default: both directions, the recipe's)",
    )
    parser.add_argument(
        "--per-layer",
        action="store_true",
        help="also cfl-fn-aq at each layer alone, and fixed layer weightings read from them",
    )
    parser.add_argument(
        "--gram-weights",
        type=float,
        nargs="+",
        default=[],
        help="also the Gram term, and cfl-fn-aq plus each weight times it",
    )
    parser.add_argument(
        "--half-scale",
        action="store_true",
        help="also cfl-fn-aq on the images average-pooled 2x (own heads), and the two scales' sum",
    )
    parser.add_argument(
        "--ladders",
        nargs="+",
        choices=LADDERS,
        default=list(LADDERS),
        help="the ladders to run (default both)",
    )
    parser.add_argument("--out", type=Path, help="also write the Markdown report here")
    args = parser.parse_args(argv)
    if args.items < 1:
        raise SystemExit(f"--items: expected a positive count, got {args.items}")
    if args.train_heads < 0:
        raise SystemExit(f"--train-heads: expected a count >= 0, got {args.train_heads}")
    if args.view_shift is not None and args.view_shift < 1:
        raise SystemExit(f"--view-shift: expected pixels >= 1, got {args.view_shift}")
    if args.temperature is not None and args.temperature <= 0:
        raise SystemExit(f"--temperature: expected a value > 0, got {args.temperature}")
    if args.num_patches is not None and args.num_patches < 2:
        raise SystemExit(f"--num-patches: expected a count >= 2, got {args.num_patches}")
    if any(not w > 0 for w in args.gram_weights):
        raise SystemExit(f"--gram-weights: expected weights > 0, got {args.gram_weights}")
    if args.head_dim is not None and args.head_dim < 1:
        raise SystemExit(f"--head-dim: expected a width >= 1, got {args.head_dim}")
    if args.feature_pooling is not None and any(k < 1 or k % 2 == 0 for k in args.feature_pooling):
        raise SystemExit(
            "--feature-pooling: expected odd sizes >= 1, got "
            + " ".join(map(str, args.feature_pooling))
        )
    pooling = args.feature_pooling
    if pooling is not None:  # one kernel for every layer, or a tuple of one per layer
        pooling = pooling[0] if len(pooling) == 1 else tuple(pooling)
    overrides: dict[str, Any] = {
        name: value
        for name, value in (
            ("view_shift", args.view_shift),
            ("temperature", args.temperature),
            ("num_patches", args.num_patches),
            ("head_dim", args.head_dim),
            ("feature_pooling", pooling),
        )
        if value is not None
    }
    if args.forward_only:
        overrides["bidirectional"] = False
    recipe = aq_recipe(**overrides)
    heads = f"cfl-fn-aq's heads trained {args.train_heads} steps" if args.train_heads else ""
    if overrides:
        heads = (heads or "heads at initialisation") + "".join(
            f", {name} {value}"
            if isinstance(value, bool)
            else f", {name} {' '.join(map(str, value))}"
            if isinstance(value, tuple)
            else f", {name} {value:g}"
            for name, value in overrides.items()
        )
    sections = [
        "# Which amount of detail each loss prefers (no training)",
        "",
        f"`{script_command('detail_preference.py', argv)}`, "
        f"{datetime.date.today().isoformat()}; {args.items} training images per ladder, random "
        f"VGG19 (seed {args.seed}), {heads or 'heads at initialisation'}. Lowest value per column "
        "in bold.",
        "",
    ]
    ladders = {  # name: (the heads' training pool, the ladder, its levels, the table's title)
        "textures": (
            lambda: texture_pool(TEXTURE_POOL),
            texture_ladder,
            TEXTURE_LEVELS,
            "textures: another rendering of the label map, sharpened by a",
        ),
        "photos": (
            photo_pool,
            photo_ladder,
            PHOTO_LEVELS,
            f"photos: low-pass + a x detail moved {PHOTO_SHIFT} px",
        ),
    }
    for name in (n for n in LADDERS if n in args.ladders):
        pool, ladder, levels, title = ladders[name]
        training = pool() if args.train_heads else None
        losses = loss_columns(
            args.seed,
            training,
            args.train_heads,
            recipe,
            args.per_layer,
            bool(args.gram_weights),
            args.half_scale,
        )
        target, make = ladder(args.items)
        rows = ladder_rows(target, make, levels, losses, tuple(args.gram_weights))
        sections.append(table(title, rows))
        if args.per_layer:
            sections.append(
                weighting_table(f"{name}: cfl-fn-aq's layer weights", rows, LAYER_WEIGHTINGS)
            )
    write_report("\n".join(sections), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
