"""A sweep's storage is checked before any trial starts: each problem is one line naming the fix."""

from __future__ import annotations

import socket
import time

import pytest
from distparts import S3

from medzoo.errors import StorageError
from medzoo.search.remote import check_storage
from medzoo.storage import location


def test_an_unknown_scheme_names_the_schemes_that_work() -> None:
    with pytest.raises(StorageError, match="the scheme 'ftp' is not supported") as err:
        check_storage(storage=location("ftp://host/runs"), joined=True)
    assert "s3://bucket/prefix" in (err.value.fix or "")


def test_a_missing_bucket_is_named(s3: S3) -> None:
    with pytest.raises(StorageError, match="the bucket 'no-such-bucket' does not exist") as err:
        check_storage(storage=location("s3://no-such-bucket/runs"), joined=True)
    assert "create it" in (err.value.fix or "")


def test_an_unreachable_endpoint_fails_in_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing answers there
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    started = time.monotonic()
    with pytest.raises(StorageError, match=f"the endpoint http://127.0.0.1:{port} is unreachable") as err:
        check_storage(storage=location("s3://bucket/runs"), joined=True)
    assert time.monotonic() - started < 30
    assert "AWS_ENDPOINT_URL" in (err.value.fix or "")


def test_a_reachable_bucket_passes(s3: S3) -> None:
    check_storage(storage=location(s3.uri("runs")), joined=True)


def test_wrong_credentials_are_named(s3: S3, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import settings

    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # the server now checks every key
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0")
    with pytest.raises(StorageError, match="the credentials were refused") as err:
        check_storage(storage=location(s3.uri("runs")), joined=True)
    assert "AWS_ACCESS_KEY_ID" in (err.value.fix or "")
