"""Issue 11, class 2 (files outside a prepared set): nothing outside it is read, through a link or a path.

A prepared set may come from someone else. An image replaced by a symbolic link
to a file outside the set, or a manifest row naming ``../`` paths, must be
refused with the path named, never read.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from medzoo import datasets
from medzoo.errors import FormatError, MedzooError


@pytest.fixture
def hostile(prepared_phantom, tmp_path: Path) -> Path:
    out = tmp_path / "prepared"
    shutil.copytree(prepared_phantom("chestxray14"), out)
    return out


def test_an_image_that_is_a_link_outside_is_refused_by_path(hostile: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not yours")
    ds = datasets.open(hostile, split="test")
    victim = hostile / ds.manifest["path"].iloc[0]
    victim.unlink()
    victim.symlink_to(secret)
    with pytest.raises(MedzooError, match="link") as err:
        ds[0]
    assert victim.name in err.value.message


def test_a_dataset_json_that_is_a_link_is_refused(hostile: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    shutil.copy(hostile / "dataset.json", elsewhere)
    (hostile / "dataset.json").unlink()
    (hostile / "dataset.json").symlink_to(elsewhere)
    with pytest.raises(FormatError, match="link"):
        datasets.read_info(hostile)


def test_a_manifest_path_leaving_the_set_is_refused(hostile: Path) -> None:
    df = datasets.read_manifest(hostile)
    df.loc[0, "path"] = "images/../../../etc/passwd"
    df.to_parquet(hostile / "manifest.parquet", index=False)
    with pytest.raises(FormatError, match=r"column 'path' row 0 names 'images/../../../etc/passwd'"):
        datasets.open(hostile, split="train")
