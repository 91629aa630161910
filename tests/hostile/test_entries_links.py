"""Issue 11 class 2 for the zoo store: no file that resolves outside its entry is read, copied, pushed
or loaded. Every file and folder of an entry is replaced by a link, at every depth; each command refuses
with the link's path named, and nothing outside the zoo is copied or changed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from entries_zoo import SECRET, assert_one_error_line, image_png, run_cli, secret_file, write_entry

from medzoo.errors import MedzooError
from medzoo.zoo.entries import hub, store

ENTRY = "figshare-brain/m"
#: every kind of file an entry holds, at every depth
FILE_LINKS = (
    "model.safetensors",
    "config.json",
    "metrics.json",
    "README.md",
    "plots/roc.png",
    "plots/deep/a.png",
)
FOLDER_LINKS = ("plots", "plots/deep", "gradcam")
#: what each operation must refuse: the files it reads (load reads config.json and the weights only)
LOAD_READS = {"model.safetensors", "config.json"}


def _link(zoo: Path, rel: str, tmp_path: Path) -> Path:
    """Replace ``rel`` inside the entry revision by a link to a copy outside the zoo (or to the secret)."""
    path = zoo / "figshare-brain" / "m" / "r1" / rel
    outside = tmp_path / "outside" / rel.replace("/", "_")
    if path.is_dir():
        shutil.copytree(path, outside)
        (outside / "leak.png").write_text(SECRET)
        shutil.rmtree(path)
    else:
        outside.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, outside)  # the same bytes: only the link itself is wrong
        path.unlink()
    os.symlink(outside, path)
    return path


@pytest.fixture
def zoo(tmp_path: Path) -> Path:
    secret_file(tmp_path)
    zoo = tmp_path / "zoo"
    write_entry(zoo)
    return zoo


@pytest.mark.parametrize("rel", FILE_LINKS + FOLDER_LINKS)
def test_pull_refuses_a_link_at_any_depth_and_creates_nothing(zoo, tmp_path, rel, capsys):
    link = _link(zoo, rel, tmp_path)
    target = tmp_path / "pulled"
    with pytest.raises(MedzooError, match="symbolic link") as info:
        store.pull(ENTRY, zoo=zoo, to=target)
    assert str(link) in info.value.message or str(link.parent) in info.value.message
    assert not target.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".pulled")]
    code, _, err = run_cli(["pull", ENTRY, "--zoo", str(zoo), "--to", str(target)], capsys)
    assert_one_error_line(code, err, "symbolic link")
    assert not target.exists()


@pytest.mark.parametrize("rel", sorted(LOAD_READS))
def test_load_and_predict_refuse_a_linked_file_they_read(zoo, tmp_path, rel, capsys):
    link = _link(zoo, rel, tmp_path)
    with pytest.raises(MedzooError, match="symbolic link") as info:
        store.load(ENTRY, zoo=zoo)
    assert str(link) in info.value.message
    code, out, err = run_cli(["predict", ENTRY, str(image_png(tmp_path)), "--zoo", str(zoo)], capsys)
    assert_one_error_line(code, err, str(link))
    assert SECRET not in out + err


@pytest.mark.parametrize("rel", FILE_LINKS + FOLDER_LINKS)
def test_push_refuses_an_entry_with_a_link(zoo, tmp_path, rel):
    _link(zoo, rel, tmp_path)
    with pytest.raises(MedzooError, match="symbolic link"):
        hub.plan_push(ENTRY, zoo=zoo, namespace="lab")


@pytest.mark.parametrize("level", ["revision", "entry", "dataset"])
def test_linked_folders_of_the_zoo_itself_are_refused_and_listed_as_problems(
    tmp_path, level, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "300")
    outside_zoo = tmp_path / "elsewhere"
    write_entry(outside_zoo)
    zoo = tmp_path / "zoo"
    write_entry(zoo, name="good")
    parts = {
        "revision": ("figshare-brain", "m", "r1"),
        "entry": ("figshare-brain", "m"),
        "dataset": ("all-leukemia",),
    }[level]
    (zoo / Path(*parts)).parent.mkdir(parents=True, exist_ok=True)
    source = outside_zoo / "figshare-brain" if level == "dataset" else outside_zoo / Path(*parts)
    os.symlink(source, zoo / Path(*parts))
    if level == "revision":  # refs.json says r1 exists; the folder is a link
        store.add_revision(zoo / "figshare-brain" / "m", "r1")
    bad = "all-leukemia/m" if level == "dataset" else ENTRY
    with pytest.raises(MedzooError):
        store.load(bad, zoo=zoo)
    listing = store.list(zoo=zoo)
    assert [e.id for e in listing] == ["figshare-brain/good@r1"]
    assert [p.id.split("@")[0] for p in listing.problems] == [bad]
    code, out, _ = run_cli(["zoo", "list", "--zoo", str(zoo)], capsys)
    assert code == 0 and "figshare-brain/good@r1" in out and f"problem: {bad}" in out
