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
