from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cfl_lightning.data.checks import DatasetError
from cfl_lightning.data.io import ImageFileError, read_image, to_unit_range
from cfl_lightning.data.paired_folder import PairedFolderDataModule, PairedTwoFolderDataModule

RED, BLUE = (255, 0, 0), (0, 0, 255)


def _mask(seed: int) -> np.ndarray:
    """``(32, 32)`` bool of 8x8 blocks, both values present."""
    blocks = np.random.default_rng(seed).integers(0, 2, size=(4, 4)).astype(bool)
    blocks[0, 0], blocks[-1, -1] = True, False
    return np.kron(blocks, np.ones((8, 8), dtype=bool))


def _paint(mask: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """``colour`` where ``mask``, black elsewhere: ``(H, W, 3)`` uint8."""
    return (mask[..., None] * np.array(colour, dtype=np.uint8)).astype(np.uint8)


def _write_side_by_side(root: Path, counts: dict[str, int]) -> Path:
    """A = red where the mask is set, B = blue there; each file 64x32, A|B."""
    for split, count in counts.items():
        (root / split).mkdir(parents=True)
        for i in range(count):
            mask = _mask(sum(map(ord, split)) + i)
            both = np.concatenate([_paint(mask, RED), _paint(mask, BLUE)], axis=1)
            suffix = ("png", "jpg")[i % 2]
            Image.fromarray(both).save(root / split / f"{i}.{suffix}", quality=95, subsampling=0)
    return root


def _write_two_folders(root: Path, count: int, start: int = 0) -> tuple[Path, Path]:
    for i in range(start, start + count):
        mask = _mask(i)
        for name, colour in (("A", RED), ("B", BLUE)):
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(_paint(mask, colour)).save(root / name / f"p{i}.png")
    return root / "A", root / "B"


def _red_blue_masks(item):
    return item["input"][0] > 0, item["image"][2] > 0


def test_side_by_side_halves_and_direction(tmp_path):
    root = _write_side_by_side(tmp_path, {"train": 2, "val": 1})
    file = root / "val" / "0.png"
    both = to_unit_range(read_image(file))
    for direction, (source, target) in {"AtoB": (0, 1), "BtoA": (1, 0)}.items():
        module = PairedFolderDataModule(root, direction=direction, preprocess="none")
        module.setup("validate")
        item = module.dataset("val")[0]
        halves = both[..., :32], both[..., 32:]
        assert torch.equal(item["input"], halves[source])
        assert torch.equal(item["image"], halves[target])
        assert item["path"] == str(file)
    assert module.input_channels == 3


def _is_window(small: torch.Tensor, big: np.ndarray) -> bool:
    big_t = torch.from_numpy(big)
    h, w = small.shape
    return any(
        torch.equal(big_t[top : top + h, left : left + w], small)
        for top in range(big.shape[0] - h + 1)
        for left in range(big.shape[1] - w + 1)
    )


def test_train_items_share_crop_and_flip(tmp_path):
    root = _write_side_by_side(tmp_path, {"train": 3, "val": 1})
    module = PairedFolderDataModule(root, load_size=32, crop_size=24)
    module.setup("fit")
    train = module.dataset("train")
    flips = []
    for index in range(len(train)):
        for _ in range(4):
            item = train[index]
            assert item["input"].shape == item["image"].shape == (3, 24, 24)
            assert item["input"].dtype == item["image"].dtype == torch.float32
            for key in ("input", "image"):
                assert item[key].min() >= -1 and item[key].max() <= 1
            red, blue = _red_blue_masks(item)
            assert torch.equal(red, blue)
            assert red.any() and not red.all()
            mask = _mask(sum(map(ord, "train")) + index)
            as_is, mirrored = _is_window(red, mask), _is_window(red.flip(-1), mask)
            assert as_is or mirrored
            flips.append(mirrored and not as_is)
    assert any(flips) and not all(flips)


def test_defaults_and_splits(tmp_path):
    module = PairedFolderDataModule(tmp_path)
    assert (module.preprocess, module.load_size, module.crop_size, module.flip) == (
        "resize_and_crop",
        286,
        256,
        True,
    )
    root = _write_side_by_side(tmp_path / "data", {"train": 4, "val": 2})
    module = PairedFolderDataModule(root, load_size=32, crop_size=32, batch_size=2)
    module.setup("fit")
    module.setup("test")
    assert [len(module.dataset(s)) for s in ("train", "val", "test")] == [4, 2, 2]
    (root / "test").mkdir()
    Image.new("RGB", (64, 32)).save(root / "test" / "x.png")
    with_test = PairedFolderDataModule(root, load_size=32, crop_size=32)
    with_test.setup("test")
    assert len(with_test.dataset("test")) == 1
    batch = next(iter(module.train_dataloader()))
    assert batch["input"].shape == batch["image"].shape == (2, 3, 32, 32)
    assert len(batch["path"]) == 2


def test_side_by_side_errors(tmp_path):
    with pytest.raises(DatasetError, match=r"root: .*missing does not exist.*side by side"):
        PairedFolderDataModule(tmp_path / "missing").setup("fit")
    (tmp_path / "train").mkdir()
    with pytest.raises(DatasetError, match=r"no images found in .*train"):
        PairedFolderDataModule(tmp_path).setup("fit")
    Image.new("RGB", (1, 8)).save(tmp_path / "train" / "thin.png")
    (tmp_path / "val").mkdir()
    module = PairedFolderDataModule(tmp_path, preprocess="none")
    with pytest.raises(ImageFileError, match=r"thin.png: expected A and B side by side"):
        module.dataset("train")[0]
    (tmp_path / "train" / "cut.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ImageFileError, match=r"cut.jpg: unreadable or truncated"):
        PairedFolderDataModule(tmp_path).dataset("train")[0]
    with pytest.raises(ValueError, match=r"direction: expected one of \('AtoB', 'BtoA'\)"):
        PairedFolderDataModule(tmp_path, direction="AB")


def test_two_folders_pairs_and_direction(tmp_path):
    a_dir, b_dir = _write_two_folders(tmp_path, 5)
    module = PairedTwoFolderDataModule(a_dir, b_dir, val_ratio=0.2, preprocess="none", seed=2)
    module.setup("fit")
    assert [len(module.dataset(s)) for s in ("train", "val")] == [4, 1]
    for sample in module.samples("train") + module.samples("val"):
        assert sample.a.name == sample.b.name
    item = module.dataset("val")[0]
    name = Path(item["path"]).name
    assert torch.equal(item["input"], to_unit_range(read_image(a_dir / name)))
    assert torch.equal(item["image"], to_unit_range(read_image(b_dir / name)))
    reverse = PairedTwoFolderDataModule(a_dir, b_dir, direction="BtoA", preprocess="none", seed=2)
    item = reverse.dataset("val")[0]
    assert torch.equal(item["input"], to_unit_range(read_image(b_dir / name)))


def test_two_folders_shared_crop_and_val_folders(tmp_path):
    a_dir, b_dir = _write_two_folders(tmp_path / "train", 3)
    val_a, val_b = _write_two_folders(tmp_path / "val", 2, start=3)
    module = PairedTwoFolderDataModule(
        a_dir, b_dir, val_a_dir=val_a, val_b_dir=val_b, load_size=32, crop_size=20
    )
    module.setup("fit")
    assert [len(module.dataset(s)) for s in ("train", "val", "test")] == [3, 2, 2]
    for index in range(3):
        item = module.dataset("train")[index]
        red, blue = _red_blue_masks(item)
        assert red.shape == (20, 20) and torch.equal(red, blue)


def test_two_folder_errors(tmp_path):
    a_dir, b_dir = _write_two_folders(tmp_path, 3)
    (b_dir / "p1.png").unlink()
    with pytest.raises(DatasetError, match=r"1 image\(s\) without a B image in b_dir .*\n.*p1.png"):
        PairedTwoFolderDataModule(a_dir, b_dir).setup("fit")
    Image.new("RGB", (16, 32)).save(b_dir / "p1.png")
    module = PairedTwoFolderDataModule(a_dir, b_dir, val_ratio=0, preprocess="none")
    with pytest.raises(
        ImageFileError, match=r"B/p1.png: image is 16x32.*its pair .*A/p1.png is 32x32"
    ):
        module.dataset("train")[1]
    with pytest.raises(ValueError, match=r"val_a_dir, val_b_dir: expected both or neither"):
        PairedTwoFolderDataModule(a_dir, b_dir, val_a_dir=a_dir)
    with pytest.raises(DatasetError, match=r"b_dir: .*nothing does not exist"):
        PairedTwoFolderDataModule(a_dir, tmp_path / "nothing").setup("fit")
