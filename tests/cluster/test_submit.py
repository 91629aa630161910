"""`medzoo cluster submit/status` against a Ray head with token authentication (RAY_AUTH_MODE=token).

The head is a real ``ray start --head --block`` with its dashboard (the job API ``submit`` talks to)
on free ports of 127.0.0.1, stopped by PID. A missing or wrong token is one ``error:`` line naming
the fix; with the token in ~/.ray/auth_token the job runs even when RAY_AUTH_MODE is unset here.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from medzoo.cluster.commands import auth_env, find_auth_token, probe_dashboard
from medzoo.errors import ClusterError

RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH") and k != "RAY_ADDRESS"}
    return {**env, "HOME": str(home), "RAY_USAGE_STATS_ENABLED": "0", **extra}


def test_token_lookup_follows_rays_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert find_auth_token(env={}, home=home) is None
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text("from-file\n")
    assert find_auth_token(env={}, home=home).value == "from-file"
    other = tmp_path / "tok"
    other.write_text("from-path")
    assert find_auth_token(env={"RAY_AUTH_TOKEN_PATH": str(other)}, home=home).value == "from-path"
    first = find_auth_token(env={"RAY_AUTH_TOKEN": "from-env", "RAY_AUTH_TOKEN_PATH": str(other)}, home=home)
    assert first.source == "RAY_AUTH_TOKEN" and first.value == "from-env"
    with pytest.raises(ClusterError, match="RAY_AUTH_TOKEN_PATH=.*missing"):
        find_auth_token(env={"RAY_AUTH_TOKEN_PATH": str(tmp_path / "missing")}, home=home)


def test_token_mode_without_a_token_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="token authentication and no token was found") as err:
        auth_env(dashboard=None, env={"RAY_AUTH_MODE": "token"}, home=tmp_path)
    assert "~/.ray/auth_token" in str(err.value.fix) and "RAY_AUTH_TOKEN" in str(err.value.fix)
    assert auth_env(dashboard=None, env={}, home=tmp_path) == {}
    # nothing listens on this port: submit needs its dashboard and says how to forward it
    with pytest.raises(ClusterError, match="cannot reach the Ray dashboard") as err:
        auth_env(dashboard=f"http://127.0.0.1:{_free_port()}", env={}, home=tmp_path, required=True)
    assert "medzoo cluster dashboard" in str(err.value.fix)


@dataclass(frozen=True)
class TokenHead:
    gcs: str
    dashboard: str
    token: str
    pid: int


@pytest.fixture()
def token_head(tmp_path: Path) -> Iterator[TokenHead]:
    from ray._private.utils import get_dashboard_dependency_error

    if get_dashboard_dependency_error() is not None:
        pytest.skip(
            "Ray's job API (the dashboard) needs ray[default]: pip install 'ray[default]' (dev extra)"
        )
    token = secrets.token_hex(16)
    port, dash = _free_port(), _free_port()
    env = _clean_env(tmp_path / "head-home", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    cmd = [
        RAY, "start", "--head", "--block", f"--port={port}", "--num-cpus=1", "--include-dashboard=true",
        "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}",
        "--dashboard-agent-listen-port", str(_free_port()),
    ]  # fmt: skip
    with open(tmp_path / "head.log", "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{dash}"
    try:
        deadline = time.monotonic() + 120
        while probe_dashboard(url, timeout_s=2) is None:
            assert proc.poll() is None, (tmp_path / "head.log").read_text()
            assert time.monotonic() < deadline, "the Ray head's dashboard did not come up in 120s"
            time.sleep(1)
        yield TokenHead(gcs=f"127.0.0.1:{port}", dashboard=url, token=token, pid=proc.pid)
    finally:
        proc.terminate()  # `ray start --block` stops the processes it started on SIGTERM
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def _medzoo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medzoo", "cluster", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _one_error(out: subprocess.CompletedProcess[str]) -> str:
    """The CLI's one ``error:`` line (and its ``fix:``), never a traceback."""
    assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error:") and all(line.startswith("fix:") for line in lines[1:2]), out.stderr
    assert len(lines) <= 2, out.stderr
    return " ".join(lines)


@pytest.mark.ray
@pytest.mark.slow
def test_submit_and_status_with_token_auth(token_head: TokenHead, tmp_path: Path) -> None:
    assert probe_dashboard(token_head.dashboard) == 401  # the cluster really wants a token
    job = ["--", "python", "-c", "print('medzoo-job-ran')"]
    no_token = _clean_env(tmp_path / "empty-home")

    line = _one_error(_medzoo(no_token, "submit", "--address", token_head.dashboard, *job))
    assert "uses token authentication and no token was found" in line and "~/.ray/auth_token" in line
    line = _one_error(_medzoo({**no_token, "RAY_AUTH_MODE": "token"}, "status", "--address", token_head.gcs))
    assert "no token was found" in line and "RAY_AUTH_TOKEN" in line
    line = _one_error(
        _medzoo({**no_token, "RAY_AUTH_TOKEN": "wrong"}, "submit", "--address", token_head.dashboard, *job)
    )
    assert "refused the token from RAY_AUTH_TOKEN" in line

    # the token in ~/.ray/auth_token, RAY_AUTH_MODE unset here: the job runs on the cluster
    home = tmp_path / "user-home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text(token_head.token)
    out = _medzoo(_clean_env(home), "submit", "--address", token_head.dashboard, *job)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "medzoo-job-ran" in out.stdout
