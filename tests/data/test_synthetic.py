import pytest
import torch

from cfl_lightning.data.synthetic import (
    SyntheticTexturesDataModule,
    SyntheticTexturesDataset,
    random_label_map,
)
from cfl_lightning.data.textures import class_style, render_image


def small_datamodule(**kwargs):
    args = {"train_size": 40, "val_size": 16, "test_size": 16, "batch_size": 4}
    return SyntheticTexturesDataModule(**{**args, **kwargs})


def test_items_are_deterministic_across_calls_and_instances():
    first, second = small_datamodule(), small_datamodule()
    first.setup("fit")
    second.setup("fit")
    for split, index in [("train", 0), ("train", 39), ("val", 5)]:
        a, b = first.dataset(split)[index], second.dataset(split)[index]
        again = first.dataset(split)[index]
        assert torch.equal(a["label"], b["label"]) and torch.equal(a["image"], b["image"])
        assert torch.equal(a["image"], again["image"])
        assert a["path"] == f"synthetic/{split}/{index}.png"
    other_data = small_datamodule(split_seed=1)
    other_data.setup("fit")
    for split in ("train", "val"):
        assert not torch.equal(
            other_data.dataset(split)[0]["label"], first.dataset(split)[0]["label"]
        )
    other_shuffle = small_datamodule(seed=1)  # seed only shuffles: the same items
    other_shuffle.setup("fit")
    for split in ("train", "val"):
        assert torch.equal(
            other_shuffle.dataset(split)[0]["image"], first.dataset(split)[0]["image"]
        )


def test_splits_do_not_overlap():
    def fingerprints(split, size):
        dataset = SyntheticTexturesDataset(split, size)
        return {
            (dataset[i]["label"].numpy().tobytes(), dataset[i]["image"].numpy().tobytes())
            for i in range(size)
        }

    train, val, test = fingerprints("train", 100), fingerprints("val", 32), fingerprints("test", 32)
    assert len(train) == 100 and len(val) == 32 and len(test) == 32  # items differ within a split
    assert not train & val and not train & test and not val & test
    labels = {label for label, _ in train | val | test}
    assert len(labels) == 164  # not even the label maps repeat


def test_values_dtypes_and_shapes():
    dataset = SyntheticTexturesDataset("train", 50, num_classes=7, image_size=32)
    seen = torch.zeros(7, dtype=torch.bool)
    for i in range(len(dataset)):
        item = dataset[i]
        assert item["label"].dtype == torch.int64 and item["label"].shape == (32, 32)
        assert item["image"].dtype == torch.float32 and item["image"].shape == (3, 32, 32)
        assert item["image"].min() >= -1 and item["image"].max() <= 1
        assert item["label"].min() >= 0 and item["label"].max() < 7
        seen[item["label"].unique()] = True
        assert (item["label"] == 0).any() and (item["label"] > 0).any()
    assert seen.all()
    with pytest.raises(IndexError):
        dataset[50]


def test_same_label_map_has_many_images_whose_mean_is_flat():
    # every class in its own vertical band
    label = torch.arange(6).repeat_interleave(64 // 6 + 1)[:64].expand(64, 64).contiguous()
    renders = torch.stack(
        [render_image(label, torch.Generator().manual_seed(seed)) for seed in range(48)]
    )
    mean = renders.mean(dim=0)
    for cls in range(1, 6):
        region = label == cls
        per_sample_spatial_std = renders[:, :, region].std(dim=-1).mean()
        across_samples_std = renders[:, :, region].std(dim=0).mean()
        mean_spatial_std = mean[:, region].std(dim=-1).mean()
        assert per_sample_spatial_std > 0.2, class_style(cls).family  # a visible texture
        assert across_samples_std > 0.2, class_style(cls).family  # which changes per image
        assert mean_spatial_std < 0.4 * per_sample_spatial_std, class_style(cls).family
    background = renders[:, :, label == 0]
    assert background.std(dim=-1).max() < 1e-6  # flat within an image
    assert background.mean(dim=-1).std(dim=0).mean() > 0.03  # colour jittered across images


def test_per_class_pixels_vary_across_dataset_items():
    dataset = SyntheticTexturesDataset("val", 40)
    items = [dataset[i] for i in range(40)]
    for cls in range(1, 6):
        # per-item mean colour of the class: differs between items (colour and phase jitter)
        means = torch.stack(
            [
                it["image"][:, it["label"] == cls].mean(dim=1)
                for it in items
                if (it["label"] == cls).sum() > 20
            ]
        )
        assert len(means) >= 5
        assert means.std(dim=0).mean() > 0.03


def test_label_maps_contain_several_shapes():
    generator = torch.Generator().manual_seed(0)
    maps = [random_label_map(64, 6, generator) for _ in range(20)]
    foreground = torch.tensor([float((m > 0).float().mean()) for m in maps])
    assert 0.1 < float(foreground.mean()) < 0.8
    assert sum(int(m.unique().numel()) >= 3 for m in maps) >= 10


def test_datamodule_attributes_and_loaders():
    datamodule = small_datamodule(num_classes=5, image_size=32)
    assert datamodule.num_classes == 5 and datamodule.dontcare_label is None
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["label"].shape == (4, 32, 32) and batch["image"].shape == (4, 3, 32, 32)
    assert len(batch["path"]) == 4
    assert len(datamodule.val_dataloader()) == 4
    datamodule.setup("test")
    assert len(datamodule.test_dataloader().dataset) == 16
    with pytest.raises(ValueError, match="num_classes: expected an integer >= 2, got 1"):
        SyntheticTexturesDataModule(num_classes=1)
    with pytest.raises(ValueError, match="val_size: expected an integer >= 0, got -1"):
        SyntheticTexturesDataModule(val_size=-1)
