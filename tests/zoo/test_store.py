"""Entry names, revisions, integrity: hostile ids never escape the zoo, tampered weights never load."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from medzoo.errors import EntryNotFoundError, IntegrityError, UnsafeNameError, ZooError
from medzoo.zoo.entries import store

HOSTILE = [
    "../etc/passwd",
    "figshare-brain/../../etc",
    "figshare-brain/..",
    "../figshare-brain/x",
    "/etc/passwd",
    "/abs/figshare-brain/x",
    "~/figshare-brain/x",
    "C:/figshare-brain/x",
    "figshare-brain\\x",
    "figshare-brain/x/y",
    "figshare-brain//x",
    "figshare-brain/",
    "/figshare-brain",
    "figshare-brain",
    "figshare-brain/.hidden",
    "figshare-brain/X_upper",
    "figshare-brain/x\x00y",
    "figshare-brain/x@../r1",
    "figshare-brain/x@r0",
    "figshare-brain/x@main",
    "figshare-brain/" + "a" * 65,
    "",
]


@pytest.mark.parametrize("entry", HOSTILE)
def test_hostile_entry_ids_are_refused(entry, tmp_path):
    with pytest.raises(UnsafeNameError):
        store.parse_entry(entry)
    with pytest.raises(UnsafeNameError):
        store.resolve_entry(entry, zoo=tmp_path)
    with pytest.raises(UnsafeNameError):
        store.load(entry, zoo=tmp_path)


def test_good_ids_parse():
    ref = store.parse_entry("figshare-brain/efficientnet_b2@r12")
    assert (ref.dataset, ref.name, ref.revision) == ("figshare-brain", "efficientnet_b2", "r12")
    assert store.parse_entry("all-leukemia/effnet-dsp.v2").revision is None


def test_sanitize_name():
    assert store.sanitize_name("EfficientNet B2") == "efficientnet_b2"
    assert store.sanitize_name("../x/y") == "x_y"
    with pytest.raises(UnsafeNameError):
        store.sanitize_name("///")


def _entry(zoo: Path, name="m", revision="r1", weights=b"weights") -> Path:
    path = zoo / "figshare-brain" / name / revision
    path.mkdir(parents=True)
    (path / "model.safetensors").write_bytes(weights)
    cfg = {
        "architecture": "medzoo_tiny_cnn",
        "num_classes": 2,
        "label_names": ["a", "b"],
        "pretrained_cfg": {"input_size": [3, 32, 32], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
        "medzoo": {
            "dataset": "figshare-brain",
            "task": "multiclass",
            "family": "tiny_cnn",
            "data_kind": "phantom",
            "weights_sha256": store.sha256_bytes(weights),
            "published_at": "2026-01-01T00:00:00+00:00",
        },
    }
    (path / "config.json").write_text(json.dumps(cfg))
    store.add_revision(path.parent, revision)
    return path


def test_symlinked_entry_escaping_the_root_is_refused(tmp_path):
    outside = tmp_path / "outside"
    _entry(outside)
    zoo = tmp_path / "zoo"
    (zoo / "figshare-brain").mkdir(parents=True)
    os.symlink(outside / "figshare-brain" / "m", zoo / "figshare-brain" / "m")
    with pytest.raises(UnsafeNameError, match="outside the zoo root"):
        store.resolve_entry("figshare-brain/m", zoo=zoo)


def test_revisions_latest_and_selection(tmp_path):
    zoo = tmp_path / "zoo"
    _entry(zoo, revision="r1", weights=b"one")
    home = zoo / "figshare-brain" / "m"
    assert store.next_revision(home) == "r2"
    _entry(zoo, revision="r2", weights=b"two")
    assert store.resolve_entry("figshare-brain/m", zoo=zoo).revision == "r2"
    assert store.resolve_entry("figshare-brain/m@r1", zoo=zoo).path == home / "r1"
    assert json.loads((home / "refs.json").read_text()) == {"latest": "r2", "revisions": ["r1", "r2"]}
    with pytest.raises(EntryNotFoundError, match="r1', 'r2"):
        store.resolve_entry("figshare-brain/m@r3", zoo=zoo)
    with pytest.raises(EntryNotFoundError, match="did you mean figshare-brain/m"):
        store.resolve_entry("figshare-brain/mm", zoo=zoo)
    ids = [e.id for e in store.list(zoo=zoo, all_revisions=True)]
    assert ids == ["figshare-brain/m@r1", "figshare-brain/m@r2"]
    assert [e.id for e in store.list(zoo=zoo)] == ["figshare-brain/m@r2"]
    assert store.list(zoo=zoo, dataset="all-leukemia") == []


def test_tampered_weights_are_refused_before_loading(tmp_path):
    zoo = tmp_path / "zoo"
    path = _entry(zoo)
    (path / "model.safetensors").write_bytes(b"weightz")
    with pytest.raises(IntegrityError, match="sha256"):
        store.load("figshare-brain/m", zoo=zoo)
    with pytest.raises(IntegrityError):
        store.pull("figshare-brain/m", zoo=zoo, to=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_pull_copies_a_verified_revision_and_never_overwrites(tmp_path):
    zoo = tmp_path / "zoo"
    _entry(zoo)
    out = store.pull("figshare-brain/m@r1", zoo=zoo, to=tmp_path / "copy")
    assert (out / "model.safetensors").read_bytes() == b"weights"
    with pytest.raises(ZooError, match="must not exist"):
        store.pull("figshare-brain/m", zoo=zoo, to=tmp_path / "copy")
