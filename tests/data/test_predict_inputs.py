from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cfl_lightning.callbacks import PredictionWriter
from cfl_lightning.data import (
    ADE20KDataModule,
    CityscapesDataModule,
    Colorization,
    DatasetError,
    Denoising,
    ImageFileError,
    ImageFolderDataModule,
    Inpainting,
    LabelFolderDataModule,
    PairedTwoFolderDataModule,
    SuperResolution,
    SyntheticTexturesDataModule,
)
from cfl_lightning.data.degradations import Degradation, rgb_to_luminance
from cfl_lightning.data.predict_inputs import (
    LabelInputs,
    PhotoInputs,
    image_to_tensor,
    tensor_to_image,
)
from tests.data.conftest import save
from tests.modules.tiny import make_module, make_trainer


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def unit(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array).permute(2, 0, 1).float() / 127.5 - 1


def write_photos(root: Path) -> dict[str, np.ndarray]:
    photos = {"a": photo(31, 23, 1), "sub/b": photo(17, 40, 2), "sub/deeper/c": photo(9, 9, 3)}
    for name, array in photos.items():
        save(root / f"{name}.png", array)
    return photos


def test_photos_keep_their_size_and_relative_names(tmp_path):
    photos = write_photos(tmp_path)
    inputs = PhotoInputs(tmp_path)
    assert inputs.names == ["a", "sub/b", "sub/deeper/c"]
    for index, name in enumerate(inputs.names):
        item = inputs[index]
        assert item["name"] == name and item["path"] == str(tmp_path / f"{name}.png")
        assert torch.equal(item["input"], unit(photos[name]))


def test_colorization_takes_the_luminance_of_colour_and_grey_photos(tmp_path):
    save(tmp_path / "colour.png", photo(12, 14))
    grey = np.random.default_rng(5).integers(0, 256, size=(12, 14), dtype=np.uint8)
    Image.fromarray(grey, mode="L").save(tmp_path / "grey.png")
    dm = ImageFolderDataModule("unused", Colorization(), predict_root=str(tmp_path))
    inputs = dm.predict_inputs()
    colour, grey_item = inputs[0], inputs[1]
    assert colour["input"].shape == (1, 12, 14)
    assert torch.allclose(colour["input"], rgb_to_luminance(unit(photo(12, 14))))
    assert torch.allclose(
        grey_item["input"][0], torch.from_numpy(grey).float() / 127.5 - 1, atol=1e-5
    )


def test_super_resolution_inputs_are_the_low_resolution_photos(tmp_path):
    save(tmp_path / "small.png", photo(23, 31))
    plain = ImageFolderDataModule("unused", SuperResolution(4), predict_root=str(tmp_path))
    assert plain.predict_inputs()[0]["input"].shape == (3, 23, 31)
    upsampled = ImageFolderDataModule(
        "unused", SuperResolution(4, upsample=True), crop_size=128, predict_root=str(tmp_path)
    )
    assert upsampled.predict_inputs()[0]["input"].shape == (3, 92, 124)


def test_denoising_and_pix2pix_inputs_are_the_photos(tmp_path):
    photos = write_photos(tmp_path / "in")
    denoising = ImageFolderDataModule("unused", Denoising(), predict_root=str(tmp_path / "in"))
    paired = PairedTwoFolderDataModule("a", "b", predict_root=str(tmp_path / "in"))
    for dm in (denoising, paired):
        item = dm.predict_inputs()[1]
        assert item["name"] == "sub/b" and torch.equal(item["input"], unit(photos["sub/b"]))


def test_inpainting_reads_photos_and_masks(tmp_path):
    save(tmp_path / "x" / "p.png", photo(20, 30))
    mask = np.zeros((20, 30), dtype=np.uint8)
    mask[5:10, 3:20] = 255
    save(tmp_path / "masks" / "x" / "p.png", mask)
    dm = ImageFolderDataModule("unused", Inpainting(), predict_root=str(tmp_path))
    inputs = dm.predict_inputs()
    assert inputs.names == ["x/p"]  # the masks folder is not an input
    item = inputs[0]
    hole = torch.from_numpy(mask >= 128)
    assert item["input"].shape == (4, 20, 30)
    assert torch.equal(item["input"][3], hole.float())
    assert torch.equal(item["input"][:3, hole], torch.zeros(3, int(hole.sum())))
    assert torch.equal(item["input"][:3, ~hole], unit(photo(20, 30))[:, ~hole])


def write_masked(root: Path, mask: np.ndarray | None, mode: str = "L") -> None:
    save(root / "p.png", photo(20, 30))
    if mask is not None:
        (root / "masks").mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask, mode=mode).save(root / "masks" / "p.png")


def test_inpainting_errors_name_the_file(tmp_path):
    write_masked(tmp_path / "none", None)
    with pytest.raises(DatasetError, match=r"masks/<photo path>\.png"):
        PhotoInputs(tmp_path / "none", masks=True)
    (tmp_path / "none" / "masks").mkdir()
    save(tmp_path / "none" / "masks" / "other.png", np.zeros((20, 30), np.uint8))
    with pytest.raises(
        DatasetError,
        match=r"(?s)1 input\(s\) without a mask.*none/p\.png \(expected .*masks/p\.png\)",
    ):
        PhotoInputs(tmp_path / "none", masks=True)

    write_masked(tmp_path / "rgb", photo(20, 30), mode="RGB")
    with pytest.raises(
        ImageFileError, match=r"masks/p\.png: expected a single-channel mask.*'RGB'"
    ):
        PhotoInputs(tmp_path / "rgb", masks=True).check_all()

    write_masked(tmp_path / "size", np.zeros((10, 30), np.uint8))
    with pytest.raises(ImageFileError, match=r"masks/p\.png: mask is 30x10 .* is 30x20"):
        PhotoInputs(tmp_path / "size", masks=True).check_all()


def write_labels(root: Path, ids: np.ndarray, name: str = "m", instances: bool = False) -> None:
    save(root / "labels" / f"{name}.png", ids.astype(np.uint8))
    if instances:
        save(root / "instances" / f"{name}.png", (ids * 1000 + 7).astype(np.uint16))


def test_label_maps_with_instances(tmp_path):
    ids = np.random.default_rng(0).integers(0, 5, size=(45, 70))
    write_labels(tmp_path, ids, "sub/m", instances=True)
    inputs = LabelInputs(tmp_path, num_classes=5, instances=True)
    item = inputs[0]
    assert item["name"] == "sub/m"
    assert torch.equal(item["label"], torch.from_numpy(ids))
    assert torch.equal(item["instance"], torch.from_numpy(ids * 1000 + 7))


def test_a_plain_folder_of_label_maps(tmp_path):
    save(tmp_path / "a.png", np.full((9, 11), 2, np.uint8))
    module = SyntheticTexturesDataModule(num_classes=3, predict_root=str(tmp_path))
    item = module.predict_inputs()[0]
    assert item["name"] == "a" and item["label"].shape == (9, 11) and "instance" not in item


def test_label_errors_name_the_file(tmp_path):
    write_labels(tmp_path / "range", np.full((8, 8), 9))
    with pytest.raises(ImageFileError, match=r"labels/m\.png: label id\(s\) \[9\] outside"):
        LabelInputs(tmp_path / "range", num_classes=5).check_all()

    save(tmp_path / "rgb" / "m.png", photo(8, 8))
    with pytest.raises(ImageFileError, match=r"rgb/m\.png: expected a single-channel label map"):
        LabelInputs(tmp_path / "rgb", num_classes=5).check_all()

    write_labels(tmp_path / "noinst", np.zeros((8, 8)))
    with pytest.raises(DatasetError, match=r"instances/<label path>\.png"):
        LabelInputs(tmp_path / "noinst", num_classes=5, instances=True)

    write_labels(tmp_path / "size", np.zeros((8, 8)), instances=True)
    save(tmp_path / "size" / "instances" / "m.png", np.zeros((8, 9), np.uint16))
    with pytest.raises(ImageFileError, match=r"instances/m\.png: instance map is 9x8"):
        LabelInputs(tmp_path / "size", num_classes=5, instances=True).check_all()


def test_dataset_label_conventions_apply(tmp_path):
    raw = np.array([[0, 1], [150, 151]])
    write_labels(tmp_path, raw)
    ade = ADE20KDataModule("unused", predict_root=str(tmp_path))
    with pytest.raises(ImageFileError, match=r"label id\(s\) \[150\] \(value\(s\) \[151\] in"):
        ade.predict_inputs()
    write_labels(tmp_path, raw[:, :1].repeat(2, 1))
    assert ade.predict_inputs()[0]["label"].tolist() == [[255, 255], [149, 149]]  # 0 = don't care

    write_labels(tmp_path / "city", np.zeros((4, 4)), instances=True)
    city = CityscapesDataModule("unused", predict_root=str(tmp_path / "city"))
    assert "instance" in city.predict_inputs()[0]
    folder = LabelFolderDataModule("l", "i", 5, predict_root=str(tmp_path / "city"))
    assert "instance" not in folder.predict_inputs()[0]


def test_every_bad_input_is_reported_at_once(tmp_path):
    save(tmp_path / "good.png", photo(8, 8))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageFileError) as error:
        PhotoInputs(tmp_path).check_all()
    message = str(error.value)
    assert "2 bad input(s) of 3; nothing was predicted" in message
    assert "broken.png: unreadable" in message and "empty.jpg: unreadable" in message


def test_folder_errors(tmp_path):
    with pytest.raises(DatasetError, match=r"predict_root: .* does not exist"):
        PhotoInputs(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no image files"):
        PhotoInputs(tmp_path / "empty")
    save(tmp_path / "twice" / "x.png", photo(4, 4))
    save(tmp_path / "twice" / "x.jpg", photo(4, 4))
    with pytest.raises(DatasetError, match=r"would both be predicted as x\.png"):
        PhotoInputs(tmp_path / "twice")


def test_degradations_without_an_input_rule_are_refused(tmp_path):
    class Blur(Degradation):
        pass

    save(tmp_path / "x.png", photo(4, 4))
    dm = ImageFolderDataModule("unused", Blur(), predict_root=str(tmp_path))
    with pytest.raises(ValueError, match="no rule to make inputs for Blur"):
        dm.setup("predict")


def test_the_predict_loader_gives_one_input_per_batch_at_its_size(tmp_path):
    write_photos(tmp_path)
    dm = ImageFolderDataModule("unused", Denoising(), batch_size=8, predict_root=str(tmp_path))
    dm.setup("predict")
    batches = list(dm.predict_dataloader())
    assert [b["name"] for b in batches] == [["a"], ["sub/b"], ["sub/deeper/c"]]
    assert [tuple(b["input"].shape) for b in batches] == [
        (1, 3, 31, 23),
        (1, 3, 17, 40),
        (1, 3, 9, 9),
    ]


def test_a_bad_input_stops_predict_before_anything_is_written(tmp_path):
    inputs = tmp_path / "in"
    write_photos(inputs)
    (inputs / "zz_broken.png").write_bytes(b"garbage")  # sorted last: would be predicted last
    dm = ImageFolderDataModule("unused", Denoising(), predict_root=str(inputs))
    out = tmp_path / "out"
    with pytest.raises(ImageFileError, match=r"zz_broken\.png"):
        make_trainer(callbacks=[PredictionWriter(str(out))]).predict(
            make_module({"l1": 1.0}), datamodule=dm
        )
    assert not out.exists() or not any(out.rglob("*"))


def test_pil_and_tensor_conversions_round_trip(tmp_path):
    array = photo(7, 5)
    tensor = image_to_tensor(Image.fromarray(array))
    assert tensor.shape == (1, 3, 7, 5) and torch.equal(tensor[0], unit(array))
    save(tmp_path / "p.png", array)
    assert torch.equal(image_to_tensor(tmp_path / "p.png"), tensor)
    assert np.array_equal(np.asarray(tensor_to_image(tensor)), array)


@pytest.mark.parametrize(("channels", "mode"), [(1, "L"), (3, "RGB"), (4, "RGBA")])
def test_predictions_of_one_three_or_four_channels_become_images(tmp_path, channels, mode):
    values = torch.arange(channels * 6, dtype=torch.float32).reshape(channels, 2, 3)
    tensor = values / values.max() * 2 - 1  # [-1, 1]
    image = tensor_to_image(tensor)
    assert image.mode == mode and image.size == (3, 2)
    image.save(tmp_path / "p.png")
    stored = np.asarray(Image.open(tmp_path / "p.png")).reshape(2, 3, channels)
    expected = ((tensor + 1) / 2 * 255 + 0.5).floor().to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(stored, expected)


@pytest.mark.parametrize("shape", [(2, 4, 4), (5, 4, 4), (2, 3, 4, 4), (4, 4)])
def test_predictions_that_are_no_image_raise_clear_errors(shape):
    with pytest.raises(ValueError, match=r"prediction: expected .*got shape"):
        tensor_to_image(torch.zeros(shape))
