"""Connect to Ray once: reuse an initialised Ray, join ``--address``, or start a local one.

The caller resolves the connection once and passes the :class:`RayConnection`
down; ``close()`` shuts Ray down only if this connection started it, so a
sweep never tears down a Ray that a quickstart or a user started before it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from medzoo.errors import ClusterError


@dataclass
class RayConnection:
    address: str  # the GCS address of the cluster
    started: bool  # True when this connection started Ray (and so owns its shutdown)
    resources: dict[str, float]

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
) -> RayConnection:
    """Reuse the initialised Ray; else join ``address`` ("auto", "ray://host:10001", "host:6379");
    else start a local Ray (the embedded default) with ``num_cpus``/``num_gpus``."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        ctx = ray.get_runtime_context()
        if address not in (None, "auto", ctx.gcs_address):
            raise ClusterError(
                f"this process is connected to Ray at {ctx.gcs_address} already; it cannot also join {address!r}",
                fix="run in a fresh process, or omit --address to use the connected Ray",
            )
        return RayConnection(address=ctx.gcs_address, started=False, resources=ray.cluster_resources())
    kwargs: dict[str, Any] = {
        "log_to_driver": log_to_driver,
        "include_dashboard": False,
        "configure_logging": False,
    }
    if address is None:
        kwargs.update(num_cpus=num_cpus, num_gpus=num_gpus)
    elif num_cpus is not None or num_gpus is not None:
        raise ClusterError(
            f"num_cpus/num_gpus describe a new local Ray; they cannot apply to address={address!r}",
            fix="drop --num-cpus/--num-gpus when joining a cluster",
        )
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(
            f"cannot reach Ray at address={address!r}: {exc}",
            fix="start it with `ray start --head` (or `medzoo cluster up`) or omit --address for a local Ray",
        ) from exc
    ctx = ray.get_runtime_context()
    return RayConnection(address=ctx.gcs_address, started=True, resources=ray.cluster_resources())
