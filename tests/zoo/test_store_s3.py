"""A zoo on a real S3 server (moto's, on 127.0.0.1): publish, list, pull and load by URI, as on a folder."""

from __future__ import annotations

import hashlib

import pytest
import torch

from medzoo.errors import ZooError
from medzoo.storage import location
from medzoo.zoo.entries import store
from medzoo.zoo.entries.publishing import publish

ENTRY = "figshare-brain/tiny_cnn"


@pytest.fixture
def s3_zoo(s3_bucket, tiny_run) -> str:
    zoo = f"{s3_bucket}/team/zoo"
    ids = publish(tiny_run, top=1, zoo=zoo, gradcam_images=4, overlays_per_class=1, faithfulness_images=0)
    assert ids == [f"{ENTRY}@r1"]
    return zoo


def test_publish_list_pull_load_on_s3(s3_zoo, tiny_zoo, tmp_path):
    listing = store.list(zoo=s3_zoo)
    assert [e.id for e in listing] == [f"{ENTRY}@r1"] and listing.problems == ()
    assert (
        listing[0].path == f"{s3_zoo}/figshare-brain/tiny_cnn/r1" and listing[0].primary_metric == "accuracy"
    )
    # no claim is left behind, refs.json names the revision, config.json marks it complete
    keys = sorted(rel for rel, _ in location(f"{s3_zoo}/figshare-brain/tiny_cnn").walk())
    assert "refs.json" in keys and "r1/config.json" in keys and not any(k.endswith(".claim") for k in keys)

    out = store.pull(ENTRY, zoo=s3_zoo, to=tmp_path / "pulled")
    weights = (out / "model.safetensors").read_bytes()
    cfg = store.read_config(out)
    assert hashlib.sha256(weights).hexdigest() == cfg.medzoo.weights_sha256
    assert (out / "README.md").is_file() and (out / "plots" / "roc.png").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # the staging folder is gone

    model, preprocess, labels = store.load(ENTRY, zoo=s3_zoo)
    local, _, _ = store.load(ENTRY, zoo=tiny_zoo)  # the same trial published to a local zoo
    x = torch.zeros(1, *preprocess.input_size)
    with torch.no_grad():
        torch.testing.assert_close(model(x), local(x))
    assert labels == ["meningioma", "glioma", "pituitary"]


def test_the_cli_takes_the_zoo_by_uri_and_by_storage(s3_zoo, tmp_path, capsys, monkeypatch):
    from medzoo.cli import main

    def run(argv):
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        return code, *capsys.readouterr()

    monkeypatch.setenv("COLUMNS", "300")
    code, out, err = run(["zoo", "list", "--zoo", s3_zoo])
    assert code == 0 and f"{ENTRY}@r1" in out, err
    storage = s3_zoo.removesuffix("/zoo")
    code, out, err = run(["pull", ENTRY, "--storage", storage, "--to", str(tmp_path / "by-storage")])
    assert code == 0 and "verified" in out and (tmp_path / "by-storage" / "model.safetensors").is_file(), err


def test_s3_revisions_are_never_overwritten_and_pull_needs_a_target(s3_zoo, tiny_run, tmp_path):
    before = location(f"{s3_zoo}/figshare-brain/tiny_cnn/r1/model.safetensors").read_bytes()
    ids = publish(tiny_run, top=1, zoo=s3_zoo, gradcam_images=2, overlays_per_class=1, faithfulness_images=0)
    assert ids == [f"{ENTRY}@r2"]
    assert [e.id for e in store.list(zoo=s3_zoo, all_revisions=True)] == [f"{ENTRY}@r1", f"{ENTRY}@r2"]
    assert location(f"{s3_zoo}/figshare-brain/tiny_cnn/r1/model.safetensors").read_bytes() == before
    # a writer that lost its claim writes nothing
    home = store.entry_home(s3_zoo, store.parse_entry(ENTRY))
    res = store.reserve_revision(home)
    assert res.revision == "r3"
    res.claim.write_text("someone-else")
    with pytest.raises(ZooError, match="claimed by another publisher"):
        store.commit_revision(res, store.pull(f"{ENTRY}@r1", zoo=s3_zoo, to=tmp_path / "r1"))
    assert not (home / "r3" / "config.json").exists()
    with pytest.raises(ZooError, match="needs a local target"):
        store.pull(ENTRY, zoo=s3_zoo)
