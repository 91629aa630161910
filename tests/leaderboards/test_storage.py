"""Boards from a zoo behind a storage URI (issue 15): ``--storage`` / ``--zoo s3://...`` for show, build and
serve, against moto's S3 server on 127.0.0.1, and ``--storage`` as a local folder."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from medzoo.cli import main
from medzoo.leaderboards import make_server, table
from medzoo.storage import location


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _zoo(make_entry: Callable[..., Path], tmp_path: Path) -> Path:
    make_entry("cbis-ddsm-mass", "xception", value=0.8)
    make_entry("cbis-ddsm-mass", "tampered", value=0.6, card_value=0.95)
    return tmp_path / "zoo"


def test_show_and_build_from_a_local_storage_folder(
    make_entry: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    _zoo(make_entry, tmp_path)  # tmp_path/zoo is <storage>/zoo for --storage tmp_path
    code, out, err = run(["leaderboard", "show", "cbis-ddsm-mass", "--storage", str(tmp_path)], capsys)
    assert code == 0 and "xception" in out and "skipped: cbis-ddsm-mass/tampered" in out, err
    monkeypatch.setenv("MEDZOO_STORAGE", str(tmp_path))
    code, out, err = run(["leaderboard", "build", "--out", str(tmp_path / "site")], capsys)
    assert code == 0 and (tmp_path / "site" / "cbis-ddsm-mass" / "xception" / "index.html").is_file(), err


def test_show_build_and_serve_from_s3(
    make_entry: Callable[..., Path], tmp_path: Path, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    local = _zoo(make_entry, tmp_path)
    (location(s3_bucket) / "zoo").upload_from(local)
    board = table("cbis-ddsm-mass", zoo=f"{s3_bucket}/zoo")
    assert [r.name for r in board.rows] == ["xception"] and "tampered" in board.problems[0]
    assert board.rows[0].images == ["gradcam/class0.png", "plots/confusion_matrix.png"]

    code, out, err = run(["leaderboard", "show", "cbis-ddsm-mass", "--storage", s3_bucket], capsys)
    assert code == 0 and "xception" in out, err
    site = tmp_path / "site"
    code, _, err = run(["leaderboard", "build", "--zoo", f"{s3_bucket}/zoo", "--out", str(site)], capsys)
    assert code == 0, err
    copied = site / "cbis-ddsm-mass" / "xception" / "plots" / "confusion_matrix.png"
    assert (
        copied.read_bytes()
        == (local / "cbis-ddsm-mass" / "xception" / "r1" / "plots" / "confusion_matrix.png").read_bytes()
    )

    server = make_server(zoo=location(s3_bucket) / "zoo", host="127.0.0.1", port=0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for path, expected in (
            ("/", b"cbis-ddsm-mass.html"),
            ("/cbis-ddsm-mass.html", b"cbis-ddsm-mass/xception/index.html"),
            ("/cbis-ddsm-mass/xception/", b"A test model."),
            ("/cbis-ddsm-mass/xception/plots/confusion_matrix.png", b"\x89PNG"),
        ):
            conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=60)
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            assert resp.status == 200 and expected in body, path
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=20)
