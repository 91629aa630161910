"""Prepared sets reach the nodes once: uploaded once, downloaded once per node, verified, race-free."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from distparts import S3, dataset_info, make_prepared

from medzoo.errors import DatasetError
from medzoo.search.datacache import CACHE_RECORD, UPLOAD_MARKER, materialize, publish
from medzoo.storage import location


def _tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def test_without_storage_the_set_is_read_in_place(tiny_prepared: Path, tmp_path: Path) -> None:
    ref = publish(prepared=tiny_prepared, storage=None)
    assert ref.uri == str(tiny_prepared) and ref.dataset == "figshare-brain" and len(ref.digest) == 64
    got = materialize(ref, cache_root=tmp_path / "cache")
    assert got.path == tiny_prepared and got.downloaded_bytes == 0
    assert not (tmp_path / "cache").exists()


def test_a_local_storage_gets_one_content_addressed_copy(tiny_prepared: Path, tmp_path: Path) -> None:
    storage = location(tmp_path / "storage")
    ref = publish(prepared=tiny_prepared, storage=storage)
    target = Path(ref.uri)
    assert target.parent == tmp_path / "storage" / "datasets"
    assert target.name == f"figshare-brain-{ref.digest[:16]}"
    marker = (target / UPLOAD_MARKER).stat().st_mtime_ns
    assert publish(prepared=tiny_prepared, storage=storage) == ref  # already there: not uploaded again
    assert (target / UPLOAD_MARKER).stat().st_mtime_ns == marker
    assert materialize(ref, cache_root=tmp_path / "cache").path == target  # a shared mount: in place


def test_s3_upload_once_and_each_node_downloads_once(s3: S3, tiny_prepared: Path, tmp_path: Path) -> None:
    import boto3

    storage = location(s3.uri("lab"))
    ref = publish(prepared=tiny_prepared, storage=storage)
    assert ref.uri == f"{s3.uri('lab')}/datasets/figshare-brain-{ref.digest[:16]}"
    client = boto3.client("s3", endpoint_url=s3.endpoint)
    key = f"lab/datasets/figshare-brain-{ref.digest[:16]}/{UPLOAD_MARKER}"
    first = client.head_object(Bucket=s3.bucket, Key=key)["ETag"]
    client.put_object(Bucket=s3.bucket, Key=key, Body=b"{}")  # if publish re-uploaded, it would rewrite it
    assert publish(prepared=tiny_prepared, storage=storage) == ref
    assert client.get_object(Bucket=s3.bucket, Key=key)["Body"].read() == b"{}" != first

    size = _tree_bytes(tiny_prepared)
    for node in ("node-a", "node-b"):  # two nodes, each with its own local cache
        got = materialize(ref, cache_root=tmp_path / node)
        assert got.path == tmp_path / node / "datasets" / ref.digest
        assert got.downloaded_bytes == size and got.files == 8
        assert (got.path / "images" / "1" / "img3.png").read_bytes() == (
            tiny_prepared / "images" / "1" / "img3.png"
        ).read_bytes()
        assert json.loads((got.path / CACHE_RECORD).read_text())["bytes"] == size
        again = materialize(ref, cache_root=tmp_path / node)  # the next trial on that node: no download
        assert again.path == got.path and again.downloaded_bytes == 0


def test_trials_asking_at_once_on_one_node_download_once(s3: S3, tiny_prepared: Path, tmp_path: Path) -> None:
    ref = publish(prepared=tiny_prepared, storage=location(s3.uri("lab")))
    results, errors = [], []

    def trial() -> None:
        try:
            results.append(materialize(ref, cache_root=tmp_path / "node"))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=trial) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(r.downloaded_bytes for r in results) == [0, 0, 0, _tree_bytes(tiny_prepared)]
    assert {r.path for r in results} == {tmp_path / "node" / "datasets" / ref.digest}
    assert [p.name for p in (tmp_path / "node" / "datasets").iterdir() if not p.name.startswith(".")] == [
        ref.digest
    ]


def test_a_file_changed_in_storage_is_refused_and_nothing_is_cached(
    s3: S3, tiny_prepared: Path, tmp_path: Path
) -> None:
    import boto3

    ref = publish(prepared=tiny_prepared, storage=location(s3.uri("lab")))
    key = f"lab/datasets/figshare-brain-{ref.digest[:16]}/images/0/img2.png"
    boto3.client("s3", endpoint_url=s3.endpoint).put_object(Bucket=s3.bucket, Key=key, Body=b"tampered")
    with pytest.raises(DatasetError, match="img2.png does not match its sha256 in the manifest"):
        materialize(ref, cache_root=tmp_path / "node")
    assert [p for p in (tmp_path / "node" / "datasets").iterdir() if not p.name.endswith(".lock")] == []


def test_a_manifest_path_leaving_the_set_is_refused(tmp_path: Path) -> None:
    import pandas as pd

    prepared = make_prepared(tmp_path / "evil")
    frame = pd.read_parquet(prepared / "manifest.parquet")
    frame.loc[0, "path"] = "../../etc/passwd"
    frame.to_parquet(prepared / "manifest.parquet", index=False)
    remote = location(tmp_path / "remote")  # the set as a remote store would hand it over
    ref = publish(prepared=prepared, storage=remote)
    from medzoo.search.datacache import DataRef, _verify_files

    assert isinstance(ref, DataRef)
    with pytest.raises(DatasetError, match="'../../etc/passwd', which is not a path inside the set"):
        _verify_files(Path(ref.uri), where=ref.uri)


def test_a_set_edited_after_the_sweep_started_is_refused(tiny_prepared: Path, tmp_path: Path) -> None:
    ref = publish(prepared=tiny_prepared, storage=None)
    (tiny_prepared / "dataset.json").write_text(json.dumps(dataset_info(id="figshare-brain", seed=1)))
    with pytest.raises(DatasetError, match="changed since the sweep started"):
        materialize(ref, cache_root=tmp_path / "cache")
