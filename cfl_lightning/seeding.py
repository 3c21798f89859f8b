"""Seeds derived from named parts: every random stream of the package is a pure function of them.

``derive_seed(seed, "augment", epoch, index)`` is the same on every call, process and machine,
and streams with different parts are independent (the parts are hashed), so a stream keyed by
(seed, epoch, item) or (seed, rank, step) can be recreated anywhere without saving any state.
"""

from __future__ import annotations

import hashlib
import os

import torch


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from ``parts`` (their ``str`` forms joined by ``/``, hashed)."""
    text = "/".join(str(part) for part in parts)
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % (2**63)


def seeded_generator(*parts: object, device: torch.device | str | None = None) -> torch.Generator:
    """A new ``torch.Generator`` on ``device`` (default CPU), seeded ``derive_seed(*parts)``."""
    generator = torch.Generator() if device is None else torch.Generator(device=device)
    return generator.manual_seed(derive_seed(*parts))


def global_seed() -> int | None:
    """The seed given to ``seed_everything`` in this process (``PL_GLOBAL_SEED``), or None."""
    value = os.environ.get("PL_GLOBAL_SEED")
    return None if value is None else int(value)
