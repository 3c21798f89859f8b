"""The generator exported to ONNX (Lightning's ``to_onnx``) gives what PyTorch gives."""

import numpy as np
import pytest
import torch

from cfl_lightning.modules import (
    ColorizationModule,
    Pix2PixModule,
    SemanticSynthesisModule,
    SuperResolutionModule,
)
from cfl_lightning.modules.onnx_exporter import exports_onnx_correctly
from cfl_lightning.networks import ResidualSRGenerator, SPADEGenerator, UNetGenerator

REASON = "the onnx extra is not installed: pip install -e '.[onnx]'"
ort = pytest.importorskip("onnxruntime", reason=REASON)
pytest.importorskip("onnxscript", reason=REASON)
# export_onnx refuses older torch releases (tests/modules/test_onnx_exporter.py).
NEEDS_EXPORTER = pytest.mark.skipif(
    not exports_onnx_correctly(str(torch.__version__)),
    reason=f"export_onnx needs torch >= 2.8, found {torch.__version__}",
)
# ONNX Runtime and PyTorch order float32 sums differently; outputs are in [-1, 1].
ONNX_TOLERANCE = 1e-5


def run_onnx(path, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["prediction"], {"input": x.numpy()})[0]


def assert_parity(module, path, shapes, make_input) -> None:
    module.eval()
    for shape in shapes:
        x = make_input(shape)
        with torch.no_grad():
            expected = module.generator(x).numpy()
        got = run_onnx(path, x)
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() < ONNX_TOLERANCE, shape


def images(shape) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(sum(shape))) * 2 - 1


@NEEDS_EXPORTER
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["unet", "super_resolution", "colorization_keep_luminance"])
def test_exported_generator_matches_torch_at_several_sizes(tmp_path, kind):
    torch.manual_seed(0)
    if kind == "unet":
        module = Pix2PixModule(UNetGenerator(3, num_downs=3, ngf=4), losses={"l1": 1.0}, metrics=())
        shapes = [(1, 3, 32, 32), (2, 3, 48, 64)]
    elif kind == "colorization_keep_luminance":
        generator = UNetGenerator(1, num_downs=3, ngf=4)
        module = ColorizationModule(generator, keep_luminance=True, losses={"l1": 1.0}, metrics=())
        shapes = [(1, 1, 32, 32), (2, 1, 48, 40)]
    else:
        generator = ResidualSRGenerator(2, nf=8, n_blocks=1)
        module = SuperResolutionModule(generator, scale=2, losses={"l1": 1.0}, metrics=())
        shapes = [(1, 3, 16, 16), (2, 3, 23, 31)]
    path = tmp_path / f"{kind}.onnx"
    module.export_onnx(path, shapes[0])
    assert module.training  # its mode is restored
    assert_parity(module, path, shapes, images)


@NEEDS_EXPORTER
@pytest.mark.slow
def test_spade_exports_at_a_fixed_size(tmp_path):
    torch.manual_seed(0)
    module = SemanticSynthesisModule(
        SPADEGenerator(6, ngf=4, hidden=4), num_classes=6, losses={"l1": 1.0}, metrics=()
    )

    def one_hot(shape):
        labels = torch.randint(0, 6, (shape[0], *shape[2:]), generator=torch.Generator())
        return module.predict_input({"label": labels})

    path = tmp_path / "spade.onnx"
    module.export_onnx(path, (1, 6, 64, 32), dynamic_size=False)
    assert_parity(module, path, [(1, 6, 64, 32)], one_hot)


def test_a_failed_size_dynamic_export_says_what_to_do(monkeypatch, tmp_path):
    module = SemanticSynthesisModule(
        SPADEGenerator(6, ngf=4, hidden=4), num_classes=6, losses={"l1": 1.0}, metrics=()
    )

    def refuse(*args, **kwargs):
        assert "dynamic_shapes" in kwargs
        raise RuntimeError("Constraints violated (test)")

    monkeypatch.setattr(module, "to_onnx", refuse)
    monkeypatch.setattr(torch, "__version__", "2.14.1")  # past the release check
    with pytest.raises(ValueError, match=r"SPADEGenerator could not .* pass dynamic_size=False"):
        module.export_onnx(tmp_path / "x.onnx", (1, 6, 64, 32))
    assert module.training
