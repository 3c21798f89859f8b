"""Print setup.cfg's requirements pinned at their lower bounds, one per line, for
`make check-floors`: install_requires and every extra, each ``name>=X`` as ``name==X``.

A requirement without a lower bound is an error: its floor would be whatever pip picks.
Usage: python tools/floor_requirements.py [setup.cfg]
"""

from __future__ import annotations

import configparser
import re
import sys
from pathlib import Path

FLOOR = re.compile(
    r"^(?P<name>[A-Za-z0-9_.\-]+(\[[A-Za-z0-9_,\-]+\])?)\s*>=\s*(?P<version>[^,;\s]+)"
)


def requirement_lines(setup_cfg: Path) -> list[str]:
    """install_requires and every extra of ``setup_cfg``, in order."""
    parser = configparser.ConfigParser()
    parser.read(setup_cfg)
    blocks = [parser["options"].get("install_requires", "")]
    if parser.has_section("options.extras_require"):
        blocks += [value for _, value in parser.items("options.extras_require")]
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def pinned_at_floor(requirement: str) -> str:
    """``name[extra]>=X,<Y`` -> ``name[extra]==X``."""
    match = FLOOR.match(requirement)
    if match is None:
        raise SystemExit(f"{requirement!r}: expected a lower bound (name>=version)")
    return f"{match['name']}=={match['version']}"


def main() -> None:
    setup_cfg = Path(sys.argv[1] if len(sys.argv) > 1 else "setup.cfg")
    for requirement in requirement_lines(setup_cfg):
        print(pinned_at_floor(requirement))


if __name__ == "__main__":
    main()
