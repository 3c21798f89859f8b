from functools import partial

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from cfl_lightning.data.base import ImageDataModule
from cfl_lightning.modules import SemanticSynthesisModule, input_channels, one_hot_labels
from cfl_lightning.networks import MultiscaleDiscriminator, SPADEGenerator
from tests.modules.tiny import make_trainer, tiny_cfl


class LabelsWithInstances(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, index):
        g = torch.Generator().manual_seed(index)
        label = torch.randint(0, 4, (32, 32), generator=g)
        label[:4] = 255
        instance = torch.randint(0, 3, (32, 32), generator=g)
        image = torch.rand(3, 32, 32, generator=g) * 2 - 1
        return {"label": label, "instance": instance, "image": image, "path": f"{index}.png"}


class LabelsDataModule(ImageDataModule):
    def build_dataset(self, split):
        return LabelsWithInstances()


def spade(label_channels):
    return SPADEGenerator(label_channels, ngf=8, num_upsampling_layers="normal")


def test_prepare_batch_one_hot_dontcare_and_edges():
    channels = input_channels(4, 255, True)
    assert channels == 6
    module = SemanticSynthesisModule(
        spade(channels), num_classes=4, dontcare_label=255, use_instances=True, losses={"l1": 1.0}
    )
    batch = next(iter(LabelsDataModule(batch_size=2).train_dataloader()))
    generator_input, target = module.prepare_batch(batch)
    assert generator_input.shape == (2, 6, 32, 32)
    assert torch.equal(generator_input[:, :5], one_hot_labels(batch["label"], 4, 255))
    assert torch.equal(target, batch["image"])


def test_semantic_synthesis_trains_with_cfl():
    module = SemanticSynthesisModule(
        spade(6),
        num_classes=4,
        dontcare_label=255,
        use_instances=True,
        losses={"cfl": 1.0},
        cfl=tiny_cfl(),
        metrics=("psnr",),
    )
    before = [p.detach().clone() for p in module.generator.parameters()]
    make_trainer(max_steps=1).fit(module, LabelsDataModule(batch_size=2))
    assert any(not torch.equal(a, b) for a, b in zip(before, module.generator.parameters()))


def test_generator_channel_mismatch_is_reported():
    with pytest.raises(
        ValueError,
        match=r"generator: SPADEGenerator takes 5 input channels, but SemanticSynthesisModule "
        r"\(input_channels=6\) gives it 6",
    ):
        SemanticSynthesisModule(
            spade(5), num_classes=4, dontcare_label=255, use_instances=True, losses={"l1": 1.0}
        )


def test_networks_given_as_factories_get_the_label_channels():
    module = SemanticSynthesisModule(
        partial(SPADEGenerator, ngf=8),
        num_classes=4,
        dontcare_label=255,
        use_instances=True,
        losses={"l1": 1.0, "gan": 1.0},
        discriminator=partial(MultiscaleDiscriminator, ndf=4, num_scales=1),
    )
    assert module.input_channels == 6 and module.generator.label_channels == 6
    assert module.discriminator.input_channels == 6 + 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_classes": None}, "num_classes: expected a positive integer, got None"),
        (
            {"num_classes": 4, "dontcare_label": 2},
            r"dontcare_label: expected None or an id "
            r"outside \[0, num_classes=4\), got 2",
        ),
    ],
)
def test_bad_label_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SemanticSynthesisModule(nn.Identity(), losses={"l1": 1.0}, **kwargs)


def test_missing_instances_are_reported():
    module = SemanticSynthesisModule(
        nn.Identity(), num_classes=4, use_instances=True, losses={"l1": 1.0}
    )
    batch = {"label": torch.zeros(1, 8, 8, dtype=torch.long), "image": torch.zeros(1, 3, 8, 8)}
    with pytest.raises(ValueError, match="use_instances: True, but the batches have no 'instance'"):
        module.prepare_batch(batch)


def test_label_maps_are_shown_in_colour():
    module = SemanticSynthesisModule(nn.Identity(), num_classes=4, losses={"l1": 1.0})
    one_hot = one_hot_labels(torch.tensor([[[0, 1], [2, 3]]]), 4)
    shown = module.visualize_input(one_hot, torch.zeros(1, 3, 2, 2))
    assert shown.shape == (1, 3, 2, 2)
    colours = {tuple(shown[0, :, y, x].tolist()) for y in range(2) for x in range(2)}
    assert len(colours) == 4
