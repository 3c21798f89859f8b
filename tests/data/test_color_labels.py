import numpy as np
import pytest
import torch
from PIL import Image

from cfl_lightning.data.color_labels import ColorLabels
from cfl_lightning.data.io import ImageFileError
from cfl_lightning.data.label_folder import LabelFolderDataModule

COLORS = {0: [128, 64, 128], 1: [244, 35, 232], 2: [0, 0, 142], 255: [0, 0, 0]}


def paint(ids: np.ndarray, colors=COLORS) -> np.ndarray:
    """Independent encoding: a loop over the classes."""
    rgb = np.zeros((*ids.shape, 3), dtype=np.uint8)
    for class_id, color in colors.items():
        rgb[ids == class_id] = color
    return rgb


@pytest.fixture
def ids():
    values = np.random.default_rng(0).choice([0, 1, 2, 255], size=(12, 20))
    values[0, :4] = [0, 1, 2, 255]
    return values


def test_colour_coded_map_reads_as_its_ids(tmp_path, ids):
    Image.fromarray(paint(ids)).save(tmp_path / "l.png")
    Image.fromarray(np.dstack([paint(ids), np.full(ids.shape, 255, np.uint8)])).save(
        tmp_path / "rgba.png"
    )
    reader = ColorLabels(COLORS)
    for name in ("l.png", "rgba.png"):
        label = reader(tmp_path / name)
        assert label.dtype == torch.int64
        assert torch.equal(label, torch.from_numpy(ids.astype(np.int64)))
    assert reader.ids == [0, 1, 2, 255]


def test_unknown_colours_are_named_with_their_counts(tmp_path, ids):
    rgb = paint(ids)
    rgb[0, 0] = [1, 2, 3]
    rgb[1, :3] = [9, 9, 9]
    Image.fromarray(rgb).save(tmp_path / "bad.png")
    with pytest.raises(
        ImageFileError,
        match=r"bad\.png: 4 pixel\(s\) of 2 colour\(s\) not in colors, e\.g\. \(9, 9, 9\): 3 px, "
        r"\(1, 2, 3\): 1 px",
    ):
        ColorLabels(COLORS)(tmp_path / "bad.png")


@pytest.mark.parametrize(
    ("colors", "match"),
    [
        ({}, r"colors: expected at least one"),
        ({0: [1, 2]}, r"colors: expected \[r, g, b\] .* for id 0, got \[1, 2\]"),
        ({0: [1, 2, 256]}, r"for id 0, got \[1, 2, 256\]"),
        ({-1: [1, 2, 3]}, r"colors: expected ids that are integers >= 0, got -1"),
        ({0: [1, 2, 3], 1: [1, 2, 3]}, r"colors: each class needs its own colour; \[\(1, 2, 3\)\]"),
    ],
)
def test_bad_colour_tables_are_refused(colors, match):
    with pytest.raises(ValueError, match=match):
        ColorLabels(colors)


def write_pairs(root, ids_list, colour: bool):
    for sub in ("labels", "images"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, ids in enumerate(ids_list):
        label = paint(ids) if colour else ids.astype(np.uint8)
        Image.fromarray(label).save(root / "labels" / f"p{i}.png")
        image = np.random.default_rng(i).integers(0, 256, (*ids.shape, 3), dtype=np.uint8)
        Image.fromarray(image).save(root / "images" / f"p{i}.png")


def test_label_folder_with_colours_gives_the_items_of_id_files(tmp_path):
    rng = np.random.default_rng(1)
    maps = [rng.choice([0, 1, 2, 255], size=(40, 48)) for _ in range(4)]
    write_pairs(tmp_path / "ids", maps, colour=False)
    write_pairs(tmp_path / "rgb", maps, colour=True)
    common = {"num_classes": 3, "dontcare_label": 255, "load_size": 40, "crop_size": 32}
    by_id = LabelFolderDataModule(tmp_path / "ids/labels", tmp_path / "ids/images", **common)
    by_colour = LabelFolderDataModule(
        tmp_path / "rgb/labels", tmp_path / "rgb/images", colors=COLORS, **common
    )
    for module in (by_id, by_colour):
        module.setup("fit")
    for split in ("train", "val"):
        for a, b in zip(by_id.dataset(split), by_colour.dataset(split), strict=True):
            assert torch.equal(a["label"], b["label"]) and torch.equal(a["image"], b["image"])
    # predict reads colour-coded label maps too
    inputs = by_colour.build_predict_dataset(tmp_path / "rgb/labels")
    assert torch.equal(inputs.load(0)["label"], torch.from_numpy(maps[0].astype(np.int64)))
    # without colors, an RGB label map is refused with its mode
    plain = LabelFolderDataModule(tmp_path / "rgb/labels", tmp_path / "rgb/images", **common)
    plain.setup("fit")
    with pytest.raises(ImageFileError, match=r"p\d\.png: expected a single-channel label map"):
        plain.dataset("train")[0]


def test_colour_ids_must_be_classes_or_dontcare(tmp_path):
    with pytest.raises(ValueError, match=r"colors: ids \[255\] are neither classes \[0, num_cl"):
        LabelFolderDataModule(tmp_path, tmp_path, num_classes=3, colors=COLORS)
