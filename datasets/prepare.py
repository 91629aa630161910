"""``prepare``: raw download -> the prepared layout of DESIGN.md, written atomically.

Steps: check the raw folder, run the adapter's preprocessing on every item
(progress bar), deal splits, audit leakage, then write manifest.parquet,
dataset.json and the card. Everything goes to a temporary sibling of OUT that is
renamed into place only when complete, so a failure (a leak, Ctrl-C) leaves
nothing behind. An item that cannot be read is skipped and listed, by path, in
dataset.json's ``skipped`` and in the card.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medzoo.datasets.audit import audit, require_passed
from medzoo.datasets.base import ADAPTERS, DatasetAdapter, DatasetSpec, RawRecord
from medzoo.datasets.check import CheckReport, check
from medzoo.datasets.imaging import encode_png, sha256_bytes
from medzoo.datasets.phantom import read_marker
from medzoo.datasets.splits import assign_splits
from medzoo.errors import ConfigError, DatasetError, DatasetFormatError
from medzoo.formats import prepared as formats
from medzoo.formats.prepared import MANIFEST_COLUMNS, DatasetInfo
from medzoo.paths import remove_dead_partials

if TYPE_CHECKING:
    import pandas as pd
from medzoo.storage import current_umask, location

IMAGE_LEVEL_WARNING = (
    "WARNING: IMAGE-LEVEL SPLIT. Images of one patient can sit in train and test, so test metrics "
    "overestimate performance on new patients. Use it only to reproduce a study's protocol."
)


def resolve_params(
    adapter: DatasetAdapter, params: dict[str, Any] | None, image_size: int | None
) -> dict[str, Any]:
    """adapter.default_params overridden by ``params``; unknown keys are rejected, not ignored."""
    merged: dict[str, Any] = {"image_size": adapter.spec.image_size, **adapter.default_params}
    unknown = sorted(set(params or {}) - set(merged))
    if unknown:
        raise ConfigError(
            f"unknown preprocessing parameter(s) {unknown} for {adapter.spec.id}; known: {sorted(merged)}"
        )
    merged.update(params or {})
    if image_size is not None:
        merged["image_size"] = image_size
    size = merged["image_size"]
    if not isinstance(size, int) or isinstance(size, bool) or not 16 <= size <= 4096:
        raise ConfigError(f"16 <= image_size <= 4096 must hold (an int), got image_size={size!r}")
    return merged


def validate_split(spec: DatasetSpec, split: str | None) -> str:
    """The requested protocol (or the dataset's default), checked against what the dataset allows."""
    protocol = split or spec.default_split
    if protocol not in ("patient", "image", "official"):
        raise ConfigError(f"--split must be patient, image or official, got {protocol!r}")
    if protocol not in spec.split_protocols:
        why = " (it has no patient ids)" if protocol == "patient" and not spec.has_patient_ids else ""
        raise ConfigError(
            f"{spec.id} supports the split protocols {list(spec.split_protocols)}, got {protocol!r}{why}",
            fix=f"--split {spec.default_split}",
        )
    return protocol


def resolve_protocol(spec: DatasetSpec, split: str | None, records: list[RawRecord]) -> tuple[str, list[str]]:
    """The split protocol to use and the notes explaining a fallback."""
    notes: list[str] = []
    protocol = validate_split(spec, split)
    if protocol == "official":
        has = all(r.official_split is not None or r.official_fold is not None for r in records)
        fold_values = {r.official_fold for r in records if r.official_fold is not None}
        if has and fold_values and len(fold_values) < 3:
            has = False  # too few official folds present for train/val/test (a tiny subset)
        if not has:
            if split == "official":
                raise ConfigError(
                    f"the official {spec.id} split needs its split files (e.g. figshare cvind.mat) covering every "
                    f"item and >= 3 official folds; this raw download lacks them",
                    fix="use --split patient",
                )
            notes.append(
                "official split unavailable (split files missing, or fewer than 3 official folds "
                "present); used a patient-level split instead"
            )
            protocol = "patient"
    return protocol, notes


def prepare(
    dataset_id: str,
    raw: str | Path,
    out: str | Path,
    *,
    split: str | None = None,
    folds: int | None = None,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    image_size: int | None = None,
    progress: bool = True,
) -> Path:
    """Prepare ``raw`` (a native download or phantom of ``dataset_id``) into ``out``; returns ``out``.

    ``out`` must not exist; it appears only when complete, and never replaces a
    folder that another prepare (or anyone) put there meanwhile.
    """
    adapter = ADAPTERS.get(dataset_id)
    raw = Path(raw).expanduser().resolve()
    out = Path(out).expanduser().resolve()
    _require_new(out)
    merged = resolve_params(adapter, params, image_size)
    validate_split(adapter.spec, split)
    if folds is not None and (isinstance(folds, bool) or not isinstance(folds, int) or folds < 2):
        raise ConfigError(f"folds >= 2 must hold, got folds={folds!r}", fix="drop --folds or pass --folds 5")
    report = check(dataset_id, raw)
    if not report.usable:
        fatal = [str(p) for p in report.problems if p.fatal] or ["no usable items"]
        raise DatasetError(
            f"{raw} must be a usable {dataset_id} download; found {len(fatal)} fatal problem(s): "
            + "; ".join(fatal[:3])
            + (" ..." if len(fatal) > 3 else ""),
            fix=f"medzoo datasets check {dataset_id} {raw}",
        )
    protocol, notes = resolve_protocol(adapter.spec, split, report.records)
    run = _Run(adapter, report, merged, protocol=protocol, seed=seed, folds=folds, notes=notes)
    with staged_dir(out) as tmp:
        _write_prepared(run, tmp, out=out, progress=progress)
    return out


@dataclass(frozen=True)
class _Run:
    """What one prepare decided before writing anything."""

    adapter: DatasetAdapter
    report: CheckReport
    params: dict[str, Any]
    protocol: str
    seed: int
    folds: int | None
    notes: list[str]


def _write_prepared(run: _Run, tmp: Path, *, out: Path, progress: bool) -> None:
    """Preprocess, split, audit and write the whole prepared set into the temporary folder ``tmp``."""
    import pandas as pd

    from medzoo.datasets.card import render_card

    spec, raw, started = run.adapter.spec, run.report.raw, _dt.datetime.now(_dt.timezone.utc)
    rows, skipped = _write_items(run.adapter, raw, tmp, run.report.records, run.params, progress=progress)
    if not rows:
        raise DatasetError(
            f"no item of {raw} could be preprocessed; first problems: {skipped[:3]}",
            fix=f"medzoo datasets check {spec.id} {raw}",
        )
    table = pd.DataFrame(rows)
    dup = table["path"][table["path"].duplicated()]
    if not dup.empty:
        raise DatasetError(
            f"prepared image names must be unique; {dup.iloc[0]} occurs twice in {raw}",
            fix="remove the duplicate copy from the raw download",
        )
    table = assign_splits(
        table, protocol=run.protocol, seed=run.seed, folds=run.folds, eval_only=spec.eval_only
    )
    result = audit(table, protocol=run.protocol)
    require_passed(result, where=f"{spec.id} ({run.protocol} split, seed {run.seed})")
    extras = [c for c in table.columns if c not in MANIFEST_COLUMNS and c not in _INTERNAL]
    manifest = table[list(MANIFEST_COLUMNS) + extras].reset_index(drop=True)
    manifest.to_parquet(tmp / "manifest.parquet", index=False)
    info = _info(
        spec,
        manifest,
        run.params,
        run.adapter,
        protocol=run.protocol,
        seed=run.seed,
        folds=run.folds,
        audit_result=result,
        notes=run.notes,
        skipped=skipped,
        report=run.report,
        marker=read_marker(raw),
        started=started,
    )
    record = DatasetInfo.from_dict(info, where=f"{out}/dataset.json (being written)")
    formats.write_info(record, location(tmp), replace=False)
    location(tmp / "README.md").write_text(render_card(record.to_dict()), replace=False)


def _require_new(out: Path) -> None:
    if os.path.lexists(out):
        raise ConfigError(
            f"the output folder must not exist yet, found {out}", fix=f"choose another OUT or remove {out}"
        )
    if os.path.lexists(out.parent) and not out.parent.is_dir():
        raise ConfigError(
            f"the output folder's parent must be a folder, found a file at {out.parent}",
            fix="choose an OUT inside a folder",
        )


@contextlib.contextmanager
def staged_dir(out: Path) -> Iterator[Path]:
    """A temporary sibling of ``out`` that becomes ``out`` when the block completes.

    The final step is a rename that refuses to replace anything that appeared at
    ``out`` meanwhile (a concurrent prepare into the same OUT loses with a clear
    error instead of silently replacing the winner's set). Folders and files follow
    the umask, so a team can share prepared sets. Temporary siblings left by killed
    processes are removed first.
    """
    remove_dead_partials(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-{os.getpid()}-", dir=out.parent))
    except OSError as exc:
        raise ConfigError(
            f"cannot create the output folder {out}: {exc.strerror or exc}", fix="choose a writable OUT"
        ) from None
    try:
        yield tmp
        _publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _publish(tmp: Path, out: Path) -> None:
    mode = 0o777 & ~current_umask()
    for folder, _dirs, _files in os.walk(tmp):
        os.chmod(folder, mode)  # mkdtemp makes 0700; the files themselves were written under the umask
    try:
        if os.path.lexists(out):
            raise FileExistsError(out)
        os.rename(tmp, out)  # fails onto a non-empty folder or a file: nothing is replaced
    except OSError:
        raise DatasetError(
            f"{out} appeared while this run was writing it (another prepare or synth into the same OUT?); "
            "it was not replaced and this run's output was discarded",
            fix=f"use the folder at {out}, or remove it and run again",
        ) from None


_INTERNAL = ("official_split", "official_fold", "image_group")


def _write_items(
    adapter: DatasetAdapter,
    raw: Path,
    tmp: Path,
    records: list[RawRecord],
    params: dict[str, Any],
    *,
    progress: bool,
) -> tuple[list[dict], list[dict]]:
    (tmp / "images").mkdir()
    rows: list[dict] = []
    skipped: list[dict] = []
    for rec in _progress(records, f"preparing {adapter.spec.id}", enabled=progress):
        try:
            items = adapter.load(raw, rec, params)
        except DatasetFormatError as exc:
            skipped.append({"source": rec.source, "problem": exc.message})
            continue
        for item in items:
            cols = dict(item.columns)
            group = cols.pop("image_group", None)
            data = encode_png(item.image)
            rel = f"images/{item.key}.png"
            (tmp / rel).write_bytes(data)
            mask_rel = ""
            if item.mask is not None:
                mask_rel = f"masks/{item.key}.png"
                (tmp / "masks").mkdir(exist_ok=True)
                (tmp / mask_rel).write_bytes(encode_png(item.mask))
            rows.append(
                {
                    "path": rel,
                    "label": int(rec.label),
                    "labels": list(rec.labels),
                    "patient_id": str(rec.patient_id),
                    "source": rec.source,
                    "mask_path": mask_rel,
                    "sha256": sha256_bytes(data),
                    "official_split": rec.official_split,
                    "official_fold": rec.official_fold,
                    "image_group": group or item.key,
                    **cols,
                }
            )
    return rows, skipped


def _progress(items: list, description: str, *, enabled: bool) -> Iterable:
    if not enabled:
        yield from items
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=len(items))
        for item in items:
            yield item
            bar.advance(task)


def counts_per_split(
    classes: list[str] | tuple[str, ...], task: str, manifest: pd.DataFrame
) -> dict[str, dict[str, int]]:
    """{split: {class: n, ..., "total": n}}; multi-label rows count once per label they carry."""
    counts: dict[str, dict[str, int]] = {}
    for split in ("train", "val", "test"):
        part = manifest[manifest["split"] == split]
        if task == "multilabel":
            names = [n for labels in part["labels"] for n in labels]
            c = {name: names.count(name) for name in classes}
        else:
            c = {name: int((part["label"] == i).sum()) for i, name in enumerate(classes)}
        c["total"] = len(part)
        counts[split] = c
    return counts


def _info(
    spec: DatasetSpec,
    manifest: pd.DataFrame,
    params: dict[str, Any],
    adapter: DatasetAdapter,
    *,
    protocol: str,
    seed: int,
    folds: int | None,
    audit_result: dict,
    notes: list[str],
    skipped: list[dict],
    report: CheckReport,
    marker: dict | None,
    started: _dt.datetime,
) -> dict[str, Any]:
    warnings: list[str] = []
    if protocol == "image" and not spec.eval_only:
        warnings.append(IMAGE_LEVEL_WARNING)
    if spec.eval_only:
        notes = [*notes, "evaluation only: every row is in the test split"]
    fold_values = sorted(int(f) for f in manifest["fold"].unique() if f >= 0)
    return {
        "id": spec.id,
        "title": spec.title,
        "task": spec.task,
        "classes": list(spec.classes),
        "modality": spec.modality,
        "preprocessing": {"steps": list(getattr(adapter, "steps", ())), "params": params},
        "split_protocol": protocol,
        "seed": seed,
        "folds": len(fold_values) if fold_values else None,
        "counts": counts_per_split(spec.classes, spec.task, manifest),
        "leakage_audit": audit_result,
        "warnings": warnings,
        "notes": [*spec.notes, *notes],
        "eval_only": spec.eval_only,
        "data_kind": "phantom" if marker else "real",
        "phantom": marker,
        "layout": report.layout,
        "raw": str(report.raw),
        "images": len(manifest),
        "patients": int(manifest["patient_id"].nunique()),
        "image_size": params["image_size"],
        "channels": spec.channels,
        "has_masks": bool((manifest["mask_path"] != "").any()),
        "sequences": list(spec.sequences),
        "primary_metric": spec.primary_metric,
        "secondary_metrics": list(spec.secondary_metrics),
        "citation": spec.citation,
        "licence": spec.licence,
        "skipped": skipped,
        "excluded": report.excluded,
        "raw_problems": [str(p) for p in report.problems],
        "created": started.isoformat(timespec="seconds"),
    }


def read_info(prepared: str | Path) -> dict[str, Any]:
    """dataset.json of a prepared folder as a dict, validated by :class:`DatasetInfo` first.

    The dict view keeps the callers that index ``info["classes"]`` working; new code
    reads the record itself with :func:`medzoo.formats.prepared.read_info`.
    """
    return formats.read_info(prepared).to_dict()


def read_manifest(prepared: str | Path) -> pd.DataFrame:
    """manifest.parquet of a prepared folder, schema-checked (``labels`` as Python lists)."""
    return formats.read_manifest(prepared)
