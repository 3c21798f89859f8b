import numpy as np
import pytest
import torch
from PIL import Image

from cfl_lightning.data.ade20k import ADE20KDataModule, ade20k_label_ids
from cfl_lightning.data.checks import DatasetError
from cfl_lightning.data.io import ImageFileError


def _annotations(root, folder="training"):
    return sorted((root / "ADEChallengeData2016" / "annotations" / folder).glob("*.png"))


def _mapped_parity(label: torch.Tensor) -> torch.Tensor:
    return (label != 255) & (label % 2 == 1)


def test_defaults_follow_spade(tmp_path):
    module = ADE20KDataModule(tmp_path)
    assert (module.preprocess, module.load_size, module.crop_size, module.flip) == (
        "resize_and_crop",
        286,
        256,
        True,
    )
    assert module.num_classes == 150 and module.dontcare_label == 255
    assert not module.has_instances


def test_label_mapping_function():
    raw = torch.tensor([[0, 1, 2], [75, 150, 0]])
    expected = torch.tensor([[255, 0, 1], [74, 149, 255]])
    assert torch.equal(ade20k_label_ids(raw), expected)


def test_items_map_other_to_dontcare_and_shift_the_rest(write_ade20k):
    root = write_ade20k()
    module = ADE20KDataModule(root, preprocess="none")
    module.setup("validate")
    item = module.dataset("val")[1]
    raw = np.asarray(Image.open(_annotations(root, "validation")[1])).astype(np.int64)
    expected = np.where(raw == 0, 255, raw - 1)
    assert torch.equal(item["label"], torch.from_numpy(expected))
    assert (item["label"] == 255).any() and item["label"].max() == 255
    assert item["path"].endswith(".jpg")


def test_train_items_are_cropped_flipped_and_aligned(write_ade20k, check_aligned):
    module = ADE20KDataModule(write_ade20k(), load_size=32, crop_size=24)
    module.setup("fit")
    train = module.dataset("train")
    for index in range(len(train)):
        for _ in range(3):
            item = train[index]
            assert item["label"].shape == (24, 24) and item["label"].dtype == torch.int64
            assert item["image"].shape == (3, 24, 24) and item["image"].dtype == torch.float32
            assert item["image"].min() >= -1 and item["image"].max() <= 1
            assert "instance" not in item
            ids = item["label"][item["label"] != 255]
            assert ids.min() >= 0 and ids.max() < 150
            check_aligned(item, _mapped_parity)


def test_split_sizes_and_batches(write_ade20k):
    module = ADE20KDataModule(write_ade20k(), load_size=32, crop_size=24, batch_size=3)
    module.setup("fit")
    module.setup("test")
    assert [len(module.dataset(s)) for s in ("train", "val", "test")] == [3, 2, 2]
    batch = next(iter(module.train_dataloader()))
    assert batch["label"].shape == (3, 24, 24) and batch["image"].shape == (3, 3, 24, 24)
    assert "/validation/" in module.dataset("test")[0]["path"]


def test_root_may_be_the_challenge_folder_itself(write_ade20k):
    module = ADE20KDataModule(write_ade20k() / "ADEChallengeData2016", load_size=32, crop_size=24)
    module.setup("fit")
    assert len(module.dataset("train")) == 3


def test_missing_root_names_the_layout(tmp_path):
    with pytest.raises(DatasetError, match=r"root: .*does not exist.*ADEChallengeData2016/images"):
        ADE20KDataModule(tmp_path / "missing").setup("fit")
    with pytest.raises(DatasetError, match=r"images/training does not exist.*annotations"):
        ADE20KDataModule(tmp_path).setup("fit")


def test_image_without_annotation_is_listed(write_ade20k):
    root = write_ade20k({"training": 8, "validation": 1})
    for path in _annotations(root)[:7]:
        path.unlink()
    with pytest.raises(
        DatasetError,
        match=r"7 image\(s\) without a label map.*\n  .*ADE_train_00000001.jpg(\n.*){4}\n"
        r"  \.\.\. and 2 more",
    ):
        ADE20KDataModule(root).setup("fit")


def test_raw_value_above_150_names_file_value_and_num_classes(write_ade20k):
    root = write_ade20k()
    file = _annotations(root)[2]
    raw = np.array(Image.open(file))
    raw[0, 0] = 151
    Image.fromarray(raw).save(file)
    module = ADE20KDataModule(root, load_size=32, crop_size=24)
    module.setup("fit")
    module.dataset("train")[1]  # other files load
    with pytest.raises(
        ImageFileError,
        match=rf"{file.name}: label id\(s\) \[150\] \(value\(s\) \[151\] in the file\) outside "
        r"\[0, num_classes=150\) and not the don't-care id 255",
    ):
        module.dataset("train")[2]
