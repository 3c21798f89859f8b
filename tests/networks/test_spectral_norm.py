import io
import pickle

import torch

from cfl_lightning.networks import SPADEGenerator
from cfl_lightning.networks.discriminator import MultiscaleDiscriminator
from cfl_lightning.networks.spectral_norm import spectral_norm


def round_trip(module: torch.nn.Module) -> torch.nn.Module:
    return pickle.loads(pickle.dumps(module))


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    state_a, state_b = a.state_dict(), b.state_dict()
    assert list(state_a) == list(state_b)
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key


def test_spectral_norm_conv_pickles_with_its_power_iteration_state():
    torch.manual_seed(0)
    conv = spectral_norm(torch.nn.Conv2d(3, 5, 3, stride=2, padding=1, padding_mode="reflect"))
    x = torch.randn(2, 3, 8, 8)
    conv(x)  # one power iteration: u and v move away from their initial values
    conv.eval()
    conv.bias.requires_grad_(False)
    copy = round_trip(conv)
    assert type(copy).__name__ == "ParametrizedConv2d" and copy.padding_mode == "reflect"
    assert_same_state(conv, copy)
    assert not copy.training and not copy.bias.requires_grad
    assert copy.parametrizations.weight.original.requires_grad
    assert torch.equal(conv(x), copy(x))


def test_unpickling_leaves_the_global_random_stream_alone():
    blob = pickle.dumps(spectral_norm(torch.nn.Conv2d(2, 2, 3)))
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    pickle.loads(blob)
    assert torch.equal(torch.rand(3), expected)


def test_networks_with_spectral_norm_pickle_and_save_whole():
    torch.manual_seed(0)
    networks = [
        SPADEGenerator(4, ngf=8, hidden=16, num_upsampling_layers="normal"),
        MultiscaleDiscriminator(6, ndf=8, n_layers=2, num_scales=2),
    ]
    inputs = [
        torch.nn.functional.one_hot(torch.randint(0, 4, (2, 64, 64)), 4).permute(0, 3, 1, 2),
        torch.randn(2, 6, 32, 32),
    ]
    for network, x in zip(networks, inputs, strict=True):
        buffer = io.BytesIO()
        torch.save(network, buffer)  # PyTorch alone: "Serialization of parametrized modules..."
        buffer.seek(0)
        copies = [round_trip(network), torch.load(buffer, weights_only=False)]
        network.eval()
        expected = network(x.float())
        for copy in copies:
            assert_same_state(network, copy)
            assert copy.training  # saved in train mode
            torch.testing.assert_close(copy.eval()(x.float()), expected, rtol=0, atol=0)
