"""Connecting to Ray: join a (simulated multi-node) cluster, reuse an initialised Ray, own only what we start."""

from __future__ import annotations

import pytest

from medzoo.cluster.connect import connect
from medzoo.cluster.simulate import simulated_cluster
from medzoo.errors import ClusterError

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_join_a_two_node_cluster_reuse_it_and_disconnect_only_what_we_started() -> None:
    import ray

    assert not ray.is_initialized()
    with simulated_cluster(nodes=2, cpus_per_node=1) as cluster:
        with pytest.raises(ClusterError, match="num_cpus/num_gpus describe a new local Ray"):
            connect(address=cluster.address, num_cpus=2)
        first = connect(address=cluster.address)
        assert first.started and first.resources["CPU"] == 2
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        second = connect()  # an initialised Ray is reused
        assert not second.started and second.address == first.address
        with pytest.raises(ClusterError, match="cannot also join 'elsewhere:6379'"):
            connect(address="elsewhere:6379")
        second.close()
        assert ray.is_initialized()  # closing a reused connection leaves Ray alone
        first.close()
        assert not ray.is_initialized()
