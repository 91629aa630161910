"""Paper-reported numbers: data from the studies' publications, always labelled and carrying their protocol."""

from __future__ import annotations

import pytest

from medzoo.zoo.entries.reported import paper_reported


def test_brain_effnet_b2_row_matches_the_paper():
    rows = paper_reported("figshare-brain", architecture="efficientnet_b2")
    assert len(rows) == 1
    row = rows[0]
    assert row["metrics"]["accuracy"] == pytest.approx(0.9935)
    assert row["params_m"] == pytest.approx(7.77) and row["gflops"] == pytest.approx(1.64)
    assert row["label"] == "paper-reported"
    assert "image-level" in row["protocol"] and "leaks patients" in row["protocol"]


@pytest.mark.parametrize(
    "dataset_id",
    ["figshare-brain", "all-leukemia", "cbis-ddsm-mass", "brats19-grade", "chestxray14", "kaggle-brain-mri"],
)
def test_every_dataset_has_rows_with_protocol_and_fractions(dataset_id):
    rows = paper_reported(dataset_id)
    assert rows, dataset_id
    for r in rows:
        assert r["protocol"] and r["recipe"] and r["architecture"]
        assert all(0.0 <= v <= 1.0 for v in r["metrics"].values()), r


def test_unknown_dataset_gives_no_rows_and_rows_are_copies():
    assert paper_reported("no-such-dataset") == []
    paper_reported("figshare-brain")[0]["metrics"]["accuracy"] = 0.0
    assert paper_reported("figshare-brain")[0]["metrics"]["accuracy"] > 0.9


def test_every_architecture_is_a_registered_family():
    """Cards match paper rows to entries by family name, so a misspelt family would silently drop a row."""
    from medzoo.zoo.architectures.families import list_families
    from medzoo.zoo.entries.reported import _table

    assert {r["architecture"] for r in _table()} <= set(list_families())
