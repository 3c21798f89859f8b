"""Lightning's warning about modules in eval mode at the start of training: not shown for the
frozen extractors and metric networks, which are in eval mode by design; shown when any other
module is."""

import re
import warnings

import pytest

from cfl_lightning.modules.eval_mode_notice import intended_eval_modules
from tests.modules.tiny import RandomPairsDataModule, make_module, make_trainer

EVAL_WARNING = re.compile(r"Found (\d+) module\(s\) in eval mode at the start of training")


def fit_and_record(module, tmp_path) -> list[str]:
    trainer = make_trainer(tmp_path, max_steps=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        before = list(warnings.filters)
        trainer.fit(module, RandomPairsDataModule(size=4, batch_size=2))
        assert warnings.filters == before  # the filter went away with the check
    return [str(w.message) for w in caught if EVAL_WARNING.search(str(w.message))]


def test_counts_the_modules_of_frozen_extractors_and_metrics():
    module = make_module({"cfl": 1.0, "perceptual": 1.0}, metrics=("psnr", "patch_swd"))
    extractors = {
        id(m) for loss in (module.cfl, module.perceptual) for m in loss.extractor.modules()
    }
    metric_modules = {
        id(m)
        for collection in (module.val_metrics, module.test_metrics)
        for m in collection.modules()
    }
    metric_modules |= {id(m) for m in module.val_cfl_fixed_heads.modules()}
    metric_modules |= {id(m) for m in module.test_cfl_fixed_heads.modules()}
    expected = sum(
        1
        for _, m in module.named_modules()
        if not m.training and (id(m) in extractors or id(m) in metric_modules)
    )
    assert expected >= 2 * 4  # two VGG19 stems, each a Sequential of conv, relu, pool, conv, relu
    assert intended_eval_modules(module) == expected


@pytest.mark.parametrize("terms", [{"cfl": 1.0}, {"perceptual": 1.0, "l1": 1.0}])
def test_a_fit_with_frozen_extractors_shows_no_eval_mode_warning(terms, tmp_path):
    module = make_module(terms)
    assert intended_eval_modules(module) > 0
    assert fit_and_record(module, tmp_path) == []


def test_other_modules_in_eval_mode_are_still_reported_with_their_count(tmp_path):
    module = make_module({"cfl": 1.0})
    intended = intended_eval_modules(module)
    module.generator.eval()  # the user's choice, maybe a mistake: Lightning's warning stays
    generator_modules = len(list(module.generator.modules()))
    (message,) = fit_and_record(module, tmp_path)
    assert int(EVAL_WARNING.search(message).group(1)) == intended + generator_modules
