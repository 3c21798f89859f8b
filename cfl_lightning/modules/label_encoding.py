"""Label maps to generator inputs: one-hot classes, a don't-care channel and instance edges."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cfl_lightning.losses.checks import ValueChecks, value_check_mode

# The default id checks ("first") of label maps off the CPU in this process: the first calls.
_ID_CHECKS = ValueChecks("first")


def _ids_checked(label: torch.Tensor, check_ids: bool | str) -> bool:
    """Whether :func:`one_hot_labels` checks the ids of ``label`` in mode ``check_ids``."""
    mode = value_check_mode(check_ids)
    if mode != "first":
        return mode == "always"
    # On the CPU the check costs no host-device sync: always.
    return label.device.type == "cpu" or _ID_CHECKS.due()


def one_hot_labels(
    label: torch.Tensor,
    num_classes: int,
    dontcare_label: int | None = None,
    check_ids: bool | str = "first",
) -> torch.Tensor:
    """``(B, H, W)`` int64 -> ``(B, C, H, W)`` float one-hot.

    ``C = num_classes``, plus one channel for ``dontcare_label`` pixels when it is set (SPADE's
    ``contain_dontcare_label``). Any other id outside ``[0, num_classes)`` raises ``ValueError``
    when the ids are checked, which copies their minimum and maximum to the host (on a GPU a
    host-device sync): ``check_ids="first"`` (default) on every call for label maps on the CPU
    and on the first 2 calls of the process for label maps on another device, ``"always"`` (or
    True) on every call, ``"never"`` (or False) not at all. Unchecked, an id out of range still
    fails inside ``F.one_hot`` (a ``RuntimeError`` on the CPU, a device-side assertion on a GPU),
    without the host waiting for the device.
    """
    if label.dim() == 4 and label.shape[1] == 1:
        label = label[:, 0]
    if label.dim() != 3:
        raise ValueError(f"label: expected a (B, H, W) label map, got shape {tuple(label.shape)}")
    label = label.long()
    if dontcare_label is not None:
        label = torch.where(label == dontcare_label, torch.full_like(label, num_classes), label)
    channels = num_classes + (1 if dontcare_label is not None else 0)
    if _ids_checked(label, check_ids):
        _check_ids(label, num_classes, channels, dontcare_label)
    return F.one_hot(label, channels).permute(0, 3, 1, 2).float()


def _check_ids(
    label: torch.Tensor, num_classes: int, channels: int, dontcare_label: int | None
) -> None:
    low, high = torch.aminmax(label)  # one host copy below
    low, high = (int(v) for v in torch.stack([low, high]).tolist())
    if low < 0 or high >= channels:
        raise ValueError(
            f"label: ids must lie in [0, {num_classes}) (num_classes={num_classes}"
            + (f", don't-care id {dontcare_label}" if dontcare_label is not None else "")
            + f"), found ids in [{low}, {high}]"
        )


def instance_edges(instance: torch.Tensor) -> torch.Tensor:
    """``(B, H, W)`` instance ids -> ``(B, 1, H, W)`` float map, 1 where a pixel's id differs from
    its right or lower neighbour (both pixels of the pair are marked), as SPADE's ``get_edges``."""
    if instance.dim() == 4 and instance.shape[1] == 1:
        instance = instance[:, 0]
    if instance.dim() != 3:
        raise ValueError(
            f"instance: expected a (B, H, W) instance map, got shape {tuple(instance.shape)}"
        )
    edges = torch.zeros_like(instance, dtype=torch.bool)
    horizontal = instance[:, :, 1:] != instance[:, :, :-1]
    vertical = instance[:, 1:, :] != instance[:, :-1, :]
    edges[:, :, 1:] |= horizontal
    edges[:, :, :-1] |= horizontal
    edges[:, 1:, :] |= vertical
    edges[:, :-1, :] |= vertical
    return edges.unsqueeze(1).float()


def label_palette(num_colors: int, seed: int = 0) -> torch.Tensor:
    """A fixed ``(num_colors, 3)`` palette in ``[-1, 1]`` for showing label maps."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(num_colors, 3, generator=generator) * 2 - 1
