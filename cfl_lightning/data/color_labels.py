"""Colour-coded label maps: RGB files in which each class has its own colour."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from cfl_lightning.data.io import ImageFileError, open_image

MAX_LISTED_COLORS = 5


def _packed(rgb: np.ndarray) -> np.ndarray:
    """``(..., 3)`` uint8 colours -> one int64 per colour."""
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


class ColorLabels:
    """Reads a colour-coded label map as class ids: ``colors[id]`` is the ``(r, g, b)`` colour of
    class ``id`` (0-255 each). A pixel of a colour not in ``colors`` raises
    :class:`ImageFileError` naming the file and the first such colours with their pixel counts
    (labels must be lossless: PNG, not JPEG). Grey, palette and RGBA files are read as RGB.

    Call it with a path: returns ``int64`` ``(H, W)``.
    """

    def __init__(self, colors: Mapping[int, Sequence[int]]) -> None:
        if not colors:
            raise ValueError("colors: expected at least one {id: [r, g, b]} entry, got none")
        ids, packed = [], []
        for class_id, color in colors.items():
            rgb = tuple(color)
            if len(rgb) != 3 or not all(isinstance(c, int) and 0 <= c <= 255 for c in rgb):
                raise ValueError(
                    f"colors: expected [r, g, b] with integers in 0-255 for id {class_id}, got "
                    f"{list(color)!r}"
                )
            if not isinstance(class_id, int) or class_id < 0:
                raise ValueError(f"colors: expected ids that are integers >= 0, got {class_id!r}")
            ids.append(int(class_id))
            packed.append(int(_packed(np.array(rgb, dtype=np.uint8))))
        if len(set(packed)) != len(packed):
            repeated = sorted(
                {tuple(colors[i]) for i, p in zip(ids, packed) if packed.count(p) > 1}
            )
            raise ValueError(f"colors: each class needs its own colour; {repeated} repeat")
        order = np.argsort(packed)
        self.colors = {i: tuple(int(c) for c in colors[i]) for i in ids}
        self._packed = np.asarray(packed, dtype=np.int64)[order]
        self._ids = np.asarray(ids, dtype=np.int64)[order]

    @property
    def ids(self) -> list[int]:
        """The class ids that have a colour, ascending."""
        return sorted(self.colors)

    def to_ids(self, rgb: np.ndarray, source: str | Path = "label map") -> torch.Tensor:
        """``(H, W, 3)`` uint8 colours -> ``int64`` ``(H, W)`` class ids."""
        packed = _packed(rgb)
        index = np.clip(np.searchsorted(self._packed, packed), 0, len(self._packed) - 1)
        known = self._packed[index] == packed
        if not known.all():
            colors, counts = np.unique(packed[~known], return_counts=True)
            first = np.argsort(-counts, kind="stable")[:MAX_LISTED_COLORS]
            listed = ", ".join(
                f"({c >> 16}, {(c >> 8) & 255}, {c & 255}): {n} px"
                for c, n in zip(colors[first].tolist(), counts[first].tolist())
            )
            raise ImageFileError(
                f"{source}: {int((~known).sum())} pixel(s) of {len(colors)} colour(s) not in "
                f"colors, e.g. {listed}; add them to colors, or save the labels losslessly (PNG)"
            )
        return torch.from_numpy(self._ids[index])

    def __call__(self, path: str | Path) -> torch.Tensor:
        image = open_image(Path(path))
        rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
        return self.to_ids(rgb, path)

    def __repr__(self) -> str:
        return f"ColorLabels({self.colors})"
