import numpy as np
import pytest
import torch
from PIL import Image

from cfl_lightning.data.checks import DatasetError
from cfl_lightning.data.cityscapes import CityscapesDataModule
from cfl_lightning.data.io import ImageFileError


def _module(root, **kwargs):
    return CityscapesDataModule(root, crop_size=32, **kwargs)  # "fixed": 32x16


def _label_files(root, split="train"):
    return sorted((root / "gtFine" / split).rglob("*_gtFine_labelIds.png"))


def test_defaults_follow_spade(tmp_path):
    module = CityscapesDataModule(tmp_path)
    assert (module.preprocess, module.crop_size, module.load_size) == ("fixed", 512, 512)
    assert module.aspect_ratio == 2.0 and module.flip
    assert module.num_classes == 35 and module.dontcare_label is None and module.has_instances


def test_items_have_shapes_dtypes_ranges_and_stay_aligned(write_cityscapes, check_aligned):
    root = write_cityscapes()
    module = _module(root)
    module.setup("fit")
    train = module.dataset("train")
    for index in range(len(train)):
        for _ in range(3):
            item = train[index]
            assert item["label"].shape == (16, 32) and item["label"].dtype == torch.int64
            assert item["instance"].shape == (16, 32) and item["instance"].dtype == torch.int64
            assert item["image"].shape == (3, 16, 32) and item["image"].dtype == torch.float32
            assert item["image"].min() >= -1 and item["image"].max() <= 1
            assert item["path"].endswith("_leftImg8bit.png")
            check_aligned(item)
            # the instance map went through the same resize and flip
            assert torch.equal(item["instance"] // 1000, item["label"])


def test_val_item_is_the_file_resized_with_nearest(write_cityscapes):
    root = write_cityscapes()
    module = _module(root)
    module.setup("validate")
    item = module.dataset("val")[0]
    file = _label_files(root, "val")[0]
    expected = np.asarray(Image.open(file).resize((32, 16), Image.NEAREST)).astype(np.int64)
    assert torch.equal(item["label"], torch.from_numpy(expected))
    instance = np.asarray(Image.open(str(file).replace("labelIds", "instanceIds")))
    assert item["instance"].max() == int(instance.max()) > 255  # 16-bit ids kept


def test_split_sizes_and_test_split(write_cityscapes):
    root = write_cityscapes({"train": 3, "val": 2, "test": 4})
    module = _module(root)
    module.setup("fit")
    module.setup("test")
    assert [len(module.dataset(s)) for s in ("train", "val", "test")] == [3, 2, 2]
    assert "/val/" in module.dataset("test")[0]["path"]
    real_test = _module(root, test_split="test")
    real_test.setup("test")
    assert len(real_test.dataset("test")) == 4


def test_batches_through_the_dataloader(write_cityscapes):
    module = _module(write_cityscapes(), batch_size=2)
    module.setup("fit")
    batch = next(iter(module.train_dataloader()))
    assert batch["label"].shape == (2, 16, 32) and batch["label"].dtype == torch.int64
    assert batch["instance"].shape == (2, 16, 32)
    assert batch["image"].shape == (2, 3, 16, 32)
    assert len(batch["path"]) == 2
    val = list(module.val_dataloader())
    assert sum(len(b["path"]) for b in val) == 2


def test_without_instances(write_cityscapes):
    root = write_cityscapes()
    for path in (root / "gtFine").rglob("*_instanceIds.png"):
        path.unlink()
    with pytest.raises(DatasetError, match=r"without an instance map.*use_instances=False"):
        _module(root).setup("fit")
    module = _module(root, use_instances=False)
    module.setup("fit")
    assert not module.has_instances
    assert "instance" not in module.dataset("train")[0]


def test_missing_root_names_the_layout(tmp_path):
    with pytest.raises(DatasetError, match=r"root: .*nowhere does not exist.*leftImg8bit.*gtFine"):
        _module(tmp_path / "nowhere").setup("fit")
    (tmp_path / "empty" / "leftImg8bit" / "train").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"gtFine.*does not exist.*_gtFine_labelIds"):
        _module(tmp_path / "empty").setup("fit")


def test_no_images_found(write_cityscapes):
    root = write_cityscapes()
    for path in (root / "leftImg8bit" / "train").rglob("*.png"):
        path.unlink()
    with pytest.raises(DatasetError, match=r"no \*_leftImg8bit images found in .*train"):
        _module(root).setup("fit")


def test_image_without_label_is_listed(write_cityscapes):
    root = write_cityscapes()
    missing = _label_files(root)[1]
    missing.unlink()
    stem = missing.name.replace("_gtFine_labelIds.png", "_leftImg8bit.png")
    with pytest.raises(DatasetError, match=rf"1 image\(s\) without a label map.*\n.*{stem}"):
        _module(root).setup("fit")


def test_label_id_out_of_range(write_cityscapes):
    root = write_cityscapes()
    file = _label_files(root)[0]
    label = np.array(Image.open(file))
    label[3, 5] = 40
    Image.fromarray(label).save(file)
    module = _module(root)
    module.setup("fit")
    with pytest.raises(ImageFileError, match=rf"{file.name}: label id\(s\) \[40\].*num_classes=35"):
        module.dataset("train")[0]


def test_label_size_differs_from_image(write_cityscapes):
    root = write_cityscapes()
    file = _label_files(root)[0]
    Image.open(file).resize((48, 24), Image.NEAREST).save(file)
    module = _module(root)
    module.setup("fit")
    with pytest.raises(
        ImageFileError, match=r"labelIds.png: label map is 48x24.*leftImg8bit.png is 64x32"
    ):
        module.dataset("train")[0]


def test_truncated_image(write_cityscapes):
    root = write_cityscapes()
    image = sorted((root / "leftImg8bit" / "train").rglob("*.png"))[0]
    image.write_bytes(image.read_bytes()[:60])
    module = _module(root)
    module.setup("fit")
    with pytest.raises(ImageFileError, match=rf"{image.name}: unreadable or truncated"):
        module.dataset("train")[0]


def test_nothing_is_written_into_the_dataset(write_cityscapes, file_snapshot):
    root = write_cityscapes()
    before = file_snapshot(root)
    module = _module(root, batch_size=2)
    module.setup("fit")
    for batch in module.train_dataloader():
        assert batch["image"].shape[0] == 2
    list(module.val_dataloader())
    assert file_snapshot(root) == before
