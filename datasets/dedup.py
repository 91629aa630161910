"""``dedup_against``: drop evaluation images that are (near-)copies of training images.

The 7023-image Kaggle brain set contains figshare slices re-released as JPEGs;
evaluating a figshare-trained model on them is contamination. Exact copies are
found by sha256 of the prepared PNG, re-encoded copies by a DCT perceptual hash
within ``max_hamming`` bits. The evaluation manifest is rewritten atomically
without them (their files stay on disk) and dataset.json records the counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medzoo.datasets.imaging import hamming_matrix, perceptual_hash, read_image
from medzoo.errors import ConfigError
from medzoo.formats.prepared import read_info, read_manifest, replace_fields, write_info
from medzoo.storage import location

#: hash bits (of 256) within which two prepared images count as the same picture
DEFAULT_MAX_HAMMING = 24


def dedup_against(
    prepared_eval: str | Path,
    prepared_train: str | Path,
    *,
    max_hamming: int = DEFAULT_MAX_HAMMING,
    splits: tuple[str, ...] = ("train", "val", "test"),
) -> dict[str, Any]:
    """Remove from ``prepared_eval`` every row whose image occurs in ``prepared_train``; return the report.

    ``splits`` are the training set's splits to compare against (all by default:
    a model selected on val and tested on test has seen them all in some way).
    """
    from medzoo.datasets.card import render_card
    from medzoo.datasets.prepare import counts_per_split

    if not 0 <= max_hamming <= 128:
        raise ConfigError(f"0 <= max_hamming <= 128 must hold, got max_hamming={max_hamming}")
    prepared_eval, prepared_train = Path(prepared_eval), Path(prepared_train)
    info = read_info(prepared_eval)
    ev = read_manifest(prepared_eval)
    tr = read_manifest(prepared_train)
    tr = tr[tr["split"].isin(splits)]
    exact = ev["sha256"].isin(set(tr["sha256"])).to_numpy()
    near = np.zeros(len(ev), bool)
    rest = np.where(~exact)[0]
    if len(rest) and len(tr):
        h_ev = np.stack(
            [perceptual_hash(read_image(prepared_eval / ev["path"].iloc[i], grey=True)) for i in rest]
        )
        h_tr = np.stack([perceptual_hash(read_image(prepared_train / p, grey=True)) for p in tr["path"]])
        best = np.full(len(rest), 1 << 30)
        for start in range(0, len(h_tr), 4096):
            best = np.minimum(best, hamming_matrix(h_ev, h_tr[start : start + 4096]).min(axis=1))
        near[rest] = best <= max_hamming
    drop = exact | near
    report = {
        "against": read_info(prepared_train).id,
        "against_path": str(prepared_train.resolve()),
        "exact": int(exact.sum()),
        "near": int(near.sum()),
        "removed": int(drop.sum()),
        "kept": int((~drop).sum()),
        "max_hamming": max_hamming,
        "hash": "dct-phash-256",
        "removed_paths": ev["path"][drop].tolist(),
    }
    kept = ev[~drop].reset_index(drop=True)
    import io

    buf = io.BytesIO()
    kept.to_parquet(buf, index=False)
    location(prepared_eval / "manifest.parquet").write_bytes(buf.getvalue())
    record = replace_fields(
        info,
        dedup={k: v for k, v in report.items() if k != "removed_paths"},
        counts=counts_per_split(info.classes, info.task, kept),
    )
    write_info(record, prepared_eval)
    location(prepared_eval / "README.md").write_text(render_card(record.to_dict()))
    return report
