"""Real parts for the distributed tests: an S3 server on 127.0.0.1 and a tiny hand-made prepared set."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from distparts import S3, make_prepared


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3]:
    """moto's standalone S3 server (the HTTP protocol, as MinIO or AWS speak it) with one bucket."""
    boto3 = pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for key, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "medzoo-test",
        "AWS_SECRET_ACCESS_KEY": "medzoo-test-secret",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    bucket = f"medzoo-{uuid.uuid4().hex[:12]}"  # moto keeps its buckets per process: one per test
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    try:
        yield S3(endpoint=endpoint, bucket=bucket)
    finally:
        server.stop()


@pytest.fixture
def tiny_prepared(tmp_path: Path) -> Path:
    return make_prepared(tmp_path / "prepared")
