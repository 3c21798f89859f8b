import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from cfl_lightning.data.checks import DatasetError
from cfl_lightning.data.coco_stuff import COCOStuffDataModule
from cfl_lightning.data.io import ImageFileError


def _module(root, **kwargs):
    return COCOStuffDataModule(root, load_size=32, crop_size=24, **kwargs)


def test_defaults(tmp_path):
    module = COCOStuffDataModule(tmp_path)
    assert (module.preprocess, module.load_size, module.crop_size, module.flip) == (
        "resize_and_crop",
        286,
        256,
        True,
    )
    assert module.num_classes == 182 and module.dontcare_label == 255


def test_items_with_instances_and_dontcare(write_coco_stuff, check_aligned):
    root = write_coco_stuff()
    module = _module(root)
    assert module.has_instances
    module.setup("fit")
    for split in ("train", "val"):
        dataset = module.dataset(split)
        for index in range(len(dataset)):
            item = dataset[index]
            assert item["label"].shape == (24, 24) and item["label"].dtype == torch.int64
            assert item["instance"].shape == (24, 24) and item["instance"].dtype == torch.int64
            assert item["image"].shape == (3, 24, 24) and item["image"].dtype == torch.float32
            assert item["image"].min() >= -1 and item["image"].max() <= 1
            assert torch.equal(item["instance"], item["label"] // 2)
            check_aligned(item)


def test_val_keeps_dontcare_pixels(write_coco_stuff):
    root = write_coco_stuff()
    module = COCOStuffDataModule(root, preprocess="none")
    module.setup("validate")
    item = module.dataset("val")[0]
    expected = np.asarray(Image.open(root / "val_label" / "000000000000.png")).astype(np.int64)
    assert torch.equal(item["label"], torch.from_numpy(expected))
    assert (item["label"][:8, 8:16] == 255).all()


def test_split_sizes_and_batches(write_coco_stuff):
    module = _module(write_coco_stuff({"train": 4, "val": 3}), batch_size=2)
    module.setup("fit")
    module.setup("test")
    assert [len(module.dataset(s)) for s in ("train", "val", "test")] == [4, 3, 3]
    batches = list(module.train_dataloader())
    assert len(batches) == 2
    assert batches[0]["instance"].shape == (2, 24, 24)
    assert batches[0]["image"].shape == (2, 3, 24, 24)


def test_instances_are_optional(write_coco_stuff):
    root = write_coco_stuff(instances=False)
    module = _module(root)
    assert not module.has_instances
    module.setup("fit")
    assert "instance" not in module.dataset("train")[0]
    with pytest.raises(DatasetError, match=r"train_inst does not exist.*use_instances=False"):
        _module(root, use_instances=True).setup("fit")


def test_val_inst_required_when_train_inst_exists(write_coco_stuff):
    root = write_coco_stuff()
    shutil.rmtree(root / "val_inst")
    with pytest.raises(DatasetError, match=r"val_inst does not exist.*use_instances=False"):
        _module(root).setup("fit")
    module = _module(root, use_instances=False)
    module.setup("fit")
    assert "instance" not in module.dataset("val")[0]


def test_missing_root_names_the_layout(tmp_path):
    with pytest.raises(DatasetError, match=r"root: .*does not exist.*train_img.*train_label"):
        _module(tmp_path / "missing").setup("fit")


def test_image_without_label_is_listed(write_coco_stuff):
    root = write_coco_stuff()
    (root / "train_label" / "000000000002.png").unlink()
    with pytest.raises(DatasetError, match=r"1 image\(s\) without a label map.*\n.*2\.jpg"):
        _module(root).setup("fit")


def test_label_id_out_of_range(write_coco_stuff):
    root = write_coco_stuff()
    file = root / "train_label" / "000000000001.png"
    label = np.array(Image.open(file))
    label[5, 5] = 200
    Image.fromarray(label).save(file)
    module = _module(root)
    module.setup("fit")
    with pytest.raises(ImageFileError, match=r"1\.png: label id\(s\) \[200\].*num_classes=182"):
        module.dataset("train")[1]


def test_instance_size_differs_from_image(write_coco_stuff):
    root = write_coco_stuff()
    file = root / "train_inst" / "000000000000.png"
    Image.open(file).crop((0, 0, 64, 40)).save(file)
    module = _module(root)
    module.setup("fit")
    with pytest.raises(ImageFileError, match=r"instance map is 64x40.*000000000000.jpg is 64x48"):
        module.dataset("train")[0]
