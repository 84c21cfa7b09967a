"""Where output goes: a file target is checked before the work that makes it, naming the argument;
a folder that cannot be created is a store fault naming it."""

import pytest

from scaling.atomic import check_target, make_dirs
from scaling.errors import StoreFault


def test_a_writable_file_target_passes(tmp_path):
    assert check_target(tmp_path / "fit.json", argument="out") == tmp_path / "fit.json"
    assert check_target(str(tmp_path / "f.PNG"), argument="figure", suffixes=(".png",)) == tmp_path / "f.PNG"


@pytest.mark.parametrize("name, suffixes, says", [
    ("missing/fit.json", (), "`out`: no such directory"),
    ("fit.txt", (".json",), "`out` must end in .json, got"),
    (".", (), "is a folder; give a file name"),
])
def test_a_bad_file_target_names_its_argument(tmp_path, name, suffixes, says):
    with pytest.raises(ValueError, match=says):
        check_target(tmp_path / name, argument="out", suffixes=suffixes)


def test_a_folder_that_cannot_be_created_is_a_store_fault(tmp_path):
    make_dirs(tmp_path / "a" / "b")
    make_dirs(tmp_path / "a" / "b")  # exists: nothing to do
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreFault, match=f"cannot create {tmp_path / 'file' / 'run'}"):
        make_dirs(tmp_path / "file" / "run")
