"""Shared pieces of the boards' hostile tests: zoo entries written per the contract, a real server on
127.0.0.1, and a plain HTTP client. Every hostile case is generated from these in code (no blobs)."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e221bc330000000049454e44ae426082"
)
SECRET = "medzoo-hostile-secret-4c1d"  # the content of a file outside the zoo that must never leak


def write_entry(zoo: Path, dataset: str, name: str, *, value: float = 0.8, revision: str = "r1") -> Path:
    """One valid entry revision ``ZOO/<dataset>/<name>/<revision>/`` (config, metrics, card, plots, refs)."""
    path = zoo / dataset / name / revision
    (path / "plots" / "a" / "b").mkdir(parents=True)
    (path / "gradcam").mkdir()
    (path / "plots" / "roc.png").write_bytes(PNG_1PX)
    (path / "plots" / "a" / "b" / "deep.png").write_bytes(PNG_1PX)
    (path / "gradcam" / "class0.png").write_bytes(PNG_1PX)
    metrics = {
        "dataset": dataset,
        "primary_metric": "accuracy",
        "n": 100,
        "metrics": {"accuracy": {"value": value, "ci_low": value - 0.05, "ci_high": value + 0.05}},
        "complexity": {"params": 1000, "gmacs": 0.5, "latency_ms": {"1": 2.0}, "device": "cpu"},
    }
    (path / "metrics.json").write_text(json.dumps(metrics))
    config = {
        "architecture": "medzoo_tiny_cnn",
        "num_classes": 3,
        "label_names": ["glioma", "meningioma", "pituitary"],
        "pretrained_cfg": {"input_size": [1, 32, 32], "mean": [0.5], "std": [0.5]},
        "medzoo": {
            "dataset": dataset,
            "task": "multiclass",
            "family": "tiny_cnn",
            "weights_sha256": "0" * 64,
            "data_kind": "phantom",
            "published_at": "2026-11-20T10:00:00+00:00",
            "split_protocol": "patient",
            "revision": revision,
        },
    }
    (path / "config.json").write_text(json.dumps(config))
    card = (
        f"---\nmodel_name: {name}\nlicense: apache-2.0\n---\n\n# {name}\n\nA test entry.\n\n"
        "![roc](plots/roc.png)\n"
    )
    (path / "README.md").write_text(card)
    (path.parent / "refs.json").write_text(json.dumps({"latest": revision, "revisions": [revision]}))
    return path


def secret_file(tmp_path: Path) -> Path:
    """A file outside the zoo whose content must never appear in any output."""
    path = tmp_path / "outside" / "passwd"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"root:x:0:0:{SECRET}:/root:/bin/sh\n")
    return path


class Client:
    """http.client against 127.0.0.1; returns (status, lower-cased headers, body)."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.port = port
        self.timeout = timeout

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        return self.request("GET", path)

    def upload(self, path: str, filename: str, data: bytes) -> tuple[int, dict[str, str], bytes]:
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return self.request("POST", path, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})


@contextlib.contextmanager
def served(zoo: Path | str, **kw: Any) -> Iterator[Any]:
    """A real leaderboard server on 127.0.0.1 (ephemeral port) in a thread; yields the server."""
    from medzoo.leaderboards import make_server

    server = kw.pop("server", None) or make_server(zoo=zoo, host="127.0.0.1", port=0, quiet=True, **kw)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=20)


def crawl(client: Client, start: str = "/") -> dict[str, tuple[int, bytes]]:
    """Every same-site page reachable from ``start`` (href/src links), with its status and body."""
    import re
    from urllib.parse import urljoin, urlsplit

    seen: dict[str, tuple[int, bytes]] = {}
    queue = [start]
    while queue and len(seen) < 400:
        path = queue.pop()
        if path in seen:
            continue
        status, _, body = client.get(path)
        seen[path] = (status, body)
        if not path.endswith((".html", "/")):
            continue
        for link in re.findall(rb'(?:href|src)="([^"#]+)"', body):
            target = urlsplit(urljoin(path, link.decode()))
            if not target.scheme and not target.netloc and "report/" not in target.path:
                queue.append(target.path)
    return seen
