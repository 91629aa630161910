"""Connect to Ray once: reuse an initialised Ray, join ``--address``, or start a local one.

The embedded default is its own: without an address medzoo starts a private local Ray
(``ray.init(address="local")``) and never joins a cluster that ``ray start`` left on the
machine, because that cluster may belong to someone else or may have died since (then a
plain ``ray.init()`` waits minutes on "Failed to connect to GCS"). Joining is only ever what
the caller asked for with ``address`` (the CLI reads ``--address`` / ``RAY_ADDRESS`` once and
passes it down). Before joining, the GCS port is probed with a short timeout so that a dead
address fails at once with one clear error, and a cluster that wants token authentication
(``RAY_AUTH_MODE=token``) without a token here fails naming where the token goes.

The caller resolves the connection once and passes the :class:`RayConnection` down;
``close()`` shuts Ray down only if this connection started it, so a sweep never tears down a
Ray that a quickstart or a user started before it.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medzoo.errors import ClusterError

PROBE_TIMEOUT_S = 5.0
TOKEN_FIX = (
    "copy the cluster's token (`ray get-auth-token` on the head) to ~/.ray/auth_token, "
    "or set RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) to it"
)


@dataclass
class RayConnection:
    """A live connection; mutable only in ``started``, which ``close`` clears once."""

    address: str  # the GCS address of the cluster
    started: bool  # True when this connection started Ray (and so owns its shutdown)
    resources: dict[str, float]
    joined: bool = False  # True when it joined a cluster given by address (not a local Ray)

    def close(self) -> None:
        import ray

        if self.started and ray.is_initialized():
            ray.shutdown()
            self.started = False

    def __enter__(self) -> RayConnection:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def connect(
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    log_to_driver: bool = False,
    probe_timeout_s: float = PROBE_TIMEOUT_S,
) -> RayConnection:
    """Reuse the initialised Ray; else join ``address`` ("auto", "ray://host:10001", "host:6379");
    else start a private local Ray (the embedded default) with ``num_cpus``/``num_gpus``."""
    import ray

    if ray.is_initialized():
        ctx = ray.get_runtime_context()
        if address not in (None, "auto", ctx.gcs_address):
            raise ClusterError(
                f"this process is connected to Ray at {ctx.gcs_address} already; it cannot also join {address!r}",
                fix="run in a fresh process, or omit --address to use the connected Ray",
            )
        return RayConnection(
            address=ctx.gcs_address, started=False, resources=ray.cluster_resources(), joined=False
        )
    kwargs: dict[str, Any] = {
        "log_to_driver": log_to_driver,
        "include_dashboard": False,
        "configure_logging": False,
    }
    if address is None:
        kwargs.update(address="local", num_cpus=num_cpus, num_gpus=num_gpus)
    else:
        if num_cpus is not None or num_gpus is not None:
            raise ClusterError(
                f"num_cpus/num_gpus describe a new local Ray; they cannot apply to address={address!r}",
                fix="drop --num-cpus/--num-gpus when joining a cluster",
            )
        kwargs.update(address=_reachable_address(address, timeout_s=probe_timeout_s))
        _check_token(address)
    _init(ray, kwargs, address)
    ctx = ray.get_runtime_context()
    return RayConnection(
        address=ctx.gcs_address, started=True, resources=ray.cluster_resources(), joined=address is not None
    )


def _init(ray: Any, kwargs: dict[str, Any], address: str | None) -> None:
    from ray.exceptions import AuthenticationError

    try:
        ray.init(**kwargs)
    except AuthenticationError as exc:
        raise ClusterError(
            f"Ray at {address!r} refused this driver: token authentication failed ({exc.message})",
            fix=TOKEN_FIX,
        ) from exc
    except (ConnectionError, RuntimeError, ValueError) as exc:
        if address is None:
            raise ClusterError(
                f"cannot start a local Ray: {exc}", fix="see the Ray log above; free memory or disk in /tmp"
            ) from exc
        raise ClusterError(
            f"Ray at {address!r} answers on its port but refused this driver: {exc}",
            fix="if the cluster uses token authentication, set RAY_AUTH_MODE=token and "
            + TOKEN_FIX
            + "; else check that the driver's Ray version matches the cluster's",
        ) from exc


def _reachable_address(address: str, *, timeout_s: float) -> str:
    """``address`` as ray.init takes it, after its GCS (or client) port answered within ``timeout_s``.

    "auto" means the cluster the last ``ray start`` on this machine recorded; it is resolved
    here (not by ray.init) so that a recorded but dead cluster fails fast like any address.
    """
    target = address
    if address == "auto":
        from ray._private.utils import read_ray_address

        target = read_ray_address() or ""
        if not target:
            raise ClusterError(
                "--address auto found no cluster started with `ray start` on this machine",
                fix="start one with `ray start --head`, pass its host:port, or omit --address for a local Ray",
            )
    hostport = target.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ClusterError(
            f"Ray address {address!r} is not host:port, ray://host:port or auto",
            fix="pass --address HEAD_IP:6379 (the address `ray start --head` printed)",
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ClusterError(
            f"no Ray cluster answers at {hostport} (from --address {address!r}): "
            f"{exc.strerror or exc} (waited at most {timeout_s:g} s)",
            fix="check the head is up (`ray status --address HOST:PORT` on it) and the port is open, "
            "or omit --address to run on a local Ray",
        ) from exc
    return target


def _check_token(address: str) -> None:
    """With ``RAY_AUTH_MODE=token`` a join needs a token; say where it goes instead of Ray's retry loop."""
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
        return
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    candidate = Path(path).expanduser() if path else Path.home() / ".ray" / "auth_token"
    if candidate.is_file() and candidate.read_text(errors="replace").strip():
        return
    raise ClusterError(
        f"RAY_AUTH_MODE=token but no token to join {address!r}: RAY_AUTH_TOKEN is unset and "
        f"{candidate} is missing or empty",
        fix=TOKEN_FIX,
    )
