"""Up-front checks of a dataset's layout, run when a split is built (before training starts).

They read folder listings only, never file contents, so they stay cheap on large datasets; what
needs the pixels (unreadable files, size mismatches, label ids) is checked when an item is loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Sized
from pathlib import Path
from typing import TypeVar

import torch

from cfl_lightning.data.io import list_images

MAX_LISTED = 5
T = TypeVar("T")


class DatasetError(ValueError):
    """A dataset folder that does not have the expected layout; the message says what to fix."""


def require_folder(folder: Path, argument: str, layout: str) -> None:
    """Raise :class:`DatasetError` when ``folder`` is not a directory.

    ``argument`` names the setting that led to it (e.g. ``"root"``), ``layout`` describes the
    expected folders (e.g. ``"<root>/leftImg8bit/<split>/<city>/*_leftImg8bit.png"``).
    """
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        raise DatasetError(f"{argument}: {folder} {what}; expected the layout {layout}")


def format_some(paths: Iterable[object], total: int | None = None) -> str:
    """The first few items, one per line, with a count of the rest."""
    items = list(paths)
    total = len(items) if total is None else total
    shown = "\n".join(f"  {item}" for item in items[:MAX_LISTED])
    more = f"\n  ... and {total - MAX_LISTED} more" if total > MAX_LISTED else ""
    return shown + more


def index_by_key(folder: Path, suffix_to_strip: str = "") -> dict[str, Path]:
    """Image files under ``folder`` keyed by their path relative to it, without the extension and
    without ``suffix_to_strip`` (e.g. ``"_leftImg8bit"``); two files with one key are an error."""
    index: dict[str, Path] = {}
    for path in list_images(folder):
        key = path.relative_to(folder).with_suffix("").as_posix()
        if suffix_to_strip:
            if not key.endswith(suffix_to_strip):
                continue
            key = key[: -len(suffix_to_strip)]
        if key in index:
            raise DatasetError(
                f"{folder}: two files match the name {key!r}: {index[key].name} and {path.name}; "
                "keep one"
            )
        index[key] = path
    return index


def require_nonempty(found: Sized, folder: Path, what: str) -> None:
    """Raise :class:`DatasetError` when no files were found."""
    if not found:
        raise DatasetError(f"no {what} found in {folder}")


def require_matches(
    keys: Iterable[str],
    index: Mapping[str, Path],
    sources: Mapping[str, Path],
    what: str,
    where: str,
) -> None:
    """Raise :class:`DatasetError` listing the files of ``sources`` whose key is not in ``index``.

    ``what`` names the missing kind (e.g. ``"a label map"``), ``where`` the expected place.
    """
    missing = [sources[key] for key in keys if key not in index]
    if missing:
        raise DatasetError(
            f"{len(missing)} image(s) without {what} in {where}:\n{format_some(missing)}"
        )


def hold_out_split(items: Sequence[T], val_ratio: float, seed: int) -> tuple[list[T], list[T]]:
    """Split ``items`` into ``(train, val)``: ``round(len * val_ratio)`` items (at least one when
    ``val_ratio > 0``) drawn with ``seed`` are held out; both keep their original order.

    Raises ``ValueError`` when nothing would be left for training.
    """
    num_val = max(1, round(len(items) * val_ratio)) if val_ratio > 0 else 0
    if num_val >= len(items):
        raise ValueError(
            f"val_ratio: {val_ratio} of {len(items)} pairs leaves no training pairs; lower it, "
            "add images or give validation folders"
        )
    order = torch.randperm(len(items), generator=torch.Generator().manual_seed(seed))
    held_out = set(order[:num_val].tolist())
    train = [item for i, item in enumerate(items) if i not in held_out]
    val = [item for i, item in enumerate(items) if i in held_out]
    return train, val
