from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cfl_lightning.data.checks import DatasetError
from cfl_lightning.data.io import ImageFileError
from cfl_lightning.data.label_folder import LabelFolderDataModule

NUM_CLASSES = 5


def _write(folder: Path, count: int, start: int = 0, instances: bool = False) -> None:
    """``count`` pairs: labels/<name>.png, images/<name>.jpg|png (mixed), 64x64."""
    for i in range(start, start + count):
        rng = np.random.default_rng(i)
        blocks = rng.integers(0, NUM_CLASSES, size=(8, 8))
        blocks[0, 0], blocks[-1, -1] = 1, 0
        label = np.kron(blocks, np.ones((8, 8), dtype=np.int64)).astype(np.uint8)
        image = np.repeat(((label % 2) * 255).astype(np.uint8)[..., None], 3, axis=2)
        for sub in ("labels", "images", "instances"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        Image.fromarray(label).save(folder / "labels" / f"img{i:02d}.png")
        Image.fromarray(image).save(folder / "images" / f"img{i:02d}.{('png', 'jpg')[i % 2]}")
        if instances:
            Image.fromarray(label * 10).save(folder / "instances" / f"img{i:02d}.png")


def _module(folder: Path, **kwargs) -> LabelFolderDataModule:
    kwargs = {"load_size": 32, "crop_size": 24, **kwargs}
    return LabelFolderDataModule(folder / "labels", folder / "images", NUM_CLASSES, **kwargs)


def test_val_ratio_split_is_disjoint_and_seeded(tmp_path):
    _write(tmp_path, 10)
    module = _module(tmp_path, val_ratio=0.2, seed=1)
    module.setup("fit")
    module.setup("test")
    train = [s.image.stem for s in module.samples("train")]
    val = [s.image.stem for s in module.samples("val")]
    assert (len(train), len(val)) == (8, 2)
    assert sorted(train + val) == [f"img{i:02d}" for i in range(10)]
    assert module.samples("test") == module.samples("val")
    assert [len(module.dataset(s)) for s in ("train", "val", "test")] == [8, 2, 2]
    again = _module(tmp_path, val_ratio=0.2, seed=1)  # the shuffle seed: same validation set
    assert [s.image.stem for s in again.samples("val")] == val
    for seed in range(2, 6):
        assert [
            s.image.stem for s in _module(tmp_path, val_ratio=0.2, seed=seed).samples("val")
        ] == val
    other_splits = {
        tuple(s.image.stem for s in _module(tmp_path, split_seed=k).samples("val"))
        for k in range(6)
    }
    assert len(other_splits) > 1


def test_val_folders(tmp_path):
    _write(tmp_path / "train", 3)
    _write(tmp_path / "val", 2, start=3)
    module = _module(
        tmp_path / "train",
        val_label_dir=tmp_path / "val" / "labels",
        val_image_dir=tmp_path / "val" / "images",
    )
    module.setup("fit")
    assert [len(module.dataset(s)) for s in ("train", "val")] == [3, 2]
    assert module.dataset("val")[0]["path"].endswith("img03.jpg")


def test_items_are_aligned_after_resize_crop_and_flip(tmp_path, check_aligned):
    _write(tmp_path, 4, instances=True)
    module = _module(tmp_path, instance_dir=tmp_path / "instances", val_ratio=0.25)
    assert module.has_instances and module.dontcare_label is None
    module.setup("fit")
    train = module.dataset("train")
    for index in range(len(train)):
        for _ in range(4):
            item = train[index]
            assert item["label"].shape == (24, 24) and item["label"].dtype == torch.int64
            assert item["image"].shape == (3, 24, 24) and item["image"].dtype == torch.float32
            assert item["image"].min() >= -1 and item["image"].max() <= 1
            assert torch.equal(item["instance"], item["label"] * 10)
            check_aligned(item)


def test_subfolders_match_by_relative_name(tmp_path):
    for sub in ("a", "b"):
        _write(tmp_path / sub, 2)
        for kind in ("labels", "images"):
            target = tmp_path / kind / sub
            target.parent.mkdir(exist_ok=True)
            (tmp_path / sub / kind).rename(target)
    module = _module(tmp_path, val_ratio=0.25)
    samples = module.samples("train") + module.samples("val")
    assert len(samples) == 4
    for sample in samples:
        assert sample.label.parent.name == sample.image.parent.name
        assert sample.label.stem == sample.image.stem


def test_dataloader_batches_and_resume_mid_epoch(tmp_path):
    _write(tmp_path, 7)
    module = _module(tmp_path, val_ratio=0.1, batch_size=2, seed=3)
    module.setup("fit")
    torch.manual_seed(0)
    loader = module.train_dataloader()
    iterator = iter(loader)
    first = next(iterator)
    assert first["label"].shape == (2, 24, 24) and first["image"].shape == (2, 3, 24, 24)
    state = loader.state_dict()
    expected = [next(iterator), next(iterator)]

    resumed = _module(tmp_path, val_ratio=0.1, batch_size=2, seed=3)
    resumed.setup("fit")
    torch.manual_seed(0)
    loader = resumed.train_dataloader()
    loader.load_state_dict(state)
    for batch, want in zip(loader, expected):
        assert batch["path"] == want["path"]
        assert torch.equal(batch["label"], want["label"])  # same crops and flips


def test_dontcare_label_is_allowed_and_others_rejected(tmp_path):
    _write(tmp_path, 2)
    file = tmp_path / "labels" / "img00.png"
    label = np.array(Image.open(file))
    label[0, 0] = 255
    Image.fromarray(label).save(file)
    with pytest.raises(
        ImageFileError, match=r"img00.png: label id\(s\) \[255\] outside \[0, num_classes=5\)$"
    ):
        _module(tmp_path, val_ratio=0).dataset("train")[0]
    module = _module(tmp_path, val_ratio=0, dontcare_label=255, preprocess="none", flip=False)
    assert module.dataset("train")[0]["label"][0, 0] == 255
    label[0, 1] = 7
    Image.fromarray(label).save(file)
    with pytest.raises(
        ImageFileError, match=r"\[7\] outside \[0, num_classes=5\) and not the don't-care id 255"
    ):
        module.dataset("train")[0]


def test_rgb_label_map_is_rejected(tmp_path):
    _write(tmp_path, 2)
    file = tmp_path / "labels" / "img01.png"
    Image.open(file).convert("RGB").save(file)
    with pytest.raises(ImageFileError, match=r"img01.png: expected a single-channel label map"):
        _module(tmp_path, val_ratio=0).dataset("train")[1]


def test_layout_errors(tmp_path):
    with pytest.raises(DatasetError, match=r"image_dir: .*images does not exist"):
        _module(tmp_path).setup("fit")
    _write(tmp_path, 3)
    (tmp_path / "labels" / "img01.png").unlink()
    with pytest.raises(
        DatasetError, match=r"1 image\(s\) without a label map in label_dir .*\n.*img01.jpg"
    ):
        _module(tmp_path).setup("fit")
    with pytest.raises(DatasetError, match=r"instance_dir: .*nope does not exist"):
        _module(tmp_path, instance_dir=tmp_path / "nope").setup("fit")
    for path in (tmp_path / "images").iterdir():
        path.unlink()
    with pytest.raises(DatasetError, match=r"no images found in .*images"):
        _module(tmp_path).setup("fit")


def test_two_images_with_one_name(tmp_path):
    _write(tmp_path, 2)
    Image.new("RGB", (64, 64)).save(tmp_path / "images" / "img00.jpg")
    with pytest.raises(
        DatasetError, match=r"two files match the name 'img00': img00.jpg and img00.png"
    ):
        _module(tmp_path).setup("fit")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"val_label_dir": "x"}, r"val_label_dir, val_image_dir: expected both or neither"),
        ({"val_ratio": 1.0}, r"val_ratio: expected a number in \[0, 1\), got 1.0"),
        (
            {"dontcare_label": 3},
            r"dontcare_label: expected None or an id outside \[0, num_classes=5\), got 3",
        ),
        ({"val_instance_dir": "x"}, r"val_instance_dir: expected None without val_label_dir"),
        ({"num_classes": 0}, r"num_classes: expected an integer >= 1, got 0"),
        ({"preprocess": "crop"}, r"preprocess: expected one of"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    kwargs = {"num_classes": NUM_CLASSES, **kwargs}
    with pytest.raises(ValueError, match=match):
        LabelFolderDataModule(tmp_path / "labels", tmp_path / "images", **kwargs)


def test_val_ratio_leaving_no_training_pairs(tmp_path):
    _write(tmp_path, 1)
    with pytest.raises(ValueError, match=r"val_ratio: 0.1 of 1 pairs leaves no training pairs"):
        _module(tmp_path).setup("fit")
