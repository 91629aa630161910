"""A local multi-node Ray cluster for tests: several raylets on one machine.

``ray.cluster_utils.Cluster`` starts a head and worker "nodes" as separate
processes, so placement across nodes, node death and ``--address`` joins can be
exercised without a real cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def simulated_cluster(*, nodes: int = 2, cpus_per_node: int = 1, gpus_per_node: int = 0) -> Iterator[Any]:
    """Yield a started ``ray.cluster_utils.Cluster`` with ``nodes`` nodes; shut it down afterwards.

    Connect to it with ``medzoo.cluster.connect.connect(address=cluster.address)``.
    """
    from ray.cluster_utils import Cluster

    from medzoo.errors import ClusterError

    if nodes < 1 or cpus_per_node < 1:
        raise ClusterError(
            f"nodes >= 1 and cpus_per_node >= 1 must hold, got nodes={nodes}, cpus_per_node={cpus_per_node}"
        )
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": cpus_per_node, "num_gpus": gpus_per_node, "include_dashboard": False},
    )
    try:
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=cpus_per_node, num_gpus=gpus_per_node)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()
