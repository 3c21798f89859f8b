import os

import numpy as np
import pytest
import torch
from PIL import Image

from cfl_lightning.data.augment_random import ItemKey
from cfl_lightning.data.degradations import Colorization, Denoising, Inpainting, SuperResolution
from cfl_lightning.data.image_folder import ImageFolderDataModule, resize_shorter_side
from cfl_lightning.data.io import ImageFileError, read_image, to_unit_range


def write_image(path, height, width, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def photos(tmp_path):
    """8 photos: png, jpg and webp, two subfolders, two smaller than the 32 px crop."""
    root = tmp_path / "photos"
    sizes = [(40, 48), (48, 40), (36, 64), (20, 24), (64, 64), (33, 50), (16, 40), (45, 45)]
    names = ["a.png", "b.jpg", "c.webp", "d.png", "x/e.jpg", "x/f.png", "y/z/g.webp", "h.JPG"]
    for seed, (name, (h, w)) in enumerate(zip(names, sizes)):
        write_image(root / name, h, w, seed)
    return root


def snapshot(folder):
    return sorted(
        (str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    )


def test_ratio_split_sizes_no_overlap_and_stable(photos):
    before = snapshot(photos)
    dm = ImageFolderDataModule(
        str(photos), Denoising(), crop_size=32, val_ratio=0.25, test_ratio=0.25
    )
    splits = dm.split_paths()
    assert [len(splits[s]) for s in ("train", "val", "test")] == [4, 2, 2]
    all_paths = [p for s in ("train", "val", "test") for p in splits[s]]
    assert len(set(all_paths)) == 8 and {p.name for p in all_paths} == {
        "a.png",
        "b.jpg",
        "c.webp",
        "d.png",
        "e.jpg",
        "f.png",
        "g.webp",
        "h.JPG",
    }
    again = ImageFolderDataModule(
        str(photos), Denoising(), crop_size=32, val_ratio=0.25, test_ratio=0.25
    )
    assert again.split_paths() == splits
    other = ImageFolderDataModule(
        str(photos), Denoising(), crop_size=32, val_ratio=0.25, test_ratio=0.25, split_seed=3
    )
    assert other.split_paths() != splits
    flat = ImageFolderDataModule(str(photos), Denoising(), crop_size=32, recursive=False)
    assert sum(len(v) for v in flat.split_paths().values()) == 5
    assert snapshot(photos) == before  # nothing written into the user's folder


def test_separate_folders(photos, tmp_path):
    val_root = tmp_path / "val"
    write_image(val_root / "v1.png", 40, 40, 100)
    write_image(val_root / "v2.png", 40, 40, 101)
    dm = ImageFolderDataModule(str(photos), Colorization(), crop_size=32, val_root=str(val_root))
    splits = dm.split_paths()
    assert len(splits["train"]) == 8 and [p.name for p in splits["val"]] == ["v1.png", "v2.png"]
    assert splits["test"] == []
    with pytest.raises(ValueError, match="test split is empty"):
        dm.setup("test")


def test_train_batches_through_the_dataloader(photos):
    dm = ImageFolderDataModule(
        str(photos), Inpainting(mask="box"), crop_size=32, val_ratio=0.25, batch_size=3
    )
    dm.setup("fit")
    assert dm.input_channels == 4
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (3, 3, 32, 32) and batch["image"].dtype == torch.float32
    assert batch["input"].shape == (3, 4, 32, 32) and batch["mask"].shape == (3, 1, 32, 32)
    assert batch["image"].min() >= -1 and batch["image"].max() <= 1
    assert len(batch["path"]) == 3 and all(os.path.exists(p) for p in batch["path"])
    torch.testing.assert_close(batch["input"][:, :3], batch["image"] * (1 - batch["mask"]))
    sr = ImageFolderDataModule(str(photos), SuperResolution(factor=4), crop_size=32, batch_size=2)
    sr.setup("fit")
    sr_batch = next(iter(sr.train_dataloader()))
    assert sr_batch["input"].shape == (2, 3, 8, 8) and sr_batch["image"].shape == (2, 3, 32, 32)


def test_val_is_center_crop_with_deterministic_degradation(photos):
    def val_item(**kwargs):
        dm = ImageFolderDataModule(str(photos), Denoising(sigma=30), crop_size=32, **kwargs)
        dm.setup("validate")
        return dm.dataset("val")[0]

    first, second = val_item(val_ratio=0.5), val_item(val_ratio=0.5)
    assert torch.equal(first["input"], second["input"])
    assert first["path"] == second["path"]
    pixels = read_image(first["path"])
    height, width = pixels.shape[-2:]
    if min(height, width) < 32:
        pixels = resize_shorter_side(pixels, 32)
        height, width = pixels.shape[-2:]
    top, left = (height - 32) // 2, (width - 32) // 2
    expected = to_unit_range(pixels[:, top : top + 32, left : left + 32])
    torch.testing.assert_close(first["image"], expected)
    noise = first["input"] - first["image"]
    assert 0.1 < float(noise.std()) < 0.3  # sigma 30 -> 0.235, clamping lowers it a bit
    # load_size resizes the shorter side first
    resized = val_item(val_ratio=0.5, load_size=40)
    pixels = resize_shorter_side(read_image(resized["path"]), 40)
    top, left = (pixels.shape[-2] - 32) // 2, (pixels.shape[-1] - 32) // 2
    torch.testing.assert_close(
        resized["image"], to_unit_range(pixels[:, top : top + 32, left : left + 32])
    )


def test_small_photos_are_upscaled_and_train_crops_are_keyed_by_seed_epoch_item(photos):
    dm = ImageFolderDataModule(str(photos), Denoising(), crop_size=32, val_ratio=0.0)
    dataset = dm.dataset("train")
    small = [i for i, p in enumerate(dataset.paths) if p.name in ("d.png", "g.webp")]
    assert len(small) == 2
    for i in small:
        assert dataset[i]["image"].shape == (3, 32, 32)
    # an item's crop and noise are a function of (seed, epoch, index): redrawn identically
    drawn = [dataset[ItemKey(i, 3)] for i in range(len(dataset))]
    redrawn = [dataset[ItemKey(i, 3)] for i in range(len(dataset))]
    for a, b in zip(drawn, redrawn):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["input"], b["input"])
    # random crops: the same photo gives different crops in other epochs and with other seeds
    big = next(i for i, p in enumerate(dataset.paths) if p.name == "e.jpg")
    crops = {dataset[ItemKey(big, epoch)]["image"].numpy().tobytes() for epoch in range(6)}
    assert len(crops) > 1
    reseeded = ImageFolderDataModule(
        str(photos), Denoising(), crop_size=32, val_ratio=0.0, seed=1
    ).dataset("train")
    assert not torch.equal(reseeded[ItemKey(big, 3)]["input"], dataset[ItemKey(big, 3)]["input"])


def test_flip_at_train_time_only(tmp_path):
    root = tmp_path / "one"
    write_image(root / "p.png", 32, 32, 0)
    original = to_unit_range(read_image(root / "p.png"))
    flipping = ImageFolderDataModule(str(root), Colorization(), crop_size=32, val_ratio=0.0)
    images = [flipping.dataset("train")[ItemKey(0, epoch)]["image"] for epoch in range(12)]
    assert any(torch.equal(im, original) for im in images)
    assert any(torch.equal(im, original.flip(-1)) for im in images)
    fixed = ImageFolderDataModule(
        str(root), Colorization(), crop_size=32, val_ratio=0.0, flip=False
    )
    assert all(torch.equal(fixed.dataset("train")[0]["image"], original) for _ in range(6))


def test_corrupt_file_fails_naming_it_or_is_skipped(photos):
    data = (photos / "b.jpg").read_bytes()
    (photos / "x" / "broken.jpg").write_bytes(data[: len(data) // 2])
    (photos / "notes.png").write_bytes(b"not an image")
    dm = ImageFolderDataModule(str(photos), Denoising(), crop_size=32)
    with pytest.raises(ImageFileError, match=r"root: 2 unreadable") as error:
        dm.setup("fit")
    assert "notes.png: unreadable" in str(error.value)
    assert "broken.jpg: unreadable or truncated image file (image file is truncated" in str(
        error.value
    )
    skipping = ImageFolderDataModule(str(photos), Denoising(), crop_size=32, on_corrupt="skip")
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable.*broken\.jpg"):
        skipping.setup("fit")
    assert skipping.num_skipped == 2
    kept = skipping.split_paths()["train"] + skipping.split_paths()["val"]
    assert len(kept) == 8 and not any(p.name in ("broken.jpg", "notes.png") for p in kept)


def test_bad_roots_and_arguments(tmp_path, photos):
    missing = ImageFolderDataModule(str(tmp_path / "nowhere"), Denoising(), crop_size=32)
    with pytest.raises(ValueError, match=r"root: .*nowhere' does not exist; expected a folder"):
        missing.setup("fit")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "readme.txt").write_text("no photos")
    empty = ImageFolderDataModule(str(tmp_path / "empty"), Denoising(), crop_size=32)
    with pytest.raises(ValueError, match="root: no image files found"):
        empty.setup("fit")
    with pytest.raises(ValueError, match="crop_size: 30x30 is not divisible"):
        ImageFolderDataModule(str(photos), SuperResolution(factor=4), crop_size=30)
    with pytest.raises(ValueError, match="on_corrupt: expected 'fail' or 'skip'"):
        ImageFolderDataModule(str(photos), Denoising(), on_corrupt="ignore")
    with pytest.raises(ValueError, match="val_ratio \\+ test_ratio"):
        ImageFolderDataModule(str(photos), Denoising(), val_ratio=0.5, test_ratio=0.5)


def test_configurable_from_the_command_line(photos):
    from jsonargparse import ArgumentParser

    parser = ArgumentParser()
    parser.add_class_arguments(ImageFolderDataModule, "data")
    config = parser.parse_args(
        [
            f"--data.root={photos}",
            "--data.degradation=SuperResolution",
            "--data.degradation.factor=2",
            "--data.crop_size=32",
            "--data.batch_size=2",
        ]
    )
    dm = parser.instantiate(config).data
    assert isinstance(dm.degradation, SuperResolution) and dm.degradation.factor == 2
    assert dm.batch_size == 2 and dm.crop_size == 32
