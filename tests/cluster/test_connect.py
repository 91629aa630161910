"""Connecting to Ray: join a cluster only when asked, fail fast on a dead one, own only what we start."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from medzoo.cluster.connect import connect
from medzoo.cluster.simulate import simulated_cluster
from medzoo.errors import ClusterError

TOKEN = "medzoo-test-token-0123456789abcdef0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_dead_address_fails_at_once_with_one_clear_error() -> None:
    port = _free_port()  # nothing listens there: a cluster that died
    started = time.monotonic()
    with pytest.raises(ClusterError, match=f"no Ray cluster answers at 127.0.0.1:{port}") as err:
        connect(address=f"127.0.0.1:{port}", probe_timeout_s=2)
    assert time.monotonic() - started < 5
    assert "omit --address" in (err.value.fix or "")


def test_an_address_that_is_not_host_port_is_refused() -> None:
    with pytest.raises(ClusterError, match="is not host:port"):
        connect(address="my-head-node")


def test_auto_without_a_recorded_cluster_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))  # where `ray start` records its address: empty here
    with pytest.raises(ClusterError, match="found no cluster started with `ray start`"):
        connect(address="auto")


def test_token_auth_without_a_token_names_where_it_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ray/auth_token
    with socket.socket() as listener:  # something answers on the port, as a live head would
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(ClusterError, match="RAY_AUTH_MODE=token but no token") as err:
            connect(address=address)
    assert "~/.ray/auth_token" in (err.value.fix or "") and "RAY_AUTH_TOKEN" in (err.value.fix or "")


@pytest.fixture
def stale_head() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A `ray start --head` left on the machine (token auth on), recorded where a plain ray.init() looks.

    Ray's temp dir is private to the test (short: Ray's socket paths are length-limited), so no
    colleague's Ray sees it; the head's processes share one session and are killed by its id.
    Ray caches its auth mode per process, so the cache is refreshed after the environment changes.
    """
    from ray._raylet import Config

    tmp = tempfile.mkdtemp(prefix="mzh", dir="/tmp")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_TMPDIR", tmp)
        mp.setenv("RAY_AUTH_MODE", "token")  # restored after the test, also if Ray edits it
        default = Path.home() / ".ray" / "auth_token"  # Ray caches a process's token once it read one
        mp.setenv("RAY_AUTH_TOKEN", default.read_text().strip() if default.is_file() else TOKEN)
        Config.initialize("")
        head = _start_head(tmp)
        try:
            recorded = Path(tmp) / "ray" / "ray_current_cluster"
            deadline = time.monotonic() + 90
            while not recorded.exists() or not recorded.read_text().strip():
                assert head.poll() is None and time.monotonic() < deadline, "ray start --head did not come up"
                time.sleep(0.5)
            yield recorded.read_text().strip(), head
        finally:
            if head.poll() is None:
                os.killpg(head.pid, signal.SIGKILL)
            head.wait()
            shutil.rmtree(tmp, ignore_errors=True)
    Config.initialize("")  # back to the auth mode of the restored environment


def _start_head(tmp: str) -> subprocess.Popen[bytes]:
    ray_bin = str(Path(sys.executable).with_name("ray"))
    env = {**os.environ, "RAY_TMPDIR": tmp, "TMPDIR": tmp, "RAY_USAGE_STATS_ENABLED": "0"}
    cmd = [ray_bin, "start", "--head", f"--port={_free_port()}", "--num-cpus=1"]
    cmd += ["--include-dashboard=false", "--disable-usage-stats", "--block"]
    return subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


@pytest.mark.ray
@pytest.mark.slow
def test_a_local_sweep_never_joins_a_ray_start_cluster_left_on_the_machine(
    stale_head: tuple[str, subprocess.Popen[bytes]],
) -> None:
    from ray._private.utils import read_ray_address

    address, head = stale_head
    assert read_ray_address() == address  # a plain ray.init() would join this cluster
    with connect(num_cpus=1) as own:
        assert own.started and not own.joined and own.address != address
    with connect(address=address) as joined:  # joining is what --address asks for (with the token)
        assert joined.joined and joined.address == address and joined.resources["CPU"] == 1
    os.killpg(head.pid, signal.SIGKILL)  # the cluster dies; its address stays recorded
    head.wait()
    assert read_ray_address() == address
    started = time.monotonic()
    with pytest.raises(ClusterError, match="no Ray cluster answers"):
        connect(address=address)
    assert time.monotonic() - started < 6
    started = time.monotonic()
    with connect(num_cpus=1) as own:  # the embedded default does not wait on the dead one
        assert own.started and own.address != address
    assert time.monotonic() - started < 60


@pytest.mark.ray
@pytest.mark.slow
def test_join_a_two_node_cluster_reuse_it_and_disconnect_only_what_we_started() -> None:
    import ray

    assert not ray.is_initialized()
    with simulated_cluster(nodes=2, cpus_per_node=1) as cluster:
        with pytest.raises(ClusterError, match="num_cpus/num_gpus describe a new local Ray"):
            connect(address=cluster.address, num_cpus=2)
        first = connect(address=cluster.address)
        assert first.started and first.joined and first.resources["CPU"] == 2
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        second = connect()  # an initialised Ray is reused
        assert not second.started and second.address == first.address
        with pytest.raises(ClusterError, match="cannot also join 'elsewhere:6379'"):
            connect(address="elsewhere:6379")
        second.close()
        assert ray.is_initialized()  # closing a reused connection leaves Ray alone
        first.close()
        assert not ray.is_initialized()
