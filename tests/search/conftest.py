"""One Ray per test module (start-up costs seconds; a module's Ray tests share it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A local Ray with 4 logical CPUs (the data-parallel test needs 1 driver + 2 workers); yields its address."""
    from medzoo.cluster.connect import connect

    conn = connect(num_cpus=4)
    yield conn.address
    conn.close()
