"""Hub push/pull: the requests are built and checked without network; offline fails clearly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from medzoo.errors import HubError, IntegrityError, UnsafeNameError
from medzoo.zoo.entries import hub, store


def _fake_entry(zoo: Path, dataset="figshare-brain", name="tiny_cnn", revision="r1") -> Path:
    path = zoo / dataset / name / revision
    path.mkdir(parents=True)
    weights = b"not really safetensors but hashed"
    (path / "model.safetensors").write_bytes(weights)
    cfg = {
        "architecture": "medzoo_tiny_cnn",
        "num_classes": 3,
        "label_names": ["a", "b", "c"],
        "pretrained_cfg": {"input_size": [3, 32, 32], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
        "medzoo": {
            "dataset": dataset,
            "task": "multiclass",
            "family": "tiny_cnn",
            "data_kind": "phantom",
            "published_at": "2026-01-01T00:00:00+00:00",
            "weights_sha256": store.sha256_bytes(weights),
        },
    }
    (path / "config.json").write_text(json.dumps(cfg))
    (path / "README.md").write_text("card")
    store.add_revision(path.parent, revision)
    return path


class RecordingApi:
    def __init__(self, source: Path | None = None):
        self.calls = []
        self.source = source

    def __getattr__(self, method):
        def call(**kwargs):
            self.calls.append((method, kwargs))
            if method == "upload_folder":
                return SimpleNamespace(oid="abc123")
            if method == "snapshot_download":
                shutil.copytree(self.source, kwargs["local_dir"], dirs_exist_ok=True)
                (Path(kwargs["local_dir"]) / ".cache").mkdir(exist_ok=True)
                return kwargs["local_dir"]
            return None

        return call


def test_push_plan_creates_repo_uploads_the_revision_and_tags_it(tmp_path):
    zoo = tmp_path / "zoo"
    path = _fake_entry(zoo)
    calls = hub.plan_push("figshare-brain/tiny_cnn", zoo=zoo, namespace="lab")
    assert [c.method for c in calls] == ["create_repo", "upload_folder", "create_tag"]
    repo = "lab/medzoo-figshare-brain-tiny_cnn"
    assert all(c.kwargs["repo_id"] == repo for c in calls)
    assert calls[0].kwargs["private"] is True and calls[0].kwargs["exist_ok"] is True
    assert (
        calls[1].kwargs["folder_path"] == str(path)
        and "model.safetensors" in calls[1].kwargs["allow_patterns"]
    )
    assert calls[2].kwargs["tag"] == "r1"
    assert not any("token" in c.kwargs for c in calls)


def test_push_tags_the_uploaded_commit(tmp_path):
    zoo = tmp_path / "zoo"
    _fake_entry(zoo)
    api = RecordingApi()
    assert hub.push("figshare-brain/tiny_cnn@r1", zoo=zoo, repo_id="lab/brain", api=api) == "lab/brain@r1"
    assert [m for m, _ in api.calls] == ["create_repo", "upload_folder", "create_tag"]
    assert api.calls[2][1]["revision"] == "abc123"


def test_push_refuses_tampered_weights_and_bad_repo_ids(tmp_path):
    zoo = tmp_path / "zoo"
    path = _fake_entry(zoo)
    with pytest.raises(UnsafeNameError):
        hub.plan_push("figshare-brain/tiny_cnn", zoo=zoo, repo_id="../evil")
    with pytest.raises(HubError, match="namespace"):
        hub.plan_push("figshare-brain/tiny_cnn", zoo=zoo)
    (path / "model.safetensors").write_bytes(b"tampered")
    with pytest.raises(IntegrityError):
        hub.plan_push("figshare-brain/tiny_cnn", zoo=zoo, namespace="lab")


def test_pull_plan_and_parse_refs():
    call = hub.plan_pull("hf://lab/medzoo-figshare-brain-tiny_cnn@r2")
    assert call.method == "snapshot_download"
    assert call.kwargs["repo_id"] == "lab/medzoo-figshare-brain-tiny_cnn" and call.kwargs["revision"] == "r2"
    assert hub.parse_hub_ref("hf:lab/x") == ("lab/x", None)
    for bad in ("hf://lab/x@../../y", "hf://../x", "hf://a/b/c"):
        with pytest.raises(UnsafeNameError):
            hub.parse_hub_ref(bad)


def test_pull_adds_a_verified_local_revision(tmp_path):
    remote = _fake_entry(tmp_path / "remote")
    zoo = tmp_path / "zoo"
    api = RecordingApi(source=remote)
    entry = hub.pull("hf://lab/medzoo-figshare-brain-tiny_cnn@r1", zoo=zoo, api=api)
    assert entry == "figshare-brain/tiny_cnn@r1"
    assert api.calls[0][1]["revision"] == "r1"
    local = store.resolve_entry(entry, zoo=zoo).path
    assert (local / "model.safetensors").read_bytes() == (remote / "model.safetensors").read_bytes()
    assert not (local / ".cache").exists()
    # a second pull is a new revision, never an overwrite
    assert hub.pull("hf://lab/medzoo-figshare-brain-tiny_cnn@r1", zoo=zoo, api=api).endswith("@r2")


def test_pull_refuses_a_tampered_remote_and_leaves_no_partial_entry(tmp_path):
    remote = _fake_entry(tmp_path / "remote")
    (remote / "model.safetensors").write_bytes(b"evil")
    zoo = tmp_path / "zoo"
    with pytest.raises(IntegrityError):
        hub.pull("hf://lab/medzoo-figshare-brain-tiny_cnn", zoo=zoo, api=RecordingApi(source=remote))
    assert store.list(zoo=zoo) == []


def test_offline_push_and_pull_fail_with_a_clear_hub_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    zoo = tmp_path / "zoo"
    _fake_entry(zoo)
    with pytest.raises(HubError, match="offline|unreachable"):
        hub.push("figshare-brain/tiny_cnn", zoo=zoo, repo_id="lab/brain", token="hf_dummy")
    with pytest.raises(HubError, match="offline|unreachable"):
        hub.pull("hf://lab/brain@r1", zoo=zoo)
    assert [e.id for e in store.list(zoo=zoo)] == ["figshare-brain/tiny_cnn@r1"]
