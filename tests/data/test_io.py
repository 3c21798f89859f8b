import numpy as np
import pytest
import torch
from PIL import Image

from cfl_lightning.data.io import ImageFileError, read_image, read_label
from cfl_lightning.data.predict_inputs import image_to_tensor


@pytest.fixture
def grey8():
    """A 5x7 8-bit grey image covering 0 and 255."""
    values = np.linspace(0, 255, 35).round().astype(np.uint8).reshape(5, 7)
    values[0, 0], values[-1, -1] = 0, 255
    return values


def expected_rgb(grey: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.repeat(grey[None], 3, axis=0))


def test_8_bit_grey_and_rgb_files_are_read_as_they_are(tmp_path, grey8):
    Image.fromarray(grey8, mode="L").save(tmp_path / "grey.png")
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")

    assert torch.equal(read_image(tmp_path / "grey.png"), expected_rgb(grey8))
    assert torch.equal(read_image(tmp_path / "rgb.png"), torch.from_numpy(rgb).permute(2, 0, 1))


def test_16_bit_grey_png_is_scaled_to_8_bits_not_clipped(tmp_path, grey8):
    # v * 257 maps 0..255 onto 0..65535 exactly: the 16-bit file must read as the 8-bit one.
    Image.fromarray(grey8.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")

    assert torch.equal(read_image(tmp_path / "deep.png"), expected_rgb(grey8))
    # and through the PIL path of predict()
    with Image.open(tmp_path / "deep.png") as image:
        batch = image_to_tensor(image)
    assert torch.allclose(batch[0], expected_rgb(grey8).float() / 127.5 - 1)


def test_16_bit_values_between_8_bit_levels_round_to_the_nearest(tmp_path):
    deep = np.array([[0, 128, 129, 65535 - 128, 65535]], dtype=np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    assert read_image(tmp_path / "deep.png")[0, 0].tolist() == [0, 0, 1, 255, 255]


def test_float_grey_tiff_in_unit_range_is_scaled_by_255(tmp_path, grey8):
    Image.fromarray(grey8.astype(np.float32) / 255, mode="F").save(tmp_path / "float.tif")
    assert torch.equal(read_image(tmp_path / "float.tif"), expected_rgb(grey8))


@pytest.mark.parametrize(
    ("array", "mode", "message"),
    [
        (np.array([[0.0, 1.5]], dtype=np.float32), "F", r"\[0.0, 1.5\]; expected \[0, 1\]"),
        (np.array([[-0.5, 0.5]], dtype=np.float32), "F", r"\[-0.5, 0.5\]; expected \[0, 1\]"),
        (np.array([[0, 70000]], dtype=np.int32), "I", r"\[0, 70000\]; expected \[0, 65535\]"),
    ],
    ids=["float-above-1", "float-negative", "int32-above-16-bit"],
)
def test_out_of_range_deep_images_are_refused_naming_the_file(tmp_path, array, mode, message):
    path = tmp_path / "deep.tif"
    Image.fromarray(array, mode=mode).save(path)
    with pytest.raises(ImageFileError, match=rf"deep\.tif: mode '{mode}' .*{message}"):
        read_image(path)


def test_rgba_drops_alpha_and_labels_keep_16_bit_ids(tmp_path, grey8):
    rgba = np.dstack([grey8, grey8, grey8, np.zeros_like(grey8)])
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    assert torch.equal(read_image(tmp_path / "rgba.png"), expected_rgb(grey8))

    # label maps are ids, not intensities: a 16-bit label file is read unscaled
    ids = np.array([[0, 300, 65535]], dtype=np.uint16)
    Image.fromarray(ids).save(tmp_path / "ids.png")
    assert read_label(tmp_path / "ids.png").tolist() == [[0, 300, 65535]]
