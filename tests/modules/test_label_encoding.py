import pytest
import torch

from cfl_lightning.modules import instance_edges, one_hot_labels


def test_one_hot_matches_a_loop():
    label = torch.tensor([[[0, 2], [1, 255]]])
    encoded = one_hot_labels(label, num_classes=3, dontcare_label=255)
    assert encoded.shape == (1, 4, 2, 2)
    for y in range(2):
        for x in range(2):
            value = int(label[0, y, x])
            channel = 3 if value == 255 else value
            expected = torch.zeros(4)
            expected[channel] = 1
            assert torch.equal(encoded[0, :, y, x], expected)


def test_one_hot_rejects_ids_out_of_range():
    with pytest.raises(ValueError, match=r"label: ids must lie in \[0, 3\).*found ids in \[0, 7\]"):
        one_hot_labels(torch.tensor([[[0, 7]]]), num_classes=3)
    with pytest.raises(ValueError, match=r"label: expected a \(B, H, W\) label map"):
        one_hot_labels(torch.zeros(4, 4, dtype=torch.long), num_classes=3)


def test_instance_edges_mark_both_sides_of_a_boundary():
    instance = torch.tensor([[[1, 1, 2], [1, 1, 2], [3, 3, 3]]])
    edges = instance_edges(instance)[0, 0]
    expected = torch.tensor([[0, 1, 1], [1, 1, 1], [1, 1, 1]], dtype=torch.float)
    assert torch.equal(edges, expected)
    assert instance_edges(torch.ones(1, 4, 4, dtype=torch.long)).sum() == 0


def test_one_hot_id_checks_modes(monkeypatch):
    from cfl_lightning.losses.checks import ValueChecks
    from cfl_lightning.modules import label_encoding

    bad = torch.tensor([[[0, 7]]])
    with pytest.raises(RuntimeError):  # unchecked: F.one_hot itself fails on the CPU
        one_hot_labels(bad, num_classes=3, check_ids="never")
    with pytest.raises(ValueError, match=r"found ids in \[0, 7\]"):
        one_hot_labels(bad, num_classes=3, check_ids=True)
    # Off the CPU (where a check is a host-device sync) the default checks the first 2 calls.
    monkeypatch.setattr(label_encoding, "_ID_CHECKS", ValueChecks("first"))
    on_device = torch.empty(1, 2, 2, dtype=torch.long, device="meta")
    assert [label_encoding._ids_checked(on_device, "first") for _ in range(3)] == [
        True,
        True,
        False,
    ]
    assert label_encoding._ids_checked(on_device, "always")
    assert not label_encoding._ids_checked(on_device, False)
    assert all(label_encoding._ids_checked(bad, "first") for _ in range(3))  # CPU: always
